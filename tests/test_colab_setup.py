"""The Colab setup cell, the "Open in Colab" badges and the notebooks' kernelspec.

Every notebook's first code cell (marked ``# Colab setup``) is the same. In a checkout, or wherever ``umi_lib``
imports, it only prints a line. On a fresh Colab runtime it clones the repository named in pyproject.toml's
``[project.urls]``, installs it with the ``notebook`` and ``gpu`` extras, imports it without a restart, moves to
its ``notebooks/`` folder and picks the ``colab-t4`` profile when a GPU is there. Colab is faked here: a stub
``google.colab`` on ``PYTHONPATH``, and ``git``, ``pip`` and ``nvidia-smi`` executables on ``PATH`` that record
their arguments. ``python -S`` (no site-packages) makes ``umi_lib`` not importable, as on a fresh runtime.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MARKER = "# Colab setup"
COLAB_HOME = "/content/umi-workbook"  # where the cell puts the checkout on Colab
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def repository() -> str:
    """The repository URL: pyproject.toml's ``[project.urls] Repository``, the one place it is written."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]


def cells(nb: Path) -> list[tuple[str, str, dict]]:
    """``(cell type, source, metadata)`` of every cell of a notebook."""
    out = []
    for c in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
        source = c["source"] if isinstance(c["source"], str) else "".join(c["source"])
        out.append((c["cell_type"], source, c.get("metadata", {})))
    return out


def setup_cell(nb: Path) -> str:
    found = [s for kind, s, _ in cells(nb) if kind == "code" and s.startswith(MARKER)]
    assert len(found) == 1, f"{nb.name}: {len(found)} cells start with {MARKER!r}"
    return found[0]


def test_four_notebooks_share_one_setup_cell_before_the_parameters():
    assert len(NOTEBOOKS) == 4
    sources = {nb.name: setup_cell(nb) for nb in NOTEBOOKS}
    assert len(set(sources.values())) == 1, "the Colab setup cells differ"
    for nb in NOTEBOOKS:
        code = [(s, meta) for kind, s, meta in cells(nb) if kind == "code"]
        assert code[0][0].startswith(MARKER), f"{nb.name}: the setup cell is not the first code cell"
        assert "parameters" in code[1][1].get("tags", []), f"{nb.name}: the parameters cell should follow it"
    source = next(iter(sources.values()))
    # plain Python (testable, and the same in the py:percent twin): no shell or line magics
    assert not [ln for ln in source.splitlines() if ln.lstrip().startswith(("!", "%"))]


def test_setup_cell_clones_the_repository_of_pyproject():
    source = setup_cell(NOTEBOOKS[0])
    assert repository() == "https://github.com/umi-workbook/umi-workbook"
    assert f'"{repository()}"' in source
    assert source.count(COLAB_HOME) == 1, "the checkout folder should be written once (the harness replaces it)"


def test_open_in_colab_badge_in_each_first_markdown_cell():
    owner_repo = repository().removeprefix("https://github.com/")
    for nb in NOTEBOOKS:
        first = next(s for kind, s, _ in cells(nb) if kind == "markdown")
        badge = (
            "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{owner_repo}/blob/main/notebooks/{nb.name})"
        )
        assert badge in first, f"{nb.name}: no Colab badge for this notebook in its first Markdown cell"


def test_kernelspec_is_the_one_ipykernel_installs():
    """JupyterLab marks a notebook modified on opening when the saved display name differs from the kernel's."""
    for nb in NOTEBOOKS:
        assert json.loads(nb.read_text(encoding="utf-8"))["metadata"]["kernelspec"] == KERNELSPEC, nb.name
        assert "display_name: Python 3 (ipykernel)" in nb.with_suffix(".py").read_text(encoding="utf-8")
    installed = Path(sys.prefix) / "share" / "jupyter" / "kernels" / "python3" / "kernel.json"
    if installed.is_file():
        assert json.loads(installed.read_text())["display_name"] == KERNELSPEC["display_name"]


def test_a_papermill_profile_name_wins_over_the_profile_the_cell_sets(monkeypatch):
    from umi_lib import config

    monkeypatch.setenv("UMI_PROFILE", "colab-t4")
    assert config.load_profile("smoke").name == "smoke"
    assert config.load_profile(None).name == "colab-t4"


# --- running the cell ----------------------------------------------------------------------------------------

FAKE_TOOL = """#!{python}
import json, os, sys
with open({log!r}, "a") as fh:
    fh.write(json.dumps([{name!r}, *sys.argv[1:]]) + "\\n")
if {name!r} == "git" and sys.argv[1:2] == ["clone"]:
    os.makedirs(os.path.join(sys.argv[-1], "notebooks"))
"""

HARNESS = """
import importlib.util, json, os, sys
if {colab}:
    import google.colab  # a Colab kernel has imported it before any cell runs
before = importlib.util.find_spec("umi_lib") is not None
exec(compile(open({cell!r}).read(), "colab-setup-cell", "exec"), {{"__name__": "__main__"}})
print(json.dumps({{"umi_lib_before": before, "cwd": os.getcwd(), "profile": os.environ.get("UMI_PROFILE"),
                  "path0": sys.path[0]}}))
"""


def run_cell(
    tmp: Path,
    *,
    colab: bool,
    importable: bool,
    gpu: bool,
    home_exists: bool = False,
    profile: str | None = None,
    cwd: Path | None = None,
) -> tuple[list[str], dict, list[list[str]]]:
    """Run the setup cell in a fresh interpreter; returns its printed lines, final state and recorded calls."""
    home = tmp / "content" / "umi-workbook"
    if home_exists:
        (home / "notebooks").mkdir(parents=True)
    log, fakebin, stubs = tmp / "calls.jsonl", tmp / "bin", tmp / "stubs"
    fakebin.mkdir()
    for name in ("git", "pip") + (("nvidia-smi",) if gpu else ()):
        tool = fakebin / name
        tool.write_text(FAKE_TOOL.format(python=sys.executable, log=str(log), name=name))
        tool.chmod(0o755)
    (stubs / "google" / "colab").mkdir(parents=True)
    (stubs / "google" / "__init__.py").write_text("")
    (stubs / "google" / "colab" / "__init__.py").write_text('"""A stand-in for Colab\'s google.colab."""\n')
    cell = tmp / "cell.py"
    cell.write_text(setup_cell(NOTEBOOKS[0]).replace(COLAB_HOME, str(home)))
    harness = tmp / "harness.py"
    harness.write_text(HARNESS.format(colab=colab, cell=str(cell)))
    start = cwd or tmp / "start"
    start.mkdir(exist_ok=True)
    # only what the cell may read: no UMI_PROFILE from the test session, no real git, pip or nvidia-smi
    env = {"PATH": str(fakebin), "PYTHONPATH": str(stubs) if colab else ""}
    if profile:
        env["UMI_PROFILE"] = profile
    cmd = [sys.executable, *([] if importable else ["-S"]), str(harness)]
    out = subprocess.run(cmd, cwd=start, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    *printed, state = out.stdout.splitlines()
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    state = json.loads(state)
    assert state.pop("umi_lib_before") is importable, "the harness did not set up the case it meant to"
    return printed, state, calls


def test_in_a_checkout_it_only_prints_one_line(tmp_path):
    notebooks = ROOT / "notebooks"
    printed, state, calls = run_cell(tmp_path, colab=False, importable=True, gpu=True, cwd=notebooks)
    assert calls == []
    assert printed == ["not on Colab: nothing to set up"]  # no machine path in a saved notebook
    assert state["cwd"] == str(notebooks) and state["profile"] is None


def test_on_colab_with_umi_lib_importable_it_installs_nothing(tmp_path):
    printed, state, calls = run_cell(tmp_path, colab=True, importable=True, gpu=True)
    assert calls == []
    assert len(printed) == 1 and state["cwd"] == str(tmp_path / "start") and state["profile"] is None


@pytest.mark.parametrize("gpu", [True, False], ids=["nvidia-smi", "no-nvidia-smi"])
def test_on_a_fresh_colab_runtime_it_clones_installs_and_moves_to_notebooks(tmp_path, gpu):
    printed, state, calls = run_cell(tmp_path, colab=True, importable=False, gpu=gpu)
    home = tmp_path / "content" / "umi-workbook"
    assert calls == [
        ["git", "clone", "--depth", "1", repository(), str(home)],
        ["pip", "install", "-q", "-e", f"{home}[gpu]"],
    ]
    assert state["cwd"] == str(home / "notebooks")
    assert state["path0"] == str(home), "the fresh checkout must import without a restart"
    assert state["profile"] == ("colab-t4" if gpu else None)
    assert printed == [f"Colab: working in {home / 'notebooks'}"]


def test_an_explicit_profile_is_kept_on_colab(tmp_path):
    _, state, calls = run_cell(tmp_path, colab=True, importable=False, gpu=True, profile="gpu-7b")
    assert [c[:2] for c in calls] == [["git", "clone"], ["pip", "install"]]
    assert state["profile"] == "gpu-7b"


def test_after_a_runtime_restart_it_moves_to_notebooks_without_installing(tmp_path):
    """The editable install survives a restart (umi_lib imports), the working directory and profile do not."""
    _, state, calls = run_cell(tmp_path, colab=True, importable=True, gpu=True, home_exists=True)
    assert calls == []
    assert state["cwd"] == str(tmp_path / "content" / "umi-workbook" / "notebooks")
    assert state["profile"] == "colab-t4"
