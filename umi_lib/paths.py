"""Where things live: the repository root, bundled data, run outputs, figures.

Notebooks run with different working directories (Jupyter, papermill, pytest, Colab), so every path is
resolved from the repository root, found by walking up to ``pyproject.toml``.
"""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    env = os.environ.get("UMI_ROOT")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here, *here.parents):
        if (candidate / "pyproject.toml").is_file() and (candidate / "umi_lib").is_dir():
            return candidate
    return Path.cwd()


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
