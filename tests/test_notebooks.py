"""Every notebook runs top to bottom in the smoke profile; notebooks are paired and stripped."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
DRAWS = re.compile(r"\b\w*(_plot|_figure|diagram)\(")  # a cell whose code draws a figure
SETUP_MARKER = "# Colab setup"  # the guarded first cell (tests/test_colab_setup.py), longer than a library call


@pytest.fixture(scope="session")
def executed(tmp_path_factory):
    """Where the smoke runs below keep their executed notebooks (the HTML report test renders them)."""
    return tmp_path_factory.mktemp("executed")


def _outputs(cell) -> list[dict]:
    return cell.get("outputs", []) if cell["cell_type"] == "code" else []


def _surface_problems(cells) -> list[str]:
    """What a reader of the executed notebook would trip over: figures as text, raw reprs, stderr, NaN."""
    problems = []
    for cell in cells:
        source, outs = "".join(cell.get("source", "")), _outputs(cell)
        shown = [o for o in outs if o.get("output_type") in ("execute_result", "display_data")]
        if DRAWS.search(source) and shown and not any("image/png" in o.get("data", {}) for o in shown):
            problems.append(f"no inline figure: {source[:60]!r}")
        for o in outs:
            data = o.get("data", {})
            plain = "".join(data.get("text/plain", ""))
            if plain.startswith("<Figure") or (set(data) == {"text/plain"} and plain.startswith(("Profile(", "[("))):
                problems.append(f"raw repr: {plain[:60]!r}")
            if o.get("output_type") == "stream" and o.get("name") == "stderr":
                problems.append(f"stderr: {''.join(o['text'])[:120]!r}")
            if "text/html" in data and (
                ">NaN<" in "".join(data["text/html"]) or "&lt;NA&gt;" in "".join(data["text/html"])
            ):
                problems.append(f"NaN in a table: {source[:60]!r}")
    return problems


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_smoke_mode(nb, executed, monkeypatch):
    import papermill

    monkeypatch.setenv("UMI_PROFILE", "smoke")
    monkeypatch.setenv("UMI_PROGRESS", "final")  # as make workbook: saved notebooks show each loop's final state
    out = executed / nb.name
    papermill.execute_notebook(
        str(nb),
        str(out),
        parameters={"profile_name": "smoke"},
        cwd=str(nb.parent),
        kernel_name="python3",
        progress_bar=False,
    )
    cells = json.loads(out.read_text())["cells"]
    errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert _surface_problems(cells) == []
    outputs = json.dumps([o for c in cells for o in c.get("outputs", [])])
    assert str(ROOT) not in outputs, "a machine path leaked into the saved outputs"
    figures = Path(os.environ["UMI_FIGURES"])
    if nb.stem == "01_convert":
        assert (figures / "01_dataset_smoke.png").is_file() and (figures / "01_dataset_smoke.pdf").is_file()
        data = Path(os.environ["UMI_RUNS"]) / "smoke" / "data"
        assert json.loads((data / "test_steps.json").read_text())[0]["plan"] in {"call", "finish", "give up"}
    if nb.stem == "02_glpft":
        assert (figures / "02_glpft.pdf").is_file() and (figures / "02_loss_glpft_smoke.pdf").is_file()
        models = Path(os.environ["UMI_RUNS"]) / "smoke" / "models"
        for folder, adapter in [("glpft", "summarizer"), ("one-stage", "caller"), ("multi-task", "multitask")]:
            assert (models / folder / adapter / "adapter_config.json").is_file()
    if nb.stem == "04_results":
        for name in ("table1", "confusion_degraded", "by_step", "by_group"):
            assert (figures / f"04_{name}_smoke.pdf").is_file(), name
        metrics = Path(os.environ["UMI_RUNS"]) / "smoke" / "metrics"
        assert json.loads((metrics / "oracle.json").read_text())["plan_em"] == 1.0


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stripped_and_paired(nb):
    import jupytext

    cells = json.loads(nb.read_text())["cells"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in cells if c["cell_type"] == "code")
    paired = nb.with_suffix(".py")
    assert paired.is_file(), f"{nb.name} has no py:percent twin"
    from_py = jupytext.read(paired)
    from_nb = jupytext.read(nb)
    assert [c.source for c in from_py.cells] == [c.source for c in from_nb.cells]


def test_notebook_cells_call_the_library():
    """Thin notebooks: every code cell is at most a few lines (one umi_lib call, plus display)."""
    import jupytext

    for nb in NOTEBOOKS:
        for cell in jupytext.read(nb).cells:
            if cell.cell_type == "code" and not cell.source.startswith(SETUP_MARKER):
                lines = [ln for ln in cell.source.splitlines() if ln.strip() and not ln.strip().startswith("#")]
                assert len(lines) <= 8, f"{nb.name}: a code cell has {len(lines)} lines"


def test_the_html_report_embeds_every_figure(executed, tmp_path):
    """``make html``: one self-contained page per executed notebook, figures inline, and an index."""
    from umi_lib.workbook import report

    if not list(executed.glob("*.ipynb")):
        pytest.skip("needs the smoke runs above")
    pages = report.build(executed, tmp_path)
    assert [p.stem for p in pages] == [nb.stem for nb in NOTEBOOKS if (executed / nb.name).is_file()]
    for page in pages:
        text = page.read_text()
        assert "data:image/png;base64," in text, page.name
        external = re.findall(r'<img[^>]*src="(https?://[^"]+)"', text)
        assert all("colab-badge" in src for src in external), external  # figures are inline; only the badge links
    assert all(p.name in (tmp_path / "index.html").read_text() for p in pages)
    with pytest.raises(FileNotFoundError):
        report.build(tmp_path / "nothing", tmp_path / "out")


def test_surface_checks_catch_what_users_reported():
    cells = [
        {"cell_type": "code", "source": "results.table1_plot(r, p)", "outputs": [
            {"output_type": "execute_result", "data": {"text/plain": "<Figure size 700x260 with 1 Axes>"}}]},
        {"cell_type": "code", "source": "x", "outputs": [{"output_type": "stream", "name": "stderr", "text": "w"}]},
    ]  # fmt: skip
    problems = _surface_problems(cells)
    assert any(p.startswith("no inline figure") for p in problems) and any(p.startswith("raw repr") for p in problems)
    assert any(p.startswith("stderr") for p in problems)
