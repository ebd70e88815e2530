"""Every notebook runs top to bottom in the smoke profile; notebooks are paired and stripped."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_smoke_mode(nb, tmp_path, monkeypatch):
    import papermill

    monkeypatch.setenv("UMI_PROFILE", "smoke")
    out = tmp_path / nb.name
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
            if cell.cell_type == "code":
                lines = [ln for ln in cell.source.splitlines() if ln.strip() and not ln.strip().startswith("#")]
                assert len(lines) <= 8, f"{nb.name}: a code cell has {len(lines)} lines"
