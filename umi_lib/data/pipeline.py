"""The pipelines behind ``umi convert``: raw answers or stage-1/stage-2 files → stage files and role files."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from umi_lib.data.budget import Budget, fit_samples
from umi_lib.data.jsonio import JsonListWriter, load_json
from umi_lib.data.readers import (
    iter_answer_files,
    load_records,
    query_id_of,
    read_trajectories,
)
from umi_lib.data.records import FormatError, Report, RoleSample, Trajectory
from umi_lib.data.roles import BUILDERS, ROLE_FILES, BuildState
from umi_lib.data.stage1 import raw_chain_from_json, stage1_item
from umi_lib.data.stage2 import stage2
from umi_lib.progress import tqdm


class RoleWriters:
    """Output files (four role files, optionally stage 1 / stage 2), written as trajectories stream in."""

    def __init__(self, out_dir: str | os.PathLike, extra: tuple[str, ...] = ()):
        out = Path(out_dir)
        names = {key: out / STAGE_FILES[key] for key in extra}
        names.update({role: out / name for role, name in ROLE_FILES.items()})
        self.writers = {key: JsonListWriter(path) for key, path in names.items()}

    def write(self, key: str, item: Any) -> None:
        if key in self.writers:
            self.writers[key].write(item)

    def close(self, ok: bool) -> None:
        for w in self.writers.values():
            w.close() if ok else w.abort()


STAGE_FILES = {"stage1": "raw_data_stage_1.json", "stage2": "raw_data_stage_2.json"}


def role_samples(traj: Trajectory, state: BuildState) -> dict[str, list[RoleSample]]:
    return {role: build(traj, state) for role, build in BUILDERS.items()}


def load_exclusions(exclude_dir: str | os.PathLike | None, compat: bool) -> Callable[[str, str], bool]:
    """Test-id exclusion: ``excluded(group, query_id)``. See ``BUG_FIXES`` for the per-group rule."""
    if exclude_dir is None:
        return lambda group, qid: False
    by_group: dict[str, set[str]] = {}
    files = sorted(Path(exclude_dir).glob("*.json*"))
    if not files:
        raise FormatError("no_test_ids", f"no *.json test-id files in {exclude_dir}")
    for path in files:
        ids = load_json(path)
        prefix = path.name[:2] if path.name[:2] in ("G1", "G2", "G3") else "*"
        by_group.setdefault(prefix, set()).update(str(i) for i in list(ids))
    everything = set().union(*by_group.values())
    if compat:
        return lambda group, qid: qid in everything
    return lambda group, qid: qid in by_group.get(group[:2], set()) or qid in by_group.get("*", set())


def answers_trajectories(
    answers_dir: str | os.PathLike,
    state: BuildState,
    writers: RoleWriters,
    exclude_ids: str | os.PathLike | None = None,
    progress: bool = True,
) -> Iterator[Trajectory]:
    """Stream raw DFS answer files -> trajectories (stage-1/2 items go to ``writers`` on the way)."""
    report, excluded = state.report, load_exclusions(exclude_ids, state.compat)
    files = iter_answer_files(answers_dir, report)
    for group, path in tqdm(files, desc="convert answers", unit="file", disable=not progress):
        report.read += 1
        if excluded(group, query_id_of(path)):
            report.note("excluded_test_ids")
            continue
        try:
            item = stage1_item(load_json(path), str(path))
            traj = stage2(item, report, state.compat)
        except FormatError as exc:
            report.reject(path, query_id_of(path), exc.reason, exc.detail)
            continue
        writers.write("stage1", item.to_json())
        writers.write("stage2", traj.to_json())
        yield traj


def stage1_trajectories(
    stage1_file: str | os.PathLike, state: BuildState, writers: RoleWriters
) -> Iterator[Trajectory]:
    """Stage-1 file (``raw_data_stage_1.json``) -> trajectories (stage-2 items go to ``writers``)."""
    report = state.report
    for k, obj in enumerate(load_records(stage1_file, report) or []):
        report.read += 1
        try:
            traj = stage2(raw_chain_from_json(obj, str(stage1_file), str(k)), report, state.compat)
        except FormatError as exc:
            report.reject(stage1_file, str(k), exc.reason, exc.detail)
            continue
        writers.write("stage2", traj.to_json())
        yield traj


def stage2_trajectories(
    stage2_file: str | os.PathLike, state: BuildState, writers: RoleWriters
) -> Iterator[Trajectory]:
    for traj in read_trajectories(stage2_file, state.report):
        writers.write("stage2", traj.to_json())
        yield traj


def write_roles(
    trajectories: Iterable[Trajectory], state: BuildState, writers: RoleWriters, budget: Budget | None = None
) -> Report:
    """Build the four role sample sets of every trajectory and stream them into ``writers``.

    With a ``budget`` long samples are shortened (or rejected) and counted in ``state.report``.
    """
    ok = False
    try:
        for traj in trajectories:
            for role, samples in role_samples(traj, state).items():
                if budget is not None:
                    samples = list(fit_samples(samples, budget.count, budget.max_tokens, state.report, budget.reserve))
                state.report.samples[role] += len(samples)
                for s in samples:
                    writers.write(role, s.to_json())
            state.report.converted += 1
        ok = True
    finally:
        writers.close(ok)
    return state.report


def convert_toolbench(
    answers_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    exclude_ids: str | os.PathLike | None = None,
    compat: bool = False,
    budget: Budget | None = None,
    progress: bool = True,
) -> Report:
    """``umi convert toolbench``: raw DFS answers -> stage 1, stage 2 and the four role files (streamed)."""
    state = BuildState(compat=compat)
    writers = RoleWriters(out_dir, extra=("stage1", "stage2"))
    report = write_roles(
        answers_trajectories(answers_dir, state, writers, exclude_ids, progress), state, writers, budget
    )
    report.write(out_dir)
    return report


def convert_stage1_file(
    stage1_file: str | os.PathLike, out_dir: str | os.PathLike, compat: bool = False, budget: Budget | None = None
) -> Report:
    """``umi convert stage1``: a stage-1 file -> stage 2 and the four role files."""
    state = BuildState(compat=compat)
    writers = RoleWriters(out_dir, extra=("stage2",))
    report = write_roles(stage1_trajectories(stage1_file, state, writers), state, writers, budget)
    report.write(out_dir)
    return report


def convert_roles(
    stage2_file: str | os.PathLike, out_dir: str | os.PathLike, compat: bool = False, budget: Budget | None = None
) -> Report:
    """``umi convert roles``: stage-2 trajectories (either label format) -> the four role files."""
    state = BuildState(compat=compat)
    writers = RoleWriters(out_dir)
    report = write_roles(stage2_trajectories(stage2_file, state, writers), state, writers, budget)
    report.write(out_dir)
    return report
