"""Figures, the paper's Table 1, the training-log format and the results stage of notebook 04."""

from __future__ import annotations

import json

import pytest

from umi_lib.config import load_profile
from umi_lib.data.records import Report
from umi_lib.evaluation import paper, selection
from umi_lib.train import logs
from umi_lib.workbook import plots, results


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """The smoke profile's oracle and degraded metrics, under the runs folder every test sees (conftest)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("UMI_RUNS", str(tmp_path_factory.getbasetemp() / "runs"))
    profile = load_profile("smoke")
    out = results.score_bundled(profile, resamples=100)
    yield profile, out
    mp.undo()


def test_table1_row_as_fractions():
    row = paper.table1("α-UMi w/ reuse 7B", "OOD")
    assert row == pytest.approx(
        {"plan_em": 0.8972, "action_em": 0.6047, "hallu_rate": 0.0045, "f1": 0.5360, "rouge": 0.4626}
    )
    assert paper.table1("α-UMi w/ reuse 7B", "ID")["plan_em"] == pytest.approx(0.8892)
    assert len(paper.rows()) == 14
    with pytest.raises(KeyError, match="unknown Table 1 row"):
        paper.table1("GPT-5")
    with pytest.raises(KeyError, match="unknown split"):
        paper.table1("Single-LLM 7B", "test")


def test_score_bundled_writes_oracle_and_degraded(scored):
    profile, out = scored
    assert out["oracle"]["plan_em"] == 1.0 and out["degraded"]["plan_em"] < 1.0
    assert set(out["oracle"]["by_group"]) == {"1-3 tools", "4-6 tools", "7+ tools"}
    assert {"oracle", "degraded"} <= set(selection.load_metrics(profile))


def test_load_metrics_skips_bad_files_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("UMI_RUNS", str(tmp_path))
    profile = load_profile("smoke")
    folder = tmp_path / "smoke" / "metrics"
    folder.mkdir(parents=True)
    (folder / "broken.json").write_text("{")
    (folder / "other.json").write_text(json.dumps({"plan_em": 1}))
    with pytest.warns(UserWarning, match="skipping"):
        assert selection.load_metrics(profile) == {}


def test_results_table_marks_paper_rows(scored):
    _, out = scored
    table = results.results_table(out, ["α-UMi w/ reuse 7B"])
    oracle, degraded, row = (
        "Oracle (reference)",
        "Degraded (seeded, model-free)",
        "paper: α-UMi w/ reuse 7B (Table 1, OOD)",
    )
    assert list(table.index) == [oracle, degraded, row]
    assert table.loc[oracle, "Plan ACC"] == 100.0
    assert table.loc[row, "Plan ACC"] == 89.72
    assert table.loc[degraded, "Plan ACC 95% CI"].startswith("[")
    html = table._repr_html_()  # what the notebook shows: gaps as "–" with a footnote, never NaN or <NA>
    assert "NaN" not in html and "&lt;NA&gt;" not in html and "<td>–</td>" in html and "not given by the paper" in html


def test_metric_examples_show_a_losing_step_per_metric(scored):
    profile, _ = scored
    table = results.metric_examples(profile)
    assert list(table.index) == ["rouge", "plan_em", "action_em", "easy_f1", "hard_f1", "f1", "hallu_rate"]
    assert (table.loc[["plan_em", "action_em", "easy_f1"], "step value"] < 1).all()
    assert table.loc["hallu_rate", "step value"] == 1.0


FIGURES = {
    "table1": lambda out: plots.table1_figure(out, {"α-UMi w/ reuse 7B": paper.table1("α-UMi w/ reuse 7B")}),
    "confusion": lambda out: plots.confusion_figure(out["degraded"]),
    "by_step": lambda out: plots.by_step_figure(out),
    "by_group": lambda out: plots.by_group_figure(out),
}


@pytest.mark.parametrize("name", FIGURES)
def test_figures_are_deterministic(name, scored, tmp_path):
    """The same scored data drawn twice: byte-identical PNG, PDF and CSV (the plots module's promise)."""
    _, out = scored
    first = plots.save(FIGURES[name](out), name, tmp_path / "a")
    second = plots.save(FIGURES[name](out), name, tmp_path / "b")
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    assert [p.suffix for p in first] == [".png", ".pdf", ".csv"]


def test_table1_error_bars_come_from_the_intervals(scored):
    _, out = scored
    fig = plots.table1_figure({"degraded": out["degraded"]})
    ax = fig.axes[0]
    lines = [c for c in ax.collections if c.get_segments()]  # the error-bar LineCollection
    segments = lines[0].get_segments()
    low, high = out["degraded"]["ci95"]["plan_em"]
    assert segments[0][:, 1] == pytest.approx([100 * low, 100 * high])


def test_result_figures_name_systems_and_split_references(scored, tmp_path):
    """Readable names in legends, and the model-free references apart from model runs."""
    profile, out = scored
    model = {**out["degraded"], "by_group": {}}
    runs = {"static_alpha-umi": model, **out}
    fig = results.table1_plot(runs, profile, ["α-UMi w/ reuse 7B"])
    legends = [[t.get_text() for t in sf.legends[0].get_texts()] for sf in fig.subfigs]
    assert legends == [
        ["α-UMi (GLPFT)", "α-UMi w/ reuse 7B (paper, not rerun)"],
        ["Oracle (reference)", "Degraded (seeded, model-free)"],
    ]
    assert "smoke profile" in fig.get_suptitle()
    conf = results.confusion_plot(runs, profile, "degraded")
    title = conf.axes[0].get_title().replace("\n", " ")  # wrapped to the figure width
    assert title == "Planner decisions: Degraded (seeded, model-free), smoke profile"
    group = results.by_group_plot(runs, profile)
    assert [sf.get_suptitle() for sf in group.subfigs] == ["Model-free references"]  # the model run has no groups
    assert "α-UMi (GLPFT)" in group.get_supxlabel().replace("\n", " ")


def test_train_log_round_trip_and_bad_lines(tmp_path, monkeypatch):
    monkeypatch.setenv("UMI_RUNS", str(tmp_path))
    path = logs.log_path("smoke", "global")
    for step, loss in [(1, 2.5), (2, 2.0)]:
        logs.append(path, logs.LogRecord("global", step, loss, epoch=step / 10, learning_rate=1e-4))
    logs.append(path, logs.LogRecord("global", 2, 2.2, kind="eval"))
    with path.open("a") as fh:  # a crash mid-write, then garbage
        fh.write('{"stage": "global", "step": 3, "loss": NaN}\n{"stage": "global", "st')
    logs.append(logs.log_path("smoke", "planner"), logs.LogRecord("planner", 1, 1.0))
    report = Report()
    curves = logs.read_run("smoke", report=report)
    assert list(curves) == ["global", "planner"]
    assert [(r.step, r.loss, r.kind) for r in curves["global"]] == [
        (2, 2.2, "eval"),
        (1, 2.5, "train"),
        (2, 2.0, "train"),
    ]
    assert report.rejected == {"bad_log_line": 2}
    logs.append(path, logs.LogRecord("global", 2, 1.9))  # a resumed run logs step 2 again: last wins
    assert [r.loss for r in logs.read_run("smoke")["global"] if r.kind == "train"] == [2.5, 1.9]
    fig = plots.loss_figure(curves)
    assert [ax.get_title() for ax in fig.axes] == ["global", "planner"]
    assert len(fig.axes[0].lines) == 2  # train and eval


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"stage": "global", "loss": 1.0}, "missing step"),
        ({"stage": "global", "step": 1, "loss": 1.0, "lr": 1}, "unknown keys lr"),
        ({"stage": "global", "step": -1, "loss": 1.0}, "non-negative"),
        ({"stage": "global", "step": 1, "loss": "1"}, "finite number"),
        ({"stage": "global", "step": 1, "loss": 1.0, "kind": "test"}, "bad stage/kind"),
    ],
)
def test_train_log_record_validation(line, message):
    with pytest.raises(ValueError, match=message):
        logs.LogRecord.from_json(line)


def test_time_estimates_are_measured_or_say_they_are_not():
    from umi_lib.config import load_profile
    from umi_lib.workbook import estimates

    assert (
        estimates.estimate(load_profile("cpu"), "train alpha-umi")
        == "train alpha-umi: about 91 s on a 2-core CPU (make workbook)"
    )
    assert estimates.estimate(load_profile("cpu"), "static evaluation").endswith(
        "about 105 s on a 2-core CPU (make workbook)"
    )
    assert "not timed yet on the colab-t4 profile" in estimates.estimate(load_profile("colab-t4"), "rollouts")
    assert estimates.estimate(load_profile("smoke"), "rollouts") is None
