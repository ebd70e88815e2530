"""environment.yml and pyproject.toml agree on every pinned package."""

from __future__ import annotations

import re

import tomllib
import yaml
from conftest import ROOT


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[]", req, maxsplit=1)[0].lower()


def test_environment_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for extra in project["optional-dependencies"].values() for r in extra]
    reqs = list(project["dependencies"]) + [r for r in extras if _name(r) != project["name"]]  # an extra of ours
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pip = [r for r in pip if not r.startswith("-e")]
    assert {_name(r): r for r in reqs} == {_name(r): r for r in pip}
