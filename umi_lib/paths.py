"""Where things live: the repository root, bundled data, run outputs, figures.

Notebooks run with different working directories (Jupyter, papermill, pytest, Colab), so every path is
resolved from the repository root: ``UMI_ROOT`` if set; else the checkout this package sits in (an editable
install); else, for a regular (non-editable) install, the first folder at or above the working directory that
holds the workbook's ``configs/profiles/`` and ``data/`` (a notebook runs inside ``notebooks/`` of a checkout).
"""

from __future__ import annotations

import os
from pathlib import Path


class RootNotFound(RuntimeError):
    """No workbook checkout found: the message says how to point at one."""


def _is_checkout(folder: Path) -> bool:
    return (folder / "configs" / "profiles").is_dir() and (folder / "data").is_dir()


def repo_root() -> Path:
    env = os.environ.get("UMI_ROOT")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here, *here.parents):
        if (candidate / "pyproject.toml").is_file() and (candidate / "umi_lib").is_dir():
            return candidate
    cwd = Path.cwd().resolve()
    for candidate in (cwd, *cwd.parents):
        if _is_checkout(candidate):
            return candidate
    raise RootNotFound(
        f"umi_lib is installed at {here} but no workbook checkout (configs/profiles/ and data/) was found at or "
        f"above {cwd}; run from inside a clone of the repository or set UMI_ROOT to it"
    )


def data_path(relative: str | os.PathLike) -> Path:
    """A bundled data file; ``foo.json`` resolves to ``foo.json.gz`` when only the gzipped copy exists."""
    path = repo_root() / "data" / relative
    if not path.exists() and Path(str(path) + ".gz").exists():
        return Path(str(path) + ".gz")
    return path


def runs_dir(profile: str) -> Path:
    """``runs/<profile>/``: everything a run produces (ignored by git). ``UMI_RUNS`` overrides the root."""
    root = Path(os.environ.get("UMI_RUNS", repo_root() / "runs"))
    return root / profile


def figures_dir() -> Path:
    """``figures/`` (``UMI_FIGURES`` overrides it, e.g. for tests)."""
    return Path(os.environ.get("UMI_FIGURES", repo_root() / "figures"))


def cache_dir() -> Path:
    """Model cache (``UMI_CACHE``, default ``data/external/models``; ignored by git)."""
    return Path(os.environ.get("UMI_CACHE", repo_root() / "data" / "external" / "models"))
