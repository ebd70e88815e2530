"""Paper-ready figures for the workbook: one style, PNG + PDF + CSV, readable in grayscale.

Modules: :mod:`.style` (display, widths, gray series, drawing helpers), :mod:`.labels` (run names, n/a),
:mod:`.files` (:func:`save`, CSV), :mod:`.evaluation` (notebooks 03-04) and :mod:`.training` (notebooks 01-02).
Everything public is importable from here (``from umi_lib.workbook import plots; plots.table1_figure(...)``).

**Display.** Figures are built as :class:`matplotlib.figure.Figure` objects, never through pyplot, and importing
this module selects no backend. Nothing is therefore registered with pyplot to be shown at the end of a cell: a
notebook cell shows a figure exactly once, as the ``image/png`` output of the cell that returns it as its last
expression (Jupyter, JupyterLab, Colab, papermill). Inside an IPython kernel :func:`ensure_inline_display` makes
sure a PNG formatter for figures is registered (the inline backend's if active, else IPython's own), even when
``MPLBACKEND`` is ``Agg``. Plain scripts and CI keep matplotlib's own choice (Agg without a display).

**Style.** :func:`set_style` (or the ``UMI_FIGURE_WIDTH`` environment variable) chooses the width of the figures
built afterwards: ``"one-column"`` (3.3 in), ``"two-column"`` (6.9 in), a number of inches, or None (each
figure's natural width: the confusion matrix one column, the rest two; the GLPFT diagram is always two-column).
Text is 5.5-9 pt at that printed size; the PDF embeds its fonts as TrueType (Type 42). Series differ by gray level
plus hatching, line style or marker, so the figures survive grayscale printing. Systems carry readable names
(:func:`label`), model runs and model-free references (oracle, degraded) are drawn in separate panels, every bar
has a value label (zero bars a thick stroke on the baseline), and a metric with no step is drawn as "n/a", never
as 0. Legends list only series with data and sit below their panel, never over the bars.

**Files.** :func:`save` writes ``<name>.png`` (300 dpi), ``<name>.pdf`` and, for every figure that plots numbers
(all but the GLPFT diagram), ``<name>.csv``: the numbers as drawn (scores in percent, n/a as an empty cell), one
row per bar, point or cell, so the figure can be re-plotted elsewhere.

**Reruns.** What is promised: drawing the same input data with the same style, matplotlib version and fonts writes
byte-identical PNG, PDF and CSV files (no timestamps, software versions or random ids are written, and nothing
depends on time, randomness or the order files were found in). What is not promised: identical bytes when the data
change (new metrics files, or a retraining whose losses differ, rightly give different figures) or across
matplotlib, FreeType or font versions.
"""

from __future__ import annotations

from umi_lib.workbook.plots.evaluation import (
    by_group_figure,
    by_step_figure,
    confusion_figure,
    grouped_bars,
    table1_figure,
)
from umi_lib.workbook.plots.files import figure_data, save, write_csv
from umi_lib.workbook.plots.labels import METRIC_NAMES, REFERENCE_LABELS, is_reference, label, metric_value
from umi_lib.workbook.plots.style import (
    COLORS,
    HATCHES,
    LINE_STYLES,
    PAPER_HATCHES,
    PAPER_STYLES,
    RUN_COLORS,
    RUN_HATCHES,
    RUN_STYLES,
    STYLE,
    WIDTH_ENV,
    WIDTHS,
    ensure_inline_display,
    figure_width,
    set_style,
)
from umi_lib.workbook.plots.training import LOSS_STYLES, dataset_figure, glpft_figure, loss_figure

__all__ = [
    "COLORS", "HATCHES", "LINE_STYLES", "LOSS_STYLES", "METRIC_NAMES", "PAPER_HATCHES", "PAPER_STYLES",
    "REFERENCE_LABELS", "RUN_COLORS", "RUN_HATCHES", "RUN_STYLES", "STYLE", "WIDTHS", "WIDTH_ENV",
    "by_group_figure", "by_step_figure", "confusion_figure", "dataset_figure", "ensure_inline_display",
    "figure_data", "figure_width", "glpft_figure", "grouped_bars", "is_reference", "label", "loss_figure",
    "metric_value", "save", "set_style", "table1_figure", "write_csv",
]  # fmt: skip
