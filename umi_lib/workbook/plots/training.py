"""Data and training figures: the converted data (notebook 01), loss curves and the GLPFT diagram (notebook 02)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import matplotlib.ticker
from matplotlib.figure import Figure

from umi_lib import prompts
from umi_lib.workbook.plots.files import _attach
from umi_lib.workbook.plots.style import (
    LINE_STYLES,
    RUN_STYLES,
    VALUE_FONT,
    WIDTHS,
    _empty,
    _legend,
    _new_figure,
    _style,
    _wrap,
    figure_width,
)

# ---------------------------------------------------------------- notebook 01


def dataset_figure(
    samples_per_role: Mapping[str, int],
    labels: Mapping[str, int],
    lengths: Mapping[str, Sequence[int]],
    budget: int,
    *,
    width: str | float | None = None,
) -> Figure:
    """Three panels: samples per role, planner label distribution, prompt-length histogram per role."""
    w = figure_width("two-column", width)
    narrow = w < 5
    rows: list[dict[str, Any]] = []
    with _style():
        fig = _new_figure(w, 5.4 if narrow else 2.4)
        axes = fig.subplots(3, 1) if narrow else fig.subplots(1, 3)
        for ax, panel, data, names in [
            (axes[0], "Samples per role", samples_per_role, list(samples_per_role)),
            (axes[1], "Planner labels", labels, [prompts.LABEL_NAMES.get(k, k) for k in labels]),
        ]:
            values = [float(v) for v in data.values()]
            styles = [RUN_STYLES[k % len(RUN_STYLES)] for k in range(len(values))]
            bars = ax.bar(names, values, color=[st["color"] for st in styles], edgecolor="black", linewidth=0.5)
            for bar, st in zip(bars, styles, strict=True):
                bar.set_hatch(st["hatch"])
            ax.bar_label(bars, [str(int(v)) for v in values], padding=1.5, fontsize=VALUE_FONT)
            for x, v in enumerate(values):
                if v == 0:
                    ax.plot([x - 0.28, x + 0.28], [0, 0], color="black", linewidth=2.0, solid_capstyle="butt")
            ax.set_ylim(0, max(values, default=1) * 1.15 or 1)
            ax.set_title(panel)
            ax.set_ylabel("samples")
            ax.grid(axis="x", visible=False)
            ax.tick_params(axis="x", labelsize=6)
            rows += [{"panel": panel, "series": n, "bin_start": None, "bin_end": None, "value": int(v)}
                     for n, v in zip(names, values, strict=True)]  # fmt: skip
        top = max((max(v) for v in lengths.values() if v), default=1)
        step = max(16, (top + 63) // 24)
        bins = list(range(0, top + 64, step))
        for k, (role, vals) in enumerate(lengths.items()):
            style = LINE_STYLES[k % len(LINE_STYLES)]
            counts, _, _ = axes[2].hist(vals, bins=bins, histtype="step", color=style["color"], linewidth=1.0,
                                        linestyle=style["linestyle"], label=role)  # fmt: skip
            rows += [{"panel": "Prompt length", "series": role, "bin_start": lo, "bin_end": lo + step,
                      "value": int(c)} for lo, c in zip(bins, counts, strict=False)]  # fmt: skip
        rows.append({"panel": "Prompt length", "series": "token budget", "bin_start": budget, "value": None})
        axes[2].axvline(budget, color="black", linewidth=0.8, linestyle=":")
        axes[2].annotate("token budget", (budget, 0.98), xycoords=("data", "axes fraction"), fontsize=6, ha="right",
                         va="top", rotation=90, xytext=(-2, 0), textcoords="offset points",
                         bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})  # fmt: skip
        axes[2].set_title("Prompt length")
        axes[2].set_xlabel("tokens")
        axes[2].set_ylabel("samples")
        axes[2].grid(axis="x", visible=False)
        axes[2].yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        _legend(fig, [axes[2]], w)  # below the panels, never over the histogram
    return _attach(fig, rows)


# ---------------------------------------------------------------- notebook 02

LOSS_STYLES = {
    "train": {"linestyle": "-", "marker": None, "color": "black"},
    "eval": {"linestyle": "--", "marker": "o", "color": "#6b6b6b"},
}


def loss_figure(logs: Mapping[str, Sequence], title: str | None = None, *, width: str | float | None = None) -> Figure:
    """Training (line) and held-out (markers) loss per GLPFT stage, one panel per stage; ``title`` should name
    the system and the profile."""
    stages = [s for s, recs in logs.items() if recs]
    w = figure_width("two-column", width)
    ncols = max(1, min(len(stages), 4 if w >= 5 else 2))
    nrows = max(1, math.ceil(len(stages) / ncols))
    rows: list[dict[str, Any]] = []
    with _style():
        fig = _new_figure(w, 0.6 + 1.8 * nrows)
        grid = fig.subplots(nrows, ncols, squeeze=False)
        axes = [ax for row in grid for ax in row]
        for ax, stage in zip(axes, stages, strict=False):
            for kind, style in LOSS_STYLES.items():
                recs = [r for r in logs[stage] if r.kind == kind]
                if recs:
                    x, y = [r.step for r in recs], [r.loss for r in recs]
                    name = "training loss" if kind == "train" else "held-out loss"
                    ax.plot(x, y, linewidth=1.0, markersize=3, label=name, **style)
                    rows += [{"stage": stage, "kind": kind, "step": r.step, "loss": r.loss} for r in recs]
            ax.set_title(stage)
            ax.set_xlabel("optimizer step")
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        for ax in axes[len(stages) :] if stages else []:
            ax.remove()
        for row in grid:
            row[0].set_ylabel("loss")
        if not stages:
            _empty(axes[0], "no training logs yet")
        _legend(fig, axes[: len(stages)], w)
        if title:
            fig.suptitle(_wrap(title, w, 9))
    return _attach(fig, rows)


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


def glpft_figure() -> Figure:
    """Global-to-local progressive fine-tuning as boxes and arrows (stage 1 left, stage 2 right).

    A schematic: always two-column wide (its boxes do not fit one column), and no CSV (it plots no numbers).
    """
    with _style(**{"axes.grid": False}):
        fig = _new_figure(WIDTHS["two-column"], 2.6)
        ax = fig.subplots()
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
