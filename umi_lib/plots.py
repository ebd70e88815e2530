"""Paper-ready figures: one style, vector PDF + PNG, readable in grayscale, byte-identical on reruns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless by default; Jupyter's inline backend still displays returned figures
import matplotlib.pyplot as plt  # noqa: E402

from umi_lib import prompts  # noqa: E402
from umi_lib.paths import figures_dir  # noqa: E402

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
