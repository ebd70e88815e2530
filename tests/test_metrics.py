"""Static metrics: one hand-computed fixture per branch of the official evaluator (tests/fixtures/metrics/)."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT

from umi_lib.data.records import Report
from umi_lib.evaluation import metrics
from umi_lib.evaluation.score import score_items

FIXTURES = sorted((ROOT / "tests" / "fixtures" / "metrics").glob("*.json"))


def _score(items):
    return metrics.aggregate(score_items(items, Report()))


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_branch_fixture(path):
    case = json.loads(path.read_text())
    result = _score(case["items"])
    for key, expected in case["expected"].items():
        assert result[key] == pytest.approx(expected, abs=1e-12), key
    assert result["official_crashes"] == case["official_crashes"]
    assert result["parse_failures"] == case["parse_failures"]
    assert result["undefined"] == case.get("undefined", [])
    if "confusion" in case:
        assert result["confusion"]["matrix"] == case["confusion"]


def test_every_crash_case_has_a_fixture_or_test():
    covered = {k for p in FIXTURES for k in json.loads(p.read_text())["official_crashes"]}
    # the recursion case needs a 1000-token sentence and is built in test_rouge.py instead of a fixture
    assert set(metrics.CRASH_CASES) - covered == {"rouge_recursion_limit"}


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("x Next: give up. Next: conclusion.", metrics.Parsed("give up")),
        ("Next: conclusion.</s>conclusion: a conclusion: b</s>", metrics.Parsed("finish", answer="b")),
        ("Next: conclusion. and no marker</s>", metrics.Parsed("finish", answer="Next: conclusion. and no marker")),
        ("t</s>caller: Action:  get \nAction Input:  {} ", metrics.Parsed("call", "get", "{}")),
        ("t</s>caller: nothing here", metrics.Parsed("call", "none", "{}")),
    ],
)
def test_parse_output(text, parsed):
    assert metrics.parse_output(text) == parsed


def test_reference_crash_is_counted_separately():
    item = {"tools": [], "reference": "Next: conclusion.</s>conclusion:x", "predictions": "Next: conclusion."}
    assert _score([item])["official_crashes"]["reference:conclusion_without_space"] == 1


def test_groups_and_steps_break_down():
    ref = "assistant: t Next: caller.</s>caller: Action: a\nAction Input: {}</s>"
    good = "asssitant: t Next: caller.</s>caller: Action: a\nAction Input: {}"
    bad = "asssitant: t Next: give up."
    tools = [{"Name": "a"}]
    items = [
        {"tools": tools, "reference": ref, "predictions": good, "group": "G1", "trajectory": 0, "step": 0},
        {"tools": tools, "reference": ref, "predictions": bad, "group": "G1", "trajectory": 0, "step": 1},
        {"tools": tools, "reference": ref, "predictions": good, "group": "G2", "trajectory": 0, "step": 0},
    ]
    result = _score(items)
    assert result["by_group"]["G1"]["plan_em"] == 0.5 and result["by_group"]["G1"]["steps"] == 2
    assert result["by_group"]["G2"]["plan_em"] == 1.0
    assert result["by_step"]["0"]["action_em"] == 1.0 and result["by_step"]["1"]["action_em"] == 0.0
    # no finish step in the bucket: undefined (None), not the official 0, with its denominator
    assert result["by_group"]["G1"]["rouge"] is None and result["by_group"]["G1"]["counts"]["rouge"] == 0
    assert result["by_group"]["G1"]["counts"]["action_em"] == 2
