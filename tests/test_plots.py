"""Figures: shown once in a notebook kernel, paper style (names, n/a, zero bars, legends, widths), CSV next to
every image, one loss figure file, and byte-identical reruns for the same data."""

from __future__ import annotations

import csv
import os
import sys

import pytest
from conftest import ROOT

from umi_lib.config import load_profile
from umi_lib.train import logs
from umi_lib.workbook import glpft, plots, results


@pytest.fixture(autouse=True)
def _natural_width(monkeypatch):
    monkeypatch.delenv(plots.WIDTH_ENV, raising=False)
    plots.set_style(None)
    yield
    plots.set_style(None)


def _result(plan=0.5, rouge_steps=0, group=True):
    """A small ``umi score`` result: no finish step (R-L has no step), one zero metric, groups and positions."""
    steps = {"total": 20, "call": 18, "finish": rouge_steps, "give up": 2, "easy_f1": 10, "hard_f1": 8, "f1": 18}
    steps["rouge"] = rouge_steps
    cell = {"plan_em": plan, "action_em": 0.0, "f1": 0.25, "counts": {"plan_em": 12, "action_em": 11, "f1": 11}}
    return {
        "plan_em": plan, "action_em": 0.0, "hallu_rate": 0.1, "f1": 0.25, "rouge": 0.0, "easy_f1": 0.2,
        "hard_f1": 0.3, "steps": steps, "undefined": [],
        "ci95": {"plan_em": [plan - 0.1, plan + 0.1], "rouge": [None, None]},
        "confusion": {"labels": ["call", "finish", "give up"], "matrix": [[9, 1, 0], [0, 0, 0], [1, 0, 1]]},
        "by_group": {"1-3 tools": {**cell, "rouge": None}} if group else {},
        "by_step": {"0": cell, "1": {**cell, "counts": {"plan_em": 3, "action_em": 3, "f1": 3}}},
    }  # fmt: skip


RUNS = {"oracle": _result(1.0), "degraded": _result(0.7), "static_alpha-umi": _result(0.5)}


def _texts(fig):
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]


def _legend_labels(fig):
    return [t.get_text() for leg in fig.findobj(lambda a: a.__class__.__name__ == "Legend") for t in leg.get_texts()]


# ---------------------------------------------------------------- display in a kernel


def _run_notebook(cells, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=180, resources={"metadata": {"path": ROOT}})
    client.execute()
    return nb


def _pngs(cell):
    return [o for o in cell.outputs if "image/png" in o.get("data", {})]


@pytest.mark.parametrize("backend", [None, "agg"], ids=["kernel-default", "MPLBACKEND=agg"])
def test_a_returned_figure_shows_exactly_once_in_a_kernel(backend, tmp_path, monkeypatch):
    """The issue: cells printed ``<Figure size ...>``. A figure returned by a cell is one image/png output; a figure
    built and not returned shows nothing (no pyplot auto-show); pyplot's own figures still work next to ours."""
    if backend is None:
        monkeypatch.delenv("MPLBACKEND", raising=False)
    else:
        monkeypatch.setenv("MPLBACKEND", backend)
    monkeypatch.setenv("UMI_FIGURES", str(tmp_path / "figures"))
    nb = _run_notebook(
        [
            "from umi_lib.workbook import plots",
            'values = {"static_alpha-umi": [50.0, 0.0], "oracle": [100.0, None]}\n'
            'fig = plots.grouped_bars(values, ["a", "b"], "t", "%")\n'
            'plots.save(fig, "kernel_check")\n'
            "fig",
            "_ = plots.glpft_figure()",
            "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplots.glpft_figure()",
        ],
        tmp_path,
    )
    assert not _pngs(nb.cells[0])
    shown = nb.cells[1].outputs
    assert len(_pngs(nb.cells[1])) == 1 and len(shown) == 1, shown
    text = "".join(shown[0]["data"]["text/plain"])  # the fallback says what the figure is, not "<Figure size ...>"
    assert text == "Figure: t (saved as kernel_check.png, kernel_check.pdf, kernel_check.csv)", text
    assert not _pngs(nb.cells[2])  # built, not returned: not shown
    if backend is None:  # the inline backend shows the pyplot figure too: two images, ours once
        assert len(_pngs(nb.cells[3])) == 2
    assert (tmp_path / "figures" / "kernel_check.png").is_file()
    assert (tmp_path / "figures" / "kernel_check.csv").is_file()


def test_no_backend_is_forced_and_pyplot_is_not_used():
    import matplotlib

    before = matplotlib.rcParams._get_backend_or_none()
    plots.glpft_figure()
    plots.table1_figure(RUNS)
    assert matplotlib.rcParams._get_backend_or_none() == before
    if "matplotlib.pyplot" in sys.modules:
        assert not sys.modules["matplotlib.pyplot"].get_fignums()
    assert not plots.ensure_inline_display()  # no kernel here


# ---------------------------------------------------------------- paper style


def test_labels_are_readable():
    assert plots.label("static_alpha-umi") == "α-UMi (GLPFT)"
    assert plots.label("static_single-llm") == "Single-LLM"
    assert plots.label("oracle") == "Oracle (reference)"
    assert plots.label("degraded") == "Degraded (seeded, model-free)"
    assert plots.label("static_endpoint_gpt-4o") == "Endpoint: gpt-4o"
    assert plots.label("paper: Single-LLM 7B") == "Single-LLM 7B (paper)"
    assert plots.label("my-run") == "my-run"


def test_table1_splits_model_runs_from_references_and_marks_missing_metrics():
    runs = {**RUNS, "static_base": _result(0.0)}
    fig = plots.table1_figure(runs, {"Single-LLM 7B": {k: 0.5 for k in plots.METRIC_NAMES}}, "T, smoke profile")
    models, refs = fig.subfigs
    assert [t.get_text() for t in models.legends[0].get_texts()] == [
        "Base (no training)",
        "α-UMi (GLPFT)",
        "Single-LLM 7B (paper, not rerun)",
    ]
    assert [t.get_text() for t in refs.legends[0].get_texts()] == [
        "Oracle (reference)",
        "Degraded (seeded, model-free)",
    ]
    texts = _texts(fig)
    assert texts.count("n/a") == 4  # R-L has no step in any of our four runs; the paper's row has a number
    assert "0.0" in texts  # a zero bar is labelled
    rows = plots.figure_data(fig)
    rouge = [r for r in rows if r["metric"] == "rouge" and r["source"] == "this repository"]
    assert rouge and all(r["value"] is None and r["steps"] == 0 for r in rouge)


def test_every_bar_has_a_value_label_and_zero_bars_are_drawn():
    fig = plots.grouped_bars({"static_alpha-umi": [0.0, 40.0], "oracle": [100.0, None]}, ["a", "b"], "t", "%")
    ax = fig.axes[0]
    bars = [p for c in ax.containers for p in c.patches]
    assert len(bars) == 3  # n/a is not a bar
    assert sorted(t.get_text() for t in ax.texts) == ["0.0", "100.0", "40.0", "n/a"]
    strokes = [ln for ln in ax.lines if list(ln.get_ydata()) == [0, 0] and ln.get_linewidth() >= 2]
    assert len(strokes) == 1  # the zero bar: a thick stroke on the (thin) baseline


def test_legends_hold_only_series_with_data_and_sit_outside_the_axes():
    values = {"static_alpha-umi": [10.0, 20.0], "static_base": [None, None], "paper: Single-LLM 7B": [30.0, 40.0]}
    fig = plots.grouped_bars(values, ["a", "b"], "t", "%")
    assert _legend_labels(fig) == ["α-UMi (GLPFT)", "Single-LLM 7B (paper)"]
    for f in (fig, plots.table1_figure(RUNS), plots.by_group_figure(RUNS), plots.by_step_figure(RUNS, min_steps=10)):
        renderer = f.canvas.get_renderer() if hasattr(f.canvas, "get_renderer") else None
        f.draw_without_rendering()
        legends = f.findobj(lambda a: a.__class__.__name__ == "Legend")
        assert legends
        for leg in legends:
            box = leg.get_window_extent(renderer)
            for ax in f.axes:
                assert not box.overlaps(ax.get_window_extent(renderer)), "legend over an axes"


def test_breakdowns_leave_out_runs_without_data_and_say_so():
    runs = {**RUNS, "static_alpha-umi": _result(0.5, group=False)}
    fig = plots.by_group_figure(runs, title="Groups, smoke profile")
    assert [sf.get_suptitle() for sf in fig.subfigs] == ["Model-free references"]
    assert "α-UMi (GLPFT)" in fig.get_supxlabel()
    steps = plots.by_step_figure(RUNS, min_steps=10)
    shown = {(r["run"], r["step"]) for r in plots.figure_data(steps) if r["shown"]}
    assert ("oracle", 0) in shown and ("oracle", 1) not in shown  # position 1 has 3 steps < 10


def test_loss_figure_names_the_system():
    rec = logs.LogRecord("global", 1, 2.0)
    fig = plots.loss_figure({"global": [rec], "planner": []}, "Training loss: α-UMi (GLPFT), smoke profile")
    assert fig.get_suptitle() == "Training loss: α-UMi (GLPFT), smoke profile"
    assert [ax.get_title() for ax in fig.axes] == ["global"]
    assert plots.figure_data(fig) == [{"stage": "global", "kind": "train", "step": 1, "loss": 2.0}]


@pytest.mark.parametrize(("width", "inches"), [("one-column", 3.3), ("two-column", 6.9), (5.0, 5.0)])
def test_widths_are_selectable(width, inches, monkeypatch):
    plots.set_style(width)
    assert plots.table1_figure(RUNS).get_figwidth() == pytest.approx(inches)
    assert plots.confusion_figure(RUNS["oracle"]).get_figwidth() == pytest.approx(inches)
    assert plots.table1_figure(RUNS, width="two-column").get_figwidth() == pytest.approx(6.9)  # argument wins
    plots.set_style(None)
    assert plots.confusion_figure(RUNS["oracle"]).get_figwidth() == pytest.approx(3.3)  # natural: one column
    monkeypatch.setenv(plots.WIDTH_ENV, "one-column")
    assert plots.by_step_figure(RUNS).get_figwidth() == pytest.approx(3.3)
    with pytest.raises(ValueError, match="unknown figure width"):
        plots.set_style("half-page")


def test_save_writes_png_pdf_csv_with_embedded_truetype_fonts(tmp_path):
    paths = plots.save(plots.confusion_figure(RUNS["degraded"]), "conf", tmp_path)
    assert [p.name for p in paths] == ["conf.png", "conf.pdf", "conf.csv"]
    pdf = paths[1].read_bytes()
    assert b"/FontFile2" in pdf and b"/Type3" not in pdf  # pdf.fonttype 42 holds when saving
    with paths[2].open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0] == {"reference_plan": "call", "predicted_plan": "call", "count": "9", "row_percent": "90"}
    assert rows[3]["row_percent"] == ""  # no finish reference: n/a, not 0
    (tmp_path / "diagram.csv").write_text("stale")
    assert [p.suffix for p in plots.save(plots.glpft_figure(), "diagram", tmp_path)] == [".png", ".pdf"]
    assert not (tmp_path / "diagram.csv").exists()  # a diagram plots no numbers


BUILDERS = {
    "table1": lambda: plots.table1_figure(RUNS, {"Single-LLM 7B": {k: 0.5 for k in plots.METRIC_NAMES}}),
    "confusion": lambda: plots.confusion_figure(RUNS["degraded"], "Planner decisions: Degraded, smoke profile"),
    "by_step": lambda: plots.by_step_figure(RUNS, min_steps=1),
    "by_group": lambda: plots.by_group_figure(RUNS),
    "loss": lambda: plots.loss_figure({"global": [logs.LogRecord("global", s, 2.0 / s) for s in (1, 2, 3)]}, "L"),
    "dataset": lambda: plots.dataset_figure({"planner": 5, "caller": 0}, {"a": 3}, {"planner": [10, 200]}, 128),
    "bars": lambda: plots.grouped_bars(
        {"static_alpha-umi": [12.5, None], "paper: X": [50.0, 0.0]}, ["a", "b"], "t", "%"
    ),
    "diagram": plots.glpft_figure,
}


@pytest.mark.parametrize("width", [None, "one-column"])
@pytest.mark.parametrize("name", BUILDERS)
def test_same_data_gives_byte_identical_files(name, width, tmp_path):
    """The promise of the plots module: the same data drawn twice (in one process) write the same PNG, PDF and
    CSV bytes."""
    plots.set_style(width)
    first = plots.save(BUILDERS[name](), name, tmp_path / "a")
    second = plots.save(BUILDERS[name](), name, tmp_path / "b")
    assert [p.name for p in first] == [p.name for p in second]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_one_loss_figure_file_for_notebooks_02_and_04(tmp_path, monkeypatch):
    monkeypatch.setenv("UMI_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("UMI_FIGURES", str(tmp_path / "figures"))
    profile = load_profile("smoke")
    empty = results.loss_plot(profile)
    assert "no training logs yet" in _texts(empty) and not (tmp_path / "figures").exists()
    for step, loss in [(1, 2.0), (2, 1.5)]:
        logs.append(logs.log_path("smoke", "global", system="glpft"), logs.LogRecord("global", step, loss))
    fig02 = glpft.loss_plot(profile, "alpha-umi")
    png = (tmp_path / "figures" / "02_loss_glpft_smoke.png").read_bytes()
    fig04 = results.loss_plot(profile)  # the log folder's name, as notebook 04 passes it
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == [
        "02_loss_glpft_smoke.csv",
        "02_loss_glpft_smoke.pdf",
        "02_loss_glpft_smoke.png",
    ]
    assert (tmp_path / "figures" / "02_loss_glpft_smoke.png").read_bytes() == png
    assert fig02.get_suptitle() == fig04.get_suptitle()
    assert "α-UMi (GLPFT)" in fig04.get_suptitle() and "smoke profile" in fig04.get_suptitle()
    assert glpft.loss_figure_name(profile, "single-llm") == glpft.loss_figure_name(profile, "glpft")


def test_a_rerun_in_a_new_process_writes_the_same_bytes(tmp_path):
    """A rerun is a new process (another hash seed, fresh font cache state): same data, same files."""
    import subprocess

    script = (
        "import sys\n"
        "from umi_lib.workbook import plots\n"
        "runs = {'oracle': {'plan_em': 1.0, 'action_em': 1.0, 'hallu_rate': 0.0, 'f1': 1.0, 'rouge': 0.0,\n"
        "        'steps': {'total': 3, 'call': 3, 'rouge': 0}}, 'static_alpha-umi': {'plan_em': 0.5,\n"
        "        'action_em': 0.25, 'hallu_rate': 0.1, 'f1': 0.2, 'rouge': 0.4, 'steps': {'total': 3, 'rouge': 1}}}\n"
        "plots.save(plots.table1_figure(runs, title='T, smoke profile'), 't', sys.argv[1])\n"
    )
    for seed, folder in [("1", "a"), ("2", "b")]:
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", script, str(tmp_path / folder)], check=True, env=env, cwd=ROOT)
    for suffix in ("png", "pdf", "csv"):
        assert (tmp_path / "a" / f"t.{suffix}").read_bytes() == (tmp_path / "b" / f"t.{suffix}").read_bytes(), suffix
