"""Stage "data" of a profile: convert the bundled sources into ``runs/<profile>/data/`` and describe them.

One call per notebook cell: :func:`prepare_data` writes the four role files (all sources merged, long samples
shortened to the profile's token budget) and the static-evaluation steps; the other functions turn those files
into tables for the notebook.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import pandas as pd

from umi_lib import convert, prompts
from umi_lib.config import Profile
from umi_lib.formats import Report, Trajectory, load_json, read_trajectories
from umi_lib.models import token_counter
from umi_lib.paths import runs_dir


@dataclass
class PreparedData:
    """Where a profile's converted data lives, with the reports of both conversions."""

    out_dir: Path
    report: Report
    steps_file: Path
    steps_report: Report

    def role_file(self, role: str) -> Path:
        return self.out_dir / convert.ROLE_FILES[role]


def training_reserve(count: Callable[[str], int]) -> int:
    """Tokens a training sample needs besides prompt and target: BOS, EOS and the ``"system: "`` prefix."""
    return 2 + count(prompts.TRAINING_SYSTEM_PREFIX)


def prepare_data(profile: Profile, out_dir: str | Path | None = None, progress: bool = True) -> PreparedData:
    """Convert the profile's raw answers and stage-1 files into role files, and extract the test steps."""
    out = Path(out_dir) if out_dir else runs_dir(profile.name) / "data"
    count = token_counter(profile.base_model)
    state = convert.BuildState(compat=profile.data.compat)
    writers = convert.RoleWriters(out, extra=("stage2",))
    d = profile.data
    exclude = d.resolve(d.exclude_ids) if d.exclude_ids else None
    sources = chain(
        convert.answers_trajectories(d.resolve(d.answers_dir), state, writers, exclude, progress),
        *(convert.stage1_trajectories(d.resolve(f), state, writers) for f in d.stage1_files),
    )
    budget = convert.Budget(count, profile.max_tokens, training_reserve(count))
    report = convert.write_roles(sources, state, writers, None if d.compat else budget)
    report.write(out)
    steps_file = out / "test_steps.json"
    steps_report = convert.extract_steps(d.resolve(d.test_file), steps_file, compat=d.compat)
    steps_report.write(out, "steps_report")
    return PreparedData(out, report, steps_file, steps_report)


# ---------------------------------------------------------------------------------------------------
# Tables for the notebook
# ---------------------------------------------------------------------------------------------------


def report_table(report: Report) -> pd.DataFrame:
    """Counts of a conversion as a two-column table (read, converted, rejected by reason, notes)."""
    rows = [("read", report.read), ("converted", report.converted)]
    rows += [(f"rejected: {k}", v) for k, v in sorted(report.rejected.items())]
    rows += [(f"samples: {k}", v) for k, v in report.samples.items()]
    rows += [(f"note: {k}", v) for k, v in sorted(report.notes.items())]
    return pd.DataFrame(rows, columns=["count", "value"])


def prompt_lengths(data: PreparedData, count: Callable[[str], int]) -> dict[str, list[int]]:
    """Token length of every prompt, per role."""
    return {role: [count(s["input"]) for s in load_json(data.role_file(role))] for role in convert.ROLE_FILES}


def role_table(data: PreparedData, count: Callable[[str], int]) -> pd.DataFrame:
    """Samples per role with prompt/target token statistics and how many were shortened."""
    rows = []
    for role in convert.ROLE_FILES:
        samples = load_json(data.role_file(role))
        prompt = [count(s["input"]) for s in samples] or [0]
        target = [count(s["target"]) for s in samples] or [0]
        rows.append(
            {
                "role": role,
                "samples": len(samples),
                "shortened": sum(1 for s in samples if s.get("dropped_history_turns")),
                "prompt tokens (median)": int(statistics.median(prompt)),
                "prompt tokens (max)": max(prompt),
                "target tokens (median)": int(statistics.median(target)),
            }
        )
    return pd.DataFrame(rows)


def label_counts(data: PreparedData) -> dict[str, int]:
    """Planner labels in the training data (``Next: caller.`` / ``conclusion.`` / ``give up.``)."""
    labels = Counter(prompts.label_of(s["target"]) for s in load_json(data.role_file("planner")))
    return {label: labels.get(label, 0) for label in prompts.NEXT_LABELS}


def first_trajectory(path: str | Path, min_turns: int = 6) -> Trajectory:
    """The first trajectory of a stage-2 file with at least ``min_turns`` turns (for the worked example)."""
    report = Report()
    for traj in read_trajectories(path, report):
        if len(traj.conversations) >= min_turns:
            return traj
    raise ValueError(f"{path}: no trajectory with {min_turns} turns")


def example_trajectory(profile: Profile, min_turns: int = 6) -> Trajectory:
    """Convert the official stage-1 example (into ``runs/<profile>/example/``) and return a worked example."""
    out = runs_dir(profile.name) / "example"
    source = profile.data.resolve(profile.data.stage1_files[0])
    convert.convert_stage1_file(source, out, compat=profile.data.compat)
    return first_trajectory(out / "raw_data_stage_2.json", min_turns)


def raw_chain_table(profile: Profile, example: Trajectory, width: int = 90) -> pd.DataFrame:
    """The raw ToolBench messages (stage 1) behind ``example``: role, content, function call."""
    from umi_lib.formats import load_records

    items = load_records(profile.data.resolve(profile.data.stage1_files[0]), Report())
    rows = []
    for k, msg in enumerate(items[int(example.record_id)]["chains"]):
        call = msg.get("function_call") or {}
        rows.append(
            {
                "message": k,
                "role": msg["role"],
                "content": _short(msg.get("content") or "", width),
                "function_call": _short(f"{call.get('name')}({call.get('arguments')})", width) if call else "",
            }
        )
    return pd.DataFrame(rows)


def trajectory_table(traj: Trajectory, width: int = 90) -> pd.DataFrame:
    """The stage-2 turns of one trajectory, one row each."""
    rows = [{"turn": k, "from": t.role, "value": _short(t.value, width)} for k, t in enumerate(traj.conversations)]
    return pd.DataFrame(rows)


def samples_table(traj: Trajectory, count: Callable[[str], int], tail: int = 60, width: int = 70) -> pd.DataFrame:
    """Every role sample one trajectory yields: the end of its prompt, its target and token counts."""
    state = convert.BuildState()
    rows = []
    for role, samples in convert.role_samples(traj, state).items():
        for k, s in enumerate(samples):
            rows.append(
                {
                    "role": role,
                    "sample": k,
                    "history turns": len(s.history),
                    "prompt ends with": "..." + s.input[-tail:].replace("\n", "\\n"),
                    "target": _short(s.target, width),
                    "prompt tokens": count(s.input),
                    "target tokens": count(s.target),
                }
            )
    return pd.DataFrame(rows)


def render_sample(traj: Trajectory, role: str, index: int = 0) -> str:
    """The full prompt and target of one role sample, as the model sees them (for printing)."""
    samples = convert.role_samples(traj, convert.BuildState())[role]
    s = samples[index]
    return f"{s.input}\n----- target -----\n{s.target}"


def _short(text: str, width: int) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 3] + "..."
