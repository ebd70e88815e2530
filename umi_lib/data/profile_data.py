"""A profile's converted data: the bundled sources → ``runs/<profile>/data/`` (role files and test steps).

:func:`prepare_data` is what notebook 01 runs and what ``umi train`` runs (saying so) when the role files
are missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

from umi_lib import prompts
from umi_lib.config import Profile
from umi_lib.data import pipeline, roles, steps
from umi_lib.data.budget import Budget
from umi_lib.data.records import Report
from umi_lib.paths import runs_dir
from umi_lib.train.bases import token_counter


@dataclass
class PreparedData:
    """Where a profile's converted data lives, with the reports of both conversions."""

    out_dir: Path
    report: Report
    steps_file: Path
    steps_report: Report

    def role_file(self, role: str) -> Path:
        return self.out_dir / roles.ROLE_FILES[role]


def training_reserve(count: Callable[[str], int]) -> int:
    """Tokens a training sample needs besides prompt and target: BOS, EOS and the ``"system: "`` prefix."""
    return 2 + count(prompts.TRAINING_SYSTEM_PREFIX)


def prepare_data(profile: Profile, out_dir: str | Path | None = None, progress: bool = True) -> PreparedData:
    """Convert the profile's raw answers and stage-1 files into role files, and extract the test steps."""
    out = Path(out_dir) if out_dir else runs_dir(profile.name) / "data"
    count = token_counter(profile.base_model)
    state = roles.BuildState(compat=profile.data.compat)
    writers = pipeline.RoleWriters(out, extra=("stage2",))
    d = profile.data
    exclude = d.resolve(d.exclude_ids) if d.exclude_ids else None
    sources = chain(
        pipeline.answers_trajectories(d.resolve(d.answers_dir), state, writers, exclude, progress),
        *(pipeline.stage1_trajectories(d.resolve(f), state, writers) for f in d.stage1_files),
    )
    limit = Budget(count, profile.max_tokens, training_reserve(count))
    report = pipeline.write_roles(sources, state, writers, None if d.compat else limit)
    report.write(out)
    steps_file = out / "test_steps.json"
    steps_report = steps.extract_steps(d.resolve(d.test_file), steps_file, compat=d.compat)
    steps_report.write(out, "steps_report")
    return PreparedData(out, report, steps_file, steps_report)
