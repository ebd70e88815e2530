"""Static-evaluation steps of the official out-of-domain test set (``docs/formats.md#static-evaluation-items``,
``docs/formats.md#the-official-test-set``)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from conftest import OOD

from umi_lib import prompts
from umi_lib.cli import main


@pytest.fixture(scope="module")
def steps(tmp_path_factory):
    out = tmp_path_factory.mktemp("steps") / "steps.json"
    assert main(["steps", "--test", str(OOD), "--out", str(out)]) == 0
    return json.loads(out.read_text())


def test_step_counts(steps):
    assert len(steps) == 1547
    assert Counter(s["plan"] for s in steps) == {"call": 1146, "finish": 294, "give up": 107}
    assert len({s["trajectory"] for s in steps}) == 400


def test_reference_formats(steps):
    for s in steps:
        ref = s["reference"]
        if s["plan"] == "call":
            assert ref.startswith("assistant: ") and " Next: caller.</s>caller: Action: " in ref
            assert ref.endswith("</s>") and "\nAction Input: " in ref
        elif s["plan"] == "finish":
            assert " Next: conclusion.</s>conclusion: " in ref and ref.endswith("</s>")
        else:
            assert not ref.startswith("assistant: ") and ref.endswith("Next: give up.")


def test_inputs_are_planner_prompts_with_gold_history(steps):
    first = steps[0]
    assert first["input"].startswith('You have assess to the following apis:\n{"Name": ')
    assert first["input"].endswith("followed by Next: caller or conclusion or give up. assistant: ")
    # the second step of a trajectory sees the first step's reference in its history
    second = next(s for s in steps if s["trajectory"] == 0 and s["step"] == 1)
    assert steps[0]["reference"] in second["input"]
    assert all("system: " not in s["input"][:8] for s in steps)


def test_tools_are_the_trajectory_tools(steps):
    assert all(isinstance(s["tools"], list) and all("Name" in t for t in s["tools"]) for s in steps)
    # the planner prompt documents every tool, one JSON line each
    for s in steps[:50]:
        assert "apis:\n" + prompts.tool_docs(s["tools"]) + "\nThe conversation history is:\n" in s["input"]


def test_roles_from_the_test_file_format(tmp_path):
    """The test file's label format (" Next: caller.", unlabeled thoughts) is read like the training one."""
    from umi_lib.data import pipeline

    report = pipeline.convert_roles(OOD, tmp_path)
    assert dict(report.samples) == {"backbone": 1547, "planner": 1547, "caller": 1146, "summarizer": 293}
    assert report.notes["summarizer_none_answers_skipped"] == 1 and not report.rejected
