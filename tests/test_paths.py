"""The library finds the workbook's data and configs from an editable install, a regular install, or UMI_ROOT."""

from __future__ import annotations

import pytest
from conftest import ROOT

from umi_lib import paths


def test_editable_install_finds_its_checkout():
    assert paths.repo_root() == ROOT and paths.data_path("README.md").is_file()


def test_regular_install_finds_the_checkout_from_the_working_directory(tmp_path, monkeypatch):
    """Installed into site-packages (no pyproject.toml above the package): the notebook's folder decides."""
    monkeypatch.setattr(paths, "__file__", str(tmp_path / "site-packages" / "umi_lib" / "paths.py"))
    monkeypatch.chdir(ROOT / "notebooks")
    assert paths.repo_root() == ROOT
    assert (paths.repo_root() / "configs" / "profiles" / "cpu.yaml").is_file()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(paths.RootNotFound, match="UMI_ROOT"):
        paths.repo_root()
    monkeypatch.setenv("UMI_ROOT", str(ROOT))
    assert paths.repo_root() == ROOT
