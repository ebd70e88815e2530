"""The package layout: the engine never imports the notebooks' layer, and no module grows past ~400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "umi_lib"
FRONT_ENDS = {"umi_lib.cli"}  # the command line, like the notebooks, may use the workbook's tables
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every umi_lib module ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("umi_lib"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("umi_lib"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


MODULES = sorted(PKG.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_engine_never_imports_the_workbook(path):
    name = _module_name(path)
    if name.startswith("umi_lib.workbook") or name in FRONT_ENDS:
        return
    upward = sorted(i for i in _imports(path) if i == "umi_lib.workbook" or i.startswith("umi_lib.workbook."))
    assert not upward, f"{name} imports the notebooks' layer: {upward}"


def test_the_import_walk_sees_an_upward_import(tmp_path):
    """The check above would catch a violation, including a function-level import."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from umi_lib.workbook import plots\n    return plots\n")
    assert "umi_lib.workbook.plots" in _imports(bad)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_no_module_is_over_the_size_limit(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{_module_name(path)} has {lines} lines; split it along its sections"


def test_every_stage_package_is_documented_in_data_flow_order():
    import umi_lib

    doc = umi_lib.__doc__ or ""
    stages = ["umi_lib.data", "umi_lib.train", "umi_lib.agent", "umi_lib.evaluation", "umi_lib.realtime",
              "umi_lib.workbook"]  # fmt: skip
    positions = [doc.find(f":mod:`{s}`") for s in stages]
    assert -1 not in positions and positions == sorted(positions)
