"""The figures' style and drawing helpers: display in kernels, widths, gray series styles, bars with labels."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.ticker
from matplotlib.figure import Figure, SubFigure

# ---------------------------------------------------------------- display in notebooks


def _kernel_shell() -> Any:
    """The IPython shell when running inside a kernel (Jupyter, Colab, papermill), else None."""
    ipython = sys.modules.get("IPython")  # never import IPython in a plain script
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell if shell is not None and getattr(shell, "kernel", None) is not None else None


def describe(fig: Figure) -> str:
    """A figure in words: its title and the files it was saved as (the text that viewers without images show)."""
    saved = getattr(fig, "umi_saved", None)
    title = fig.get_suptitle() or next((ax.get_title() for ax in fig.axes if ax.get_title()), "")
    title = title or (Path(saved[0]).stem if saved else "untitled")
    return f"Figure: {' '.join(title.split())}" + (f" (saved as {', '.join(saved)})" if saved else "")


def ensure_inline_display() -> bool:
    """Inside an IPython kernel, register a PNG formatter for figures unless one is registered already.

    The inline backend (ipykernel's default) registers one when pyplot first loads it; this covers kernels where
    pyplot is never used or ``MPLBACKEND`` is ``Agg``. Returns whether this runs in a kernel.
    """
    shell = _kernel_shell()
    if shell is None:
        return False
    display = shell.display_formatter
    # the text fallback beside the image: what the figure shows and where it was saved, not "<Figure size ...>"
    display.formatters["text/plain"].for_type(Figure, lambda fig, p, cycle: p.text(describe(fig)))
    images = [f for mime, f in display.formatters.items() if mime != "text/plain"]
    for formatter in [*images, display.ipython_display_formatter, display.mimebundle_formatter]:
        try:
            formatter.lookup_by_type(Figure)
            return True  # the user's or the inline backend's choice (png, retina, svg, widget) stays
        except KeyError:
            continue
    from IPython.core.pylabtools import print_figure

    display.formatters["image/png"].for_type(Figure, functools.partial(print_figure, fmt="png", base64=True))
    return True


ensure_inline_display()


# ---------------------------------------------------------------- style

WIDTHS = {"one-column": 3.3, "two-column": 6.9}
"""Printed widths (inches) of a one-column and a two-column figure in a typical two-column paper."""

WIDTH_ENV = "UMI_FIGURE_WIDTH"

DISPLAY_DPI = 150
"""Resolution of the notebook display (the saved PNG has 300 dpi)."""

SAVE_DPI = 300

VALUE_FONT = 5.5
"""Point size of value labels on bars."""

STYLE = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 7,
    "legend.fontsize": 6.5,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "figure.titlesize": 9,
    "figure.labelsize": 7,
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "hatch.linewidth": 0.5,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "legend.frameon": False,
    "legend.handlelength": 1.6,
    "legend.columnspacing": 1.2,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "pdf.fonttype": 42,  # TrueType fonts embedded in the PDF (editable text, accepted by publishers)
    "ps.fonttype": 42,
    "svg.hashsalt": "umi-workbook",
    "figure.dpi": DISPLAY_DPI,
}

_width: str | float | None = None


def set_style(width: str | float | None = None) -> None:
    """Choose the width of every figure built afterwards.

    ``"one-column"`` (3.3 in), ``"two-column"`` (6.9 in), a width in inches, or None: each figure's natural width
    (``UMI_FIGURE_WIDTH`` gives the default). Fonts keep their point size, so figures stay readable when printed
    at that width. A builder's own ``width=`` argument wins over this.
    """
    global _width
    _check_width(width)
    _width = width


def _check_width(width: str | float | None) -> None:
    if isinstance(width, str) and width not in WIDTHS:
        raise ValueError(f"unknown figure width {width!r}: use one of {', '.join(WIDTHS)}, inches, or None")


def figure_width(natural: str = "two-column", width: str | float | None = None) -> float:
    """Inches: the builder's ``width``, else :func:`set_style`'s, else ``UMI_FIGURE_WIDTH``, else ``natural``."""
    choice = width if width is not None else _width
    if choice is None:
        choice = os.environ.get(WIDTH_ENV) or natural
        with contextlib.suppress(ValueError):
            choice = float(choice)
    _check_width(choice)
    return WIDTHS[choice] if isinstance(choice, str) else float(choice)


@contextlib.contextmanager
def _style(**extra: Any) -> Iterator[None]:
    with matplotlib.rc_context({**STYLE, **extra}):
        yield


def _new_figure(width: float, height: float) -> Figure:
    """A figure outside pyplot (nothing auto-shows it), laid out with constrained layout."""
    ensure_inline_display()
    return Figure(figsize=(width, height), dpi=DISPLAY_DPI, layout="constrained")


def _wrap(text: str, width_in: float, size: float = 8) -> str:
    """Wrap a title or caption to the figure width (about 0.55 em per character)."""
    chars = max(20, int(width_in * 72 / (0.55 * size)))
    return "\n".join(textwrap.fill(line, chars) for line in text.split("\n"))


# ---------------------------------------------------------------- series styles (grayscale-safe)

RUN_STYLES = [
    {"color": "#262626", "hatch": ""},
    {"color": "#8c8c8c", "hatch": ""},
    {"color": "#d9d9d9", "hatch": ""},
    {"color": "#d9d9d9", "hatch": "...."},
    {"color": "#b3b3b3", "hatch": "xxx"},
    {"color": "#f2f2f2", "hatch": "ooo"},
    {"color": "#ffffff", "hatch": "+++"},
]
"""Bars of our runs: gray levels, then hatches on light fills (black hatching stays visible)."""

PAPER_STYLES = [{"color": "white", "hatch": h} for h in ("////", "\\\\\\\\", "||||", "----", "++++", "xxxx", "....")]
"""Bars of numbers copied from the paper: white with line hatches (not rerun here)."""

LINE_STYLES = [
    {"color": "#1a1a1a", "marker": "o", "linestyle": "-"},
    {"color": "#595959", "marker": "s", "linestyle": "--"},
    {"color": "#8c8c8c", "marker": "^", "linestyle": ":"},
    {"color": "#1a1a1a", "marker": "D", "linestyle": "-."},
    {"color": "#595959", "marker": "v", "linestyle": "-"},
    {"color": "#8c8c8c", "marker": "x", "linestyle": "--"},
    {"color": "#1a1a1a", "marker": "<", "linestyle": ":"},
]

# kept for code that imported them
COLORS = [s["color"] for s in RUN_STYLES]
HATCHES = [s["hatch"] for s in RUN_STYLES]
RUN_COLORS = COLORS
RUN_HATCHES = HATCHES
PAPER_HATCHES = [s["hatch"] for s in PAPER_STYLES]


def _bar_style(k: int, paper: bool = False) -> dict[str, str]:
    styles = PAPER_STYLES if paper else RUN_STYLES
    return dict(styles[k % len(styles)])


# ---------------------------------------------------------------- drawing helpers

NA = "n/a"


def _bars(ax, xs: Sequence[float], values: Sequence[float | None], width: float, style: Mapping[str, str],
          name: str, errors: Sequence[tuple[float, float]] | None = None, rotate: bool = False,
          horizontal: bool = False, fmt: str = "{:.1f}") -> bool:  # fmt: skip
    """One bar series with a value label on every bar; None is written "n/a", 0 is a thick stroke on the baseline.

    ``horizontal``: bars grow to the right from categories on the y axis. Returns whether any bar was drawn
    (series without data get no legend entry).
    """
    rotation = 90 if rotate and not horizontal else 0
    for x, v in zip(xs, values, strict=True):
        if v is None:
            where = {"xy": (0, x), "xytext": (2, 0), "ha": "left", "va": "center"} if horizontal else \
                {"xy": (x, 0), "xytext": (0, 1.5), "ha": "center", "va": "bottom"}  # fmt: skip
            ax.annotate(NA, textcoords="offset points", fontsize=VALUE_FONT, rotation=rotation, color="#404040",
                        style="italic", **where)  # fmt: skip
    shown = [k for k, v in enumerate(values) if v is not None]
    if not shown:
        return False
    err = None
    if errors is not None:
        err = [[errors[k][0] for k in shown], [errors[k][1] for k in shown]]
    common = {"label": name, "edgecolor": "black", "linewidth": 0.5, "capsize": 1.5,
              "error_kw": {"elinewidth": 0.6, "capthick": 0.6}, **style}  # fmt: skip
    pos, vals = [xs[k] for k in shown], [values[k] for k in shown]
    draw = functools.partial(ax.barh, xerr=err) if horizontal else functools.partial(ax.bar, yerr=err)
    bars = draw(pos, vals, width, **common)
    ax.bar_label(bars, [fmt.format(v) for v in vals], padding=1.5, fontsize=VALUE_FONT, rotation=rotation)
    for p, v in zip(pos, vals, strict=True):
        if v == 0:  # a stroke narrower than the bar, so neighbouring zeros stay apart
            ends = [p - 0.35 * width, p + 0.35 * width]
            xy = ([0, 0], ends) if horizontal else (ends, [0, 0])
            ax.plot(*xy, color="black", linewidth=2.0, solid_capstyle="butt", zorder=3)
    return True


def _bar_layout(axis_width_in: float, bars: int) -> tuple[bool, bool]:
    """(horizontal, rotate): vertical bars with level labels while a label fits over its bar, rotated labels
    while a bar is wider than a line of text, else horizontal bars (one-column figures with many series)."""
    per_bar = axis_width_in / max(1, bars)
    return per_bar < 0.095, per_bar < 0.24


def _percent_axis(ax, rotate: bool, top: float = 100.0, ylabel: str = "score (%)", horizontal: bool = False) -> None:
    """0-100 value axis on a thin baseline, with room for value labels beyond the longest bars."""
    headroom = 0.16 if horizontal else 0.24 if rotate else 0.12
    limits = (-0.02 * top, top * (1 + headroom))
    ticks = matplotlib.ticker.FixedLocator([t * top / 5 for t in range(6)])
    if horizontal:
        ax.set_xlim(*limits)
        ax.xaxis.set_major_locator(ticks)
        ax.spines["left"].set_visible(False)
        ax.axvline(0, color="black", linewidth=0.6, zorder=2)
        ax.tick_params(axis="y", length=0)
        ax.set_xlabel(ylabel)
        ax.grid(axis="y", visible=False)
        ax.grid(axis="x", visible=True)
    else:
        ax.set_ylim(*limits)
        ax.yaxis.set_major_locator(ticks)
        ax.spines["bottom"].set_visible(False)
        ax.axhline(0, color="black", linewidth=0.6, zorder=2)
        ax.tick_params(axis="x", length=0)
        ax.set_ylabel(ylabel)
        ax.grid(axis="x", visible=False)


Series = tuple[str, Sequence[float | None], "Sequence[tuple[float, float]] | None", Mapping[str, str]]


def _bar_panel(ax, categories: Sequence[str], series: Sequence[Series], horizontal: bool, rotate: bool,
               ylabel: str = "score (%)", top: float = 100.0) -> None:  # fmt: skip
    """Grouped bars: one group per category, one bar per series ``(name, values, errors, style)``."""
    bar_w = 0.8 / max(1, len(series))
    for k, (name, values, errors, style) in enumerate(series):
        pos = [i - 0.4 + bar_w * (k + 0.5) for i in range(len(categories))]
        _bars(ax, pos, values, bar_w, style, name, errors, rotate, horizontal)
    if horizontal:
        ax.set_yticks(range(len(categories)), list(categories))
        ax.set_ylim(len(categories) - 0.5, -0.5)  # first category and first series on top
    else:
        ax.set_xticks(range(len(categories)), list(categories))
    _percent_axis(ax, rotate, top, ylabel, horizontal)


def _panel_height(horizontal: bool, bars: int, vertical: float) -> float:
    """Height (in) of one bar panel: ``vertical``, or enough for every horizontal bar to carry its label."""
    return 0.35 + 0.085 * bars if horizontal else vertical


def _legend(container: Figure | SubFigure, axes: Sequence[Any], width_in: float) -> None:
    """One legend below ``container`` with each labelled series once; none when no series has data."""
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels and not lab.startswith("_"):
                handles.append(h)
                labels.append(lab)
    if handles:
        per_row = max(1, int(width_in / (0.4 + 0.05 * max(len(lab) for lab in labels))))  # entries that fit a row
        container.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), per_row))


def _caption(fig: Figure, text: str, width_in: float) -> None:
    """A small caption under everything (supxlabel, so constrained layout makes room for it)."""
    fig.supxlabel(_wrap(text, width_in, 6), fontsize=6, x=0.01, ha="left")


def _panels(fig: Figure, count: int, ratios: Sequence[float] | None = None) -> list[SubFigure]:
    return list(fig.subfigures(count, 1, squeeze=False, height_ratios=ratios).ravel())


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=7, color="#404040",
            style="italic")  # fmt: skip


def _ci(result: Mapping[str, Any], key: str, value: float | None) -> tuple[float | None, float | None]:
    low, high = (result.get("ci95") or {}).get(key, [None, None])
    if value is None or low is None or high is None:
        return None, None
    return 100 * low, 100 * high
