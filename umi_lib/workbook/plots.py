"""Paper-ready figures: one style, vector PDF + PNG, readable in grayscale, byte-identical on reruns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker

from umi_lib import prompts
from umi_lib.names import TABLE_COLUMNS
from umi_lib.paths import figures_dir  # noqa: E402

matplotlib.use("Agg")  # headless by default; Jupyter's inline backend still displays returned figures

# Grayscale-safe: distinct lightness per series plus hatching.
COLORS = ["#1b1b1b", "#6b6b6b", "#a8a8a8", "#d9d9d9", "#4c72b0", "#dd8452"]

HATCHES = ["", "//", "..", "xx", "\\\\", "oo"]

STYLE = {
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "pdf.fonttype": 42,  # editable text in the PDF
    "ps.fonttype": 42,
    "svg.hashsalt": "umi-workbook",
    "figure.dpi": 100,
}


def save(fig: plt.Figure, name: str, out_dir: str | Path | None = None) -> list[Path]:
    """Save ``<name>.png`` (300 dpi) and ``<name>.pdf`` without timestamps, so reruns give the same bytes."""
    out = Path(out_dir) if out_dir else figures_dir()
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    fig.savefig(paths[0], dpi=300, metadata={"Software": None})
    fig.savefig(paths[1], metadata={"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None})
    return paths


def _bars(ax, labels: Sequence[str], values: Sequence[float], title: str, ylabel: str) -> None:
    bars = ax.bar(labels, values, color=COLORS[: len(values)], edgecolor="black", linewidth=0.5)
    for bar, hatch in zip(bars, HATCHES, strict=False):
        bar.set_hatch(hatch)
    ax.bar_label(bars, fontsize=6, padding=1)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(axis="x", visible=False)


def dataset_figure(
    samples_per_role: Mapping[str, int],
    labels: Mapping[str, int],
    lengths: Mapping[str, Sequence[int]],
    budget: int,
) -> plt.Figure:
    """Three panels: samples per role, planner label distribution, prompt-length histogram per role."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.4), layout="constrained")
        _bars(axes[0], list(samples_per_role), list(samples_per_role.values()), "Samples per role", "samples")
        short = [prompts.LABEL_NAMES.get(k, k) for k in labels]
        _bars(axes[1], short, list(labels.values()), "Planner labels", "samples")
        top = max((max(v) for v in lengths.values() if v), default=1)
        bins = list(range(0, top + 64, max(16, (top + 63) // 24)))
        for k, (role, vals) in enumerate(lengths.items()):
            axes[2].hist(
                vals,
                bins=bins,
                histtype="step",
                color=COLORS[k],
                linewidth=1.0,
                label=role,
                linestyle=["-", "--", ":", "-."][k % 4],
            )
        axes[2].axvline(budget, color="black", linewidth=0.8, linestyle=":")
        axes[2].annotate("budget", (budget, 0.95), xycoords=("data", "axes fraction"), fontsize=6, ha="right")
        axes[2].set_title("Prompt length")
        axes[2].set_xlabel("tokens")
        axes[2].set_ylabel("samples")
        axes[2].legend(frameon=False, loc="upper left", fontsize=6)
    return fig


METRIC_NAMES = {**TABLE_COLUMNS, "hallu_rate": TABLE_COLUMNS["hallu_rate"] + " (↓)"}  # lower is better

RUN_COLORS = ["#1b1b1b", "#4a4a4a", "#6b6b6b", "#8c8c8c", "#a8a8a8", "#c4c4c4", "#e0e0e0"]  # grayscale only

RUN_HATCHES = ["", "..", "xx", "oo", "++", "**", "--"]  # runs: gray levels and dotted/crossed hatches

PAPER_HATCHES = ["////", "\\\\\\\\", "||||", "----"]  # paper rows: white bars, line hatches


def _caption(fig: plt.Figure, text: str) -> None:
    """A small caption under the axes (supxlabel, so constrained layout makes room for it)."""
    fig.supxlabel(text, fontsize=6, x=0.0, ha="left")


def table1_figure(
    runs: Mapping[str, Mapping],
    paper_rows: Mapping[str, Mapping[str, float]] | None = None,
    title: str = "Static evaluation (out-of-domain)",
    citation: str = "",
) -> plt.Figure:
    """Grouped bars of the Table-1 columns (×100): our runs with 95% bootstrap error bars, then paper rows.

    ``runs`` maps a label to a ``umi score`` result; ``paper_rows`` maps a label to fractions keyed like it
    (:func:`umi_lib.evaluation.paper.table1`). Paper bars are white with hatching and say so in the legend and caption.
    """
    paper_rows = paper_rows or {}
    keys = list(METRIC_NAMES)
    series = [(name, r, False) for name, r in runs.items()] + [(f"paper: {n}", r, True) for n, r in paper_rows.items()]
    width = 0.8 / max(1, len(series))
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7.0, 2.6), layout="constrained")
        for k, (name, result, is_paper) in enumerate(series):
            xs = [i - 0.4 + width * (k + 0.5) for i in range(len(keys))]
            values = [100 * result[key] for key in keys]
            err = None
            if not is_paper and "ci95" in result:
                lows = [result["ci95"].get(key, [None, None])[0] for key in keys]
                highs = [result["ci95"].get(key, [None, None])[1] for key in keys]
                # max(0, .): an interval equal to the point estimate can differ from it in the last bit
                err = [
                    [max(0.0, v - 100 * lo) if lo is not None else 0 for v, lo in zip(values, lows, strict=True)],
                    [max(0.0, 100 * hi - v) if hi is not None else 0 for v, hi in zip(values, highs, strict=True)],
                ]
            if is_paper:
                style = {"color": "white", "hatch": PAPER_HATCHES[(k - len(runs)) % len(PAPER_HATCHES)]}
            else:
                style = {"color": RUN_COLORS[k % len(RUN_COLORS)], "hatch": RUN_HATCHES[k % len(RUN_HATCHES)]}
            ax.bar(xs, values, width, yerr=err, capsize=1.5, linewidth=0.5, edgecolor="black", label=name, **style,
                   error_kw={"elinewidth": 0.6, "capthick": 0.6})  # fmt: skip
        ax.set_xticks(range(len(keys)), [METRIC_NAMES[k] for k in keys])
        ax.set_ylabel("score (%)")
        ax.set_ylim(0, 105)
        ax.set_title(title)
        ax.grid(axis="x", visible=False)
        fig.legend(frameon=False, loc="outside right upper", fontsize=6)
        if paper_rows:
            _caption(fig, f"Hatched white bars: numbers reported in {citation or 'the paper'}, not rerun here. "
                     "Error bars: 95% bootstrap intervals over trajectories.")  # fmt: skip
    return fig


def confusion_figure(result: Mapping, title: str = "Planner decisions") -> plt.Figure:
    """Reference plan (rows) × predicted plan (columns): counts and row percentages, grayscale."""
    conf = result["confusion"]
    labels, matrix = conf["labels"], conf["matrix"]
    with plt.rc_context({**STYLE, "axes.grid": False}):
        fig, ax = plt.subplots(figsize=(2.8, 2.5), layout="constrained")
        shares = [[c / max(1, sum(row)) for c in row] for row in matrix]
        ax.imshow(shares, cmap="Greys", vmin=0, vmax=1)
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                color = "white" if shares[i][j] > 0.5 else "black"
                ax.text(j, i, f"{count}\n{100 * shares[i][j]:.1f}%", ha="center", va="center", fontsize=6, color=color)
        ax.set_xticks(range(len(labels)), labels)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("predicted plan")
        ax.set_ylabel("reference plan")
        ax.set_title(title)
    return fig


def by_step_figure(
    runs: Mapping[str, Mapping], keys: Sequence[str] = ("plan_em", "action_em", "f1"), min_steps: int = 10
) -> plt.Figure:
    """One panel per metric: value against the step's position in its trajectory, one line per run.

    Positions where the metric has fewer than ``min_steps`` steps are left out (their means are noise).
    """
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(keys), figsize=(7.0, 2.2), layout="constrained", sharey=True)
        for ax, key in zip(axes, keys, strict=True):
            for k, (name, result) in enumerate(runs.items()):
                steps = result["by_step"].items()
                points = [(int(s), v[key]) for s, v in steps if v["counts"][key] >= min_steps]
                points.sort()
                ax.plot([p[0] for p in points], [100 * p[1] for p in points], color=RUN_COLORS[k % len(RUN_COLORS)],
                        marker="os^dv<"[k % 6], markersize=3, linewidth=1.0, label=name,
                        linestyle=["-", "--", ":", "-."][k % 4])  # fmt: skip
            ax.set_title(METRIC_NAMES.get(key, key))
            ax.set_xlabel("step in trajectory")
        axes[0].set_ylabel("score (%)")
        axes[0].legend(frameon=False, fontsize=6, loc="lower left")
    return fig


def by_group_figure(runs: Mapping[str, Mapping], keys: Sequence[str] = ("plan_em", "action_em", "f1")) -> plt.Figure:
    """Bars per item group (e.g. G1/G2/G3), one panel per metric, one bar series per run."""
    groups = sorted({g for r in runs.values() for g in r.get("by_group", {})})
    width = 0.8 / max(1, len(runs))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(keys), figsize=(7.0, 2.2), layout="constrained", sharey=True)
        for ax, key in zip(axes, keys, strict=True):
            for k, (name, result) in enumerate(runs.items()):
                xs = [i - 0.4 + width * (k + 0.5) for i in range(len(groups))]
                vals = [100 * (result.get("by_group", {}).get(g, {}).get(key) or 0.0) for g in groups]
                style = {"color": RUN_COLORS[k % len(RUN_COLORS)], "hatch": RUN_HATCHES[k % len(RUN_HATCHES)]}
                ax.bar(xs, vals, width, edgecolor="black", linewidth=0.5, label=name, **style)
            ax.set_xticks(range(len(groups)), groups)
            ax.set_title(METRIC_NAMES.get(key, key))
            ax.grid(axis="x", visible=False)
        axes[0].set_ylabel("score (%)")
        axes[0].legend(frameon=False, fontsize=6, loc="lower left")
    return fig


LOSS_STYLES = {
    "train": {"linestyle": "-", "marker": None, "color": "black"},
    "eval": {"linestyle": "--", "marker": "o", "color": "#6b6b6b"},
}


def loss_figure(logs: Mapping[str, Sequence]) -> plt.Figure:
    """Training (line) and evaluation (markers) loss per GLPFT stage, one panel per stage."""
    stages = [s for s, recs in logs.items() if recs]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, max(1, len(stages)), figsize=(7.0, 2.2), layout="constrained", squeeze=False)
        for ax, stage in zip(axes[0], stages, strict=False):
            for kind, style in LOSS_STYLES.items():
                recs = [r for r in logs[stage] if r.kind == kind]
                if recs:
                    x, y = [r.step for r in recs], [r.loss for r in recs]
                    ax.plot(x, y, linewidth=1.0, markersize=3, label=kind, **style)
            ax.set_title(stage)
            ax.set_xlabel("optimizer step")
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            ax.legend(frameon=False, fontsize=6)
        axes[0][0].set_ylabel("loss")
        if not stages:
            axes[0][0].text(0.5, 0.5, "no training logs yet", ha="center", va="center", transform=axes[0][0].transAxes)
    return fig


def _box(ax, xy, text, shade="#d9d9d9", width=2.3, height=0.8):
    from matplotlib.patches import FancyBboxPatch

    x, y = xy
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height, boxstyle="round,pad=0.05",
                                facecolor=shade, edgecolor="black", linewidth=0.8))  # fmt: skip
    ax.text(x, y, text, ha="center", va="center", fontsize=7)


def _arrow(ax, start, end, label=""):
    ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "-|>", "color": "black", "linewidth": 0.8})
    if label:
        ax.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.12, label, ha="center", fontsize=6)


def glpft_figure() -> plt.Figure:
    """Global-to-local progressive fine-tuning as boxes and arrows (stage 1 left, stage 2 right)."""
    with plt.rc_context({**STYLE, "axes.grid": False}):
        fig, ax = plt.subplots(figsize=(7.0, 2.6), layout="constrained")
        ax.set_xlim(0, 12.7)
        ax.set_ylim(-0.2, 3.7)
        ax.axis("off")
        _box(ax, (1.3, 1.6), "base LLM\n(frozen, 4-bit on GPU)", "white")
        _box(ax, (4.6, 1.6), "adapter global\nbackbone data:\nthought, call, answer", "#a8a8a8", height=1.1)
        _arrow(ax, (2.5, 1.6), (3.4, 1.6), "stage 1")
        roles = [
            ("planner", "planner data:\nthought + Next: ...", 2.8),
            ("caller", "caller data:\nAction + Input", 1.6),
            ("summarizer", "summarizer data:\nfinal answer", 0.4),
        ]
        for name, data, y in roles:
            _box(ax, (8.1, y), f"adapter {name}\n= copy of global", "#d9d9d9", width=2.3)
            _arrow(ax, (5.8, 1.6), (6.9, y))
            _box(ax, (11.5, y), data, "white", width=1.9)
            _arrow(ax, (10.5, y), (9.3, y), "stage 2")
        ax.text(4.6, 3.55, "GLPFT stage 1: learn the whole agent task", ha="center", fontsize=7, style="italic")
        ax.text(9.8, 3.55, "stage 2: specialise each copy on its role", ha="center", fontsize=7, style="italic")
    return fig


def grouped_bars(values: Mapping[str, Sequence[float]], groups: Sequence[str], title: str, ylabel: str) -> plt.Figure:
    """One bar per series in each group; series named ``paper: ...`` are white and line-hatched (not rerun)."""
    width = 0.8 / max(1, len(values))
    ours = [n for n in values if not n.startswith("paper: ")]
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7.0, 2.6), layout="constrained")
        for k, (name, vals) in enumerate(values.items()):
            xs = [i - 0.4 + width * (k + 0.5) for i in range(len(groups))]
            if name in ours:
                style = {"color": RUN_COLORS[k % len(RUN_COLORS)], "hatch": RUN_HATCHES[k % len(RUN_HATCHES)]}
            else:
                style = {"color": "white", "hatch": PAPER_HATCHES[(k - len(ours)) % len(PAPER_HATCHES)]}
            ax.bar(xs, list(vals), width, linewidth=0.5, edgecolor="black", label=name, **style)
        ax.set_xticks(range(len(groups)), list(groups))
        ax.set_ylabel(ylabel)
        ax.set_ylim(0, 105)
        ax.set_title(title)
        ax.grid(axis="x", visible=False)
        fig.legend(frameon=False, loc="outside right upper", fontsize=6)
    return fig
