"""A profile's converted data: the bundled sources → ``runs/<profile>/data/`` (role files and test steps).

:func:`prepare_data` is what notebook 01 runs and what ``umi train`` runs (saying so) when the role files
are missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from itertools import chain
from pathlib import Path

from umi_lib import manifest, prompts
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


DATA_FORMAT = 1  # bump when the conversion's output changes for the same inputs


def data_dir(profile: Profile) -> Path:
    return runs_dir(profile.name) / "data"


def data_inputs(profile: Profile) -> dict:
    """Everything the converted role files depend on: sources (hashed), conversion settings, tokenizer."""
    d = profile.data
    sources = {"answers_dir": d.answers_dir, "exclude_ids": d.exclude_ids, **{f: f for f in d.stage1_files}}
    return {
        "format": DATA_FORMAT,
        "data": asdict(d),
        "sources": {k: manifest.tree_digest(d.resolve(v)) for k, v in sources.items() if v},
        "max_tokens": profile.max_tokens,
        "tokenizer": profile.base_model,
    }


def data_is_current(profile: Profile) -> list[str]:
    """Why the profile's converted data must be remade (empty: it is current)."""
    out = data_dir(profile)
    missing = [f for f in roles.ROLE_FILES.values() if not (out / f).is_file()]
    if missing:
        return [f"missing {', '.join(missing)}"]
    return manifest.stale_reasons(out, data_inputs(profile))


def prepare_data(profile: Profile, out_dir: str | Path | None = None, progress: bool = True) -> PreparedData:
    """Convert the profile's raw answers and stage-1 files into role files, and extract the test steps."""
    out = Path(out_dir) if out_dir else data_dir(profile)
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
    manifest.write(out, "role-data", data_inputs(profile))
    steps_file = out / "test_steps.json"
    steps_report = steps.extract_steps(d.resolve(d.test_file), steps_file, compat=d.compat)
    steps_report.write(out, "steps_report")
    return PreparedData(out, report, steps_file, steps_report)
