"""Saving figures: PNG, PDF and the plotted numbers as CSV, without timestamps (same data, same bytes)."""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from umi_lib.paths import figures_dir
from umi_lib.workbook.plots.style import SAVE_DPI, _style

# ---------------------------------------------------------------- figure data (CSV)

_DATA_ATTR = "_umi_plot_data"


def _attach(fig: Figure, rows: list[dict[str, Any]]) -> Figure:
    setattr(fig, _DATA_ATTR, rows)
    return fig


def figure_data(fig: Figure) -> list[dict[str, Any]] | None:
    """The numbers a figure plots, one dict per bar, point or cell (None for the diagram)."""
    return getattr(fig, _DATA_ATTR, None)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "" if math.isnan(value) else format(value, ".10g")
    return str(value)


def write_csv(rows: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Rows as CSV (columns in first-seen order, ``\\n`` line ends, numbers with 10 significant digits)."""
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    path = Path(path)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])
    return path


def save(fig: Figure, name: str, out_dir: str | Path | None = None) -> list[Path]:
    """Write ``<name>.png`` (300 dpi), ``<name>.pdf`` and ``<name>.csv`` (the plotted numbers, if any).

    No timestamps or software versions go into the files, so the same data give the same bytes (see the module
    docstring for what exactly is promised). Returns the paths written.
    """
    out = Path(out_dir) if out_dir else figures_dir()
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    with _style():  # pdf.fonttype and hatch widths are read when saving
        fig.savefig(paths[0], dpi=SAVE_DPI, metadata={"Software": None})
        fig.savefig(paths[1], metadata={"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None})
    rows = figure_data(fig)
    csv_path = out / f"{name}.csv"
    if rows is not None:
        paths.append(write_csv(rows, csv_path))
    else:
        csv_path.unlink(missing_ok=True)  # a stale table from an older figure of that name
    fig.umi_saved = [p.name for p in paths]  # named in the figure's text form (see style.describe)
    return paths
