"""Notebook 01 in library calls: one trajectory through every conversion step, and tables of the converted
data (:func:`umi_lib.data.profile_data.prepare_data` writes it).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from umi_lib import prompts
from umi_lib.config import Profile
from umi_lib.data import pipeline, roles
from umi_lib.data.jsonio import load_json
from umi_lib.data.profile_data import PreparedData
from umi_lib.data.readers import read_trajectories
from umi_lib.data.records import Report, Trajectory
from umi_lib.paths import runs_dir


def report_table(report: Report) -> pd.DataFrame:
    """Counts of a conversion as a two-column table (read, converted, rejected by reason, notes)."""
    rows = [("read", report.read), ("converted", report.converted)]
    rows += [(f"rejected: {k}", v) for k, v in sorted(report.rejected.items())]
    rows += [(f"samples: {k}", v) for k, v in report.samples.items()]
    rows += [(f"note: {k}", v) for k, v in sorted(report.notes.items())]
    return pd.DataFrame(rows, columns=["count", "value"])


def prompt_lengths(data: PreparedData, count: Callable[[str], int]) -> dict[str, list[int]]:
    """Token length of every prompt, per role."""
    return {role: [count(s["input"]) for s in load_json(data.role_file(role))] for role in roles.ROLE_FILES}


def role_table(data: PreparedData, count: Callable[[str], int]) -> pd.DataFrame:
    """Samples per role with prompt/target token statistics and how many were shortened."""
    rows = []
    for role in roles.ROLE_FILES:
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
    pipeline.convert_stage1_file(source, out, compat=profile.data.compat)
    return first_trajectory(out / "raw_data_stage_2.json", min_turns)


def raw_chain_table(profile: Profile, example: Trajectory, width: int = 90) -> pd.DataFrame:
    """The raw ToolBench messages (stage 1) behind ``example``: role, content, function call."""
    from umi_lib.data.readers import load_records

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
    state = roles.BuildState()
    rows = []
    for role, samples in pipeline.role_samples(traj, state).items():
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
    samples = pipeline.role_samples(traj, roles.BuildState())[role]
    s = samples[index]
    return f"{s.input}\n----- target -----\n{s.target}"


def _short(text: str, width: int) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 3] + "..."
