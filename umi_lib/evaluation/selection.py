"""Which test steps a profile evaluates: the bundled out-of-domain steps, grouped and subset (seeded)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from umi_lib import manifest
from umi_lib.config import Profile
from umi_lib.data.jsonio import load_json
from umi_lib.data.steps import extract_steps, steps_inputs
from umi_lib.evaluation.metrics import OFFICIAL_KEYS
from umi_lib.evaluation.static import select_steps
from umi_lib.paths import runs_dir


def eval_steps(profile: Profile) -> list[dict[str, Any]]:
    """The profile's fixed subset of the out-of-domain steps (``eval.limit`` / ``eval.per_trajectory``)."""
    return select_steps(evaluation_steps(profile), profile.eval.limit, profile.eval.per_trajectory, profile.seed)


def tool_count_group(n_tools: int) -> str:
    """Difficulty bucket of a step by how many tools its query offers (the OOD file has no G1/G2/G3 split)."""
    return "1-3 tools" if n_tools <= 3 else "4-6 tools" if n_tools <= 6 else "7+ tools"


def evaluation_steps(profile: Profile) -> list[dict[str, Any]]:
    """The profile's static-evaluation steps (from notebook 01's output, else extracted now)."""
    path = runs_dir(profile.name) / "data" / "test_steps.json"
    test_file = profile.data.resolve(profile.data.test_file)
    reasons = (
        ["missing"] if not path.exists() else manifest.stale_reasons(path, steps_inputs(test_file, profile.data.compat))
    )
    if reasons:
        print(f"extracting the test steps into {path.name} ({'; '.join(reasons)})")
        extract_steps(test_file, path, compat=profile.data.compat)
    steps = load_json(path)
    for s in steps:
        s.setdefault("group", tool_count_group(len(s["tools"])))
    return steps


def metrics_path(profile: Profile, name: str) -> Path:
    return runs_dir(profile.name) / "metrics" / f"{name}.json"


def load_metrics(profile: Profile) -> dict[str, dict[str, Any]]:
    """Every ``runs/<profile>/metrics/*.json``, by file stem; unreadable files are skipped with a warning."""
    found = {}
    for path in sorted((runs_dir(profile.name) / "metrics").glob("*.json")):
        if path.name.endswith(manifest.SUFFIX):
            continue
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            warnings.warn(f"skipping {path}: {exc}", stacklevel=2)
            continue
        if not isinstance(result, dict) or not set(OFFICIAL_KEYS) <= set(result):
            warnings.warn(f"skipping {path}: not a umi score metrics file", stacklevel=2)
            continue
        found[path.stem] = result
    return found
