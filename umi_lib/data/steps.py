"""Static-evaluation items (``umi steps``): one per labelled planner step of a stage-2 test trajectory, each
``{"tools", "reference", "input"}`` with the reference in the official format.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from umi_lib import manifest
from umi_lib import prompts as P
from umi_lib.data.jsonio import JsonListWriter
from umi_lib.data.readers import (
    read_trajectories,
)
from umi_lib.data.records import Report, Trajectory


def plan_of(label: str) -> str:
    return {P.NEXT_CALLER: P.PLAN_CALL, P.NEXT_CONCLUSION: P.PLAN_FINISH, P.NEXT_GIVE_UP: P.PLAN_GIVE_UP}[label]


def trajectory_steps(traj: Trajectory, index: int, report: Report, compat: bool = False) -> list[dict[str, Any]]:
    """One item per labelled assistant step, with the gold history (teacher forcing)."""
    steps, segs, conv = [], [], traj.conversations
    tools = [t.to_json() for t in traj.tools]
    for i, turn in enumerate(conv):
        label = P.label_of(turn.value) if turn.role == P.ROLE_ASSISTANT else None
        if label is not None:
            nxt = conv[i + 1] if i + 1 < len(conv) else None
            expected = {P.NEXT_CALLER: P.ROLE_CALLER, P.NEXT_CONCLUSION: P.ROLE_CONCLUSION}.get(label)
            if expected is None:
                reference = turn.value
            elif nxt is not None and nxt.role == expected:
                reference = P.render_turn(P.ROLE_ASSISTANT, turn.value) + P.render_turn(nxt.role, nxt.value)
            else:
                report.reject(traj.source, f"{index}:{i}", "label_without_turn", f"{label} not followed by {expected}")
                segs.append(P.render_turn(turn.role, turn.value))
                continue
            steps.append(
                {
                    "tools": tools,
                    "reference": reference,
                    "input": P.fill("planner", tools, "".join(segs), compat=compat),
                    "history": "".join(segs),  # the gold history ("dispatch"), for caller/summarizer prompts
                    "trajectory": index,
                    "step": len(steps),
                    "plan": plan_of(label),
                }
            )
        segs.append(P.render_turn(turn.role, turn.value))
    return steps


STEPS_FORMAT = 2  # 2: items carry their history; bump when the items change for the same inputs


def steps_inputs(test_file: str | os.PathLike, compat: bool = False) -> dict:
    """What a test-step file depends on: the test file's bytes, the substitution order, the item format."""
    return {"format": STEPS_FORMAT, "test_file": manifest.file_digest(test_file), "compat": compat}


def extract_steps(test_file: str | os.PathLike, out_file: str | os.PathLike, compat: bool = False) -> Report:
    """``umi steps``: write the static-evaluation items of a stage-2 test file (and their manifest)."""
    report = Report()
    with JsonListWriter(out_file) as w:
        for k, traj in enumerate(read_trajectories(test_file, report)):
            items = trajectory_steps(traj, k, report, compat)
            report.converted += 1
            for item in items:
                report.samples[item["plan"]] += 1
                w.write(item)
    manifest.write(out_file, "test-steps", steps_inputs(test_file, compat), test_file=Path(test_file).name)
    return report
