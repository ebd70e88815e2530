"""Evaluation figures: Table 1, the planner's confusion matrix, breakdowns by step and group (notebook 04), and
grouped bars for the real-time proxies and judged pass rates (notebook 03)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import matplotlib.ticker
from matplotlib.figure import Figure

from umi_lib.workbook.plots.files import _attach
from umi_lib.workbook.plots.labels import (
    _METRIC_STEPS,
    METRIC_NAMES,
    PAPER_PREFIX,
    _order,
    _split,
    is_reference,
    label,
    metric_value,
)
from umi_lib.workbook.plots.style import (
    LINE_STYLES,
    NA,
    Series,
    _bar_layout,
    _bar_panel,
    _bar_style,
    _caption,
    _ci,
    _empty,
    _legend,
    _new_figure,
    _panel_height,
    _panels,
    _style,
    _wrap,
    figure_width,
)

# ---------------------------------------------------------------- notebook 04


def table1_figure(
    runs: Mapping[str, Mapping],
    paper_rows: Mapping[str, Mapping[str, float]] | None = None,
    title: str = "Static evaluation (out-of-domain)",
    citation: str = "",
    *,
    width: str | float | None = None,
) -> Figure:
    """Table 1's columns (×100) as bars with 95% bootstrap error bars: model runs and the paper's rows in one
    panel, the model-free references (oracle, degraded) in another.

    ``runs`` maps a run name (a metrics file's stem) to a ``umi score`` result; ``paper_rows`` maps a row name to
    fractions keyed like it (:func:`umi_lib.evaluation.paper.table1`): white hatched bars, named as the paper's.
    """
    paper_rows = paper_rows or {}
    keys = list(METRIC_NAMES)
    models, refs = _split(runs)
    panels: list[tuple[str, list[tuple[str, Mapping, bool]]]] = []
    if models or paper_rows:
        what = "Model runs" if models else "Model runs (none scored yet)"
        panel = f"{what} and the paper's numbers" if paper_rows else what
        panels.append((panel, [(n, runs[n], False) for n in models] + [(n, r, True) for n, r in paper_rows.items()]))
    if refs:
        panels.append(
            ("Model-free references (test the scoring code, not a model)", [(n, runs[n], False) for n in refs])
        )
    if not panels:
        panels.append(("No metrics file yet", []))
    w = figure_width("two-column", width)
    rows: list[dict[str, Any]] = []
    layouts = [_bar_layout(w - 0.6, len(keys) * len(series)) for _, series in panels]
    heights = [_panel_height(h, len(keys) * len(series), 1.35) + 0.13 * len(series) * (1 if w < 5 else 0.5) + 0.3
               for (h, _), (_, series) in zip(layouts, panels, strict=True)]  # fmt: skip
    with _style():
        fig = _new_figure(w, sum(heights) + 0.35 + (0.35 if paper_rows else 0.2))
        for sf, (panel, series), (horizontal, rotate) in zip(_panels(fig, len(panels), heights), panels, layouts,
                                                              strict=True):  # fmt: skip
            ax = sf.subplots()
            drawn: list[Series] = []
            paper_k = 0
            for k, (name, result, is_paper) in enumerate(series):
                values = [None if (v := metric_value(result, key)) is None else 100 * v for key in keys]
                cis = [(None, None) if is_paper else _ci(result, key, v) for key, v in zip(keys, values, strict=True)]
                errors = None
                if any(lo is not None for lo, _ in cis):  # max(0, .): an interval can miss its estimate by a bit
                    errors = [(0.0, 0.0) if lo is None or v is None else (max(0.0, v - lo), max(0.0, hi - v))
                              for v, (lo, hi) in zip(values, cis, strict=True)]  # fmt: skip
                style = _bar_style(paper_k if is_paper else k, is_paper)
                paper_k += is_paper
                shown_name = f"{name} (paper, not rerun)" if is_paper else label(name)
                drawn.append((shown_name, values, errors, style))
                steps = result.get("steps") if isinstance(result.get("steps"), Mapping) else {}
                for key, v, (lo, hi) in zip(keys, values, cis, strict=True):
                    rows.append({"panel": panel, "series": shown_name, "run": name, "source": "paper" if is_paper
                                 else "this repository", "metric": key, "column": METRIC_NAMES[key], "value": v,
                                 "ci95_low": lo, "ci95_high": hi,
                                 "steps": steps.get(key, steps.get(_METRIC_STEPS.get(key, "total")))})  # fmt: skip
            _bar_panel(ax, [METRIC_NAMES[k] for k in keys], drawn, horizontal, rotate)
            if not series:
                _empty(ax, "no metrics file yet: runs/<profile>/metrics/*.json")
            sf.suptitle(_wrap(panel, w), fontsize=8)
            _legend(sf, [ax], w)
        fig.suptitle(_wrap(title, w, 9))
        notes = ["Error bars: 95% bootstrap intervals over trajectories."]
        if any(r["value"] is None for r in rows):
            notes.append("n/a: no step scored for that metric.")
        if paper_rows:
            notes.insert(0, f"Hatched white bars: numbers reported in {citation or 'the paper'}, not rerun here.")
        _caption(fig, " ".join(notes), w)
    return _attach(fig, rows)


def confusion_figure(result: Mapping, title: str = "Planner decisions", *, width: str | float | None = None) -> Figure:
    """Reference plan (rows) × predicted plan (columns): counts and row percentages, grayscale."""
    conf = result["confusion"]
    labels, matrix = conf["labels"], conf["matrix"]
    w = figure_width("one-column", width)
    rows: list[dict[str, Any]] = []
    with _style(**{"axes.grid": False}):
        fig = _new_figure(w, min(w, 3.3) * 0.95)
        ax = fig.subplots()
        totals = [sum(row) for row in matrix]
        shares = [[c / t if t else 0.0 for c in row] for row, t in zip(matrix, totals, strict=True)]
        ax.imshow(shares, cmap="Greys", vmin=0, vmax=1)
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                share = 100 * shares[i][j] if totals[i] else None
                text = f"{count}\n{share:.1f}%" if share is not None else f"{count}\n{NA}"
                color = "white" if shares[i][j] > 0.5 else "black"
                ax.text(j, i, text, ha="center", va="center", fontsize=6.5, color=color)
                rows.append({"reference_plan": labels[i], "predicted_plan": labels[j], "count": count,
                             "row_percent": share})  # fmt: skip
        ax.set_xticks(range(len(labels)), labels)
        ax.set_yticks(range(len(labels)), labels)
        ax.tick_params(length=0)
        ax.set_xticks([k - 0.5 for k in range(1, len(labels))], minor=True)
        ax.set_yticks([k - 0.5 for k in range(1, len(labels))], minor=True)
        ax.tick_params(which="minor", length=0)
        ax.grid(which="minor", color="#8c8c8c", linewidth=0.5)
        for spine in ax.spines.values():
            spine.set_visible(True)
            spine.set_linewidth(0.5)
            spine.set_color("#8c8c8c")
        ax.set_xlabel("predicted plan")
        ax.set_ylabel("reference plan")
        ax.set_title(_wrap(title, w))
    return _attach(fig, rows)


def _run_panels(runs: Mapping[str, Mapping], has_data) -> tuple[list[tuple[str, list[str]]], list[str]]:
    """Rows of a breakdown figure: (title, runs) for model runs and for references, each only if some run
    there has data (``has_data(name)``); and the runs left out for lack of data."""
    models, refs = _split(runs)
    panels = [(title, [n for n in names if has_data(n)]) for title, names in
              (("Model runs", models), ("Model-free references", refs))]  # fmt: skip
    missing = [n for n in models + refs if not has_data(n)]
    return [(t, names) for t, names in panels if names] or [("No run has data for this breakdown", [])], missing


def _steps_points(result: Mapping, key: str, min_steps: int) -> list[tuple[int, float | None, int, bool]]:
    """(position, value ×100, steps, shown) per step position of one run."""
    out = []
    for s, v in sorted((result.get("by_step") or {}).items(), key=lambda kv: int(kv[0])):
        n = (v.get("counts") or {}).get(key, 0)
        value = None if v.get(key) is None else 100 * v[key]
        out.append((int(s), value, n, value is not None and n >= min_steps))
    return out


def by_step_figure(
    runs: Mapping[str, Mapping],
    keys: Sequence[str] = ("plan_em", "action_em", "f1"),
    min_steps: int = 10,
    title: str = "Score by step position in the trajectory",
    *,
    width: str | float | None = None,
) -> Figure:
    """One panel per metric: value against the step's position in its trajectory, one line per run; model runs
    and model-free references in separate rows.

    Positions where the metric has fewer than ``min_steps`` steps are left out (their means are noise), and runs
    left with no position are named under the figure; the CSV keeps every position, marked ``shown = no``.
    """

    def has_data(name: str) -> bool:
        return any(p[3] for key in keys for p in _steps_points(runs[name], key, min_steps))

    panels, missing = _run_panels(runs, has_data)
    w = figure_width("two-column", width)
    rows: list[dict[str, Any]] = []
    for name in _order(list(runs)):
        for key in keys:
            rows += [{"series": label(name), "run": name, "reference": is_reference(name), "metric": key,
                      "step": s, "value": v, "steps": n, "shown": shown}
                     for s, v, n, shown in _steps_points(runs[name], key, min_steps)]  # fmt: skip
    with _style():
        fig = _new_figure(w, 0.5 + 2.0 * len(panels) + (0.25 if missing else 0))
        for sf, (panel, names) in zip(_panels(fig, len(panels)), panels, strict=True):
            axes = sf.subplots(1, len(keys), sharey=True, squeeze=False)[0]
            for ax, key in zip(axes, keys, strict=True):
                drawn = False
                for k, name in enumerate(names):
                    points = [(s, v) for s, v, _, shown in _steps_points(runs[name], key, min_steps) if shown]
                    if points:
                        drawn = True
                        ax.plot([p[0] for p in points], [p[1] for p in points], markersize=3, linewidth=1.0,
                                label=label(name), **LINE_STYLES[k % len(LINE_STYLES)])  # fmt: skip
                if not drawn:
                    _empty(ax, f"no position\nwith ≥ {min_steps} steps")
                ax.set_title(METRIC_NAMES.get(key, key))
                ax.set_xlabel("step in trajectory")
                ax.set_ylim(-3, 105)
                ax.yaxis.set_major_locator(matplotlib.ticker.FixedLocator(range(0, 101, 20)))
                ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            axes[0].set_ylabel("score (%)")
            sf.suptitle(panel, fontsize=8)
            _legend(sf, axes, w)
        _title_and_left_out(fig, title, w, missing, f"no step position with ≥ {min_steps} steps")
    return _attach(fig, rows)


def _title_and_left_out(fig: Figure, title: str, width: float, missing: Sequence[str], why: str) -> None:
    """The figure's title, and a caption naming the runs left out and why."""
    fig.suptitle(_wrap(title, width, 9))
    if missing:
        _caption(fig, f"Not shown ({why}): {', '.join(label(n) for n in missing)}.", width)


def by_group_figure(
    runs: Mapping[str, Mapping],
    keys: Sequence[str] = ("plan_em", "action_em", "f1"),
    title: str = "Score by step group",
    *,
    width: str | float | None = None,
) -> Figure:
    """Bars per item group (e.g. tools offered), one panel per metric, one bar series per run; model runs and
    model-free references in separate rows (one-column figures stack the metrics). Runs without a group
    breakdown are left out and named under the figure."""
    panels, missing = _run_panels(runs, lambda name: bool(runs[name].get("by_group")))
    w = figure_width("two-column", width)
    rows: list[dict[str, Any]] = []
    groups_of = [sorted({g for n in names for g in runs[n]["by_group"]}) for _, names in panels]
    most = max(len(g) * len(names) for g, (_, names) in zip(groups_of, panels, strict=True))
    side = (w - 0.6) / len(keys)
    groups = max(len(g) for g in groups_of)
    stacked = _bar_layout(side, most)[0] or side / max(1, groups) < 0.5  # too narrow: metrics under each other
    axis_w = w - 0.6 if stacked else (w - 0.6) / len(keys)
    layouts = [_bar_layout(axis_w, len(g) * len(names)) for g, (_, names) in zip(groups_of, panels, strict=True)]
    heights = [
        (len(keys) if stacked else 1) * (_panel_height(h, len(g) * len(names), 1.05 if stacked else 1.3) + 0.25)
        + 0.2
        + 0.13 * len(names)
        for (h, _), g, (_, names) in zip(layouts, groups_of, panels, strict=True)
    ]
    with _style():
        fig = _new_figure(w, sum(heights) + 0.3 + (0.3 if missing else 0))
        for sf, (panel, names), groups, (horizontal, rotate) in zip(
            _panels(fig, len(panels), heights), panels, groups_of, layouts, strict=True
        ):
            grid = sf.subplots(len(keys), 1, squeeze=False) if stacked else sf.subplots(1, len(keys), squeeze=False)
            axes = list(grid.ravel())
            for ax, key in zip(axes, keys, strict=True):
                series: list[Series] = []
                for k, name in enumerate(names):
                    cells = [runs[name]["by_group"].get(g, {}) for g in groups]
                    values = [None if c.get(key) is None else 100 * c[key] for c in cells]
                    series.append((label(name), values, None, _bar_style(k)))
                    rows += [{"panel": panel, "series": label(name), "run": name, "metric": key, "group": g,
                              "value": v, "steps": (c.get("counts") or {}).get(key, c.get("steps"))}
                             for g, v, c in zip(groups, values, cells, strict=True)]  # fmt: skip
                first = ax is axes[0] or stacked
                _bar_panel(ax, groups, series, horizontal, rotate, "score (%)" if first else "")
                ax.tick_params(axis="y" if horizontal else "x", labelsize=6)
                if not names:
                    _empty(ax, "no group breakdown")
                ax.set_title(METRIC_NAMES.get(key, key))
            sf.suptitle(panel, fontsize=8)
            _legend(sf, axes, w)
        _title_and_left_out(fig, title, w, missing, "no group breakdown in the metrics file")
    return _attach(fig, rows)


# ---------------------------------------------------------------- notebook 03


def grouped_bars(
    values: Mapping[str, Sequence[float | None]],
    groups: Sequence[str],
    title: str,
    ylabel: str,
    *,
    width: str | float | None = None,
    caption: str = "",
) -> Figure:
    """One bar per series in each group, a value label on every bar, None drawn "n/a".

    Series are run or system names (shown with :func:`label`); series named ``paper: ...`` are white and
    line-hatched (numbers copied from the paper, not rerun).
    """
    ours = [n for n in values if not n.startswith(PAPER_PREFIX)]
    papers = [n for n in values if n.startswith(PAPER_PREFIX)]
    names = _order(ours) + papers
    w = figure_width("two-column", width)
    horizontal, rotate = _bar_layout(w - 0.6, len(groups) * len(names))
    rows: list[dict[str, Any]] = []
    series: list[Series] = []
    for k, name in enumerate(names):
        is_paper = name in papers
        vals = [None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in values[name]]
        series.append((label(name), vals, None, _bar_style(k - len(ours) if is_paper else k, is_paper)))
        rows += [{"series": label(name), "name": name, "group": g, "value": v}
                 for g, v in zip(groups, vals, strict=True)]  # fmt: skip
    with _style():
        height = _panel_height(horizontal, len(groups) * len(names), 2.0) + 0.5 + 0.13 * len(names)
        fig = _new_figure(w, height + (0.3 if caption else 0))
        (panel,) = _panels(fig, 1)  # the legend below the panel, the caption below both
        ax = panel.subplots()
        _bar_panel(ax, groups, series, horizontal, rotate, ylabel)
        if not names:
            _empty(ax, "no runs yet")
        ax.set_title(_wrap(title, w))
        _legend(panel, [ax], w)
        if caption:
            _caption(fig, caption, w)
    return _attach(fig, rows)
