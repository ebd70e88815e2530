"""ToolEval's decision procedure and the judge client, against a real local chat-completions server."""

from __future__ import annotations

import json

import pytest

from umi_lib.data.records import ToolCall, ToolEvalAnswer
from umi_lib.realtime import judge as J


def tool(label=None, arguments=None):
    """A reply carrying the forced tool call (with ``label``, or raw ``arguments`` text)."""

    def reply(body):
        name = body["tools"][0]["function"]["name"]
        args = arguments if arguments is not None else json.dumps({"reason": "scripted", "label": label})
        return {
            "role": "assistant",
            "tool_calls": [{"type": "function", "function": {"name": name, "arguments": args}}],
        }

    return reply


def text(content):
    return {"role": "assistant", "content": content}


def _answer(final: str | None, qid: str = "1") -> ToolEvalAnswer:
    steps = [ToolCall("assistant", text="think"), ToolCall("tool", "search_for_x", "{}", '{"response": "ok"}')]
    if final is not None:
        steps.append(ToolCall("tool", "Finish", json.dumps({"return_type": "give_answer", "final_answer": final})))
    fa = json.dumps({"return_type": "give_answer", "final_answer": final}) if final is not None else ""
    ft = "give_answer" if final else "none"
    return ToolEvalAnswer(qid, "find x", [{"name": "search_for_x"}], "dfsdt", fa, ft, steps)


def test_client_forces_the_tool_call_and_survives_malformed_replies(chat_server):
    url, handler = chat_server
    handler.script = [text("I think it is solved"), tool(arguments="{not json"), tool("Maybe"), 500, tool("Solved")]
    judge = J.OpenAIJudge(url, "judge-m", retries=5, seed=7)
    assert judge.ask("check_answer_status", {"query": "q", "answer": "a"}) == "Solved"
    body = handler.seen[0]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "check_answer_status"}}
    assert body["tools"][0]["function"]["parameters"]["properties"]["label"]["enum"] == ["Solved", "Unsolved", "Unsure"]
    assert body["model"] == "judge-m" and body["seed"] == 7 and body["temperature"] == 0.2
    # the HTTP 500 is retried by the shared client (umi_lib.client); the judge only sees the three bad replies
    assert judge.errors == {"ValueError": 3} and len(handler.seen) == 5
    assert [e.get("label") for e in judge.log] == [None, None, None, "Solved"]
    assert judge.log[0]["raw"]["choices"][0]["message"]["content"] == "I think it is solved"  # raw kept


def test_client_gives_up_with_unsure_after_retries(chat_server):
    url, handler = chat_server
    handler.script = [text("no")] * 3
    judge = J.OpenAIJudge(url, "m", retries=3)
    assert judge.ask("check_task_solvable", {"query": "q", "tools": "[]"}) == "Unsure"
    assert judge.errors["gave_up"] == 1


@pytest.mark.parametrize(
    ("status", "solvable", "expected"),
    [("Solved", "Solvable", "passed"), ("Unsolved", "Solvable", "failed"), ("Unsolved", "Unsure", "Unsure"),
     ("Unsolved", "Unsolvable", "passed"), ("Unsure", "Solvable", "Unsure"), ("Unsure", "Unsure", "Unsure"),
     ("Unsure", "Unsolvable", "passed")],
)  # fmt: skip
def test_decision_table(status, solvable, expected):
    assert J.decide(status, solvable) == expected


class Labels:
    """A judge answering from a per-function list, recording what it was asked."""

    def __init__(self, **answers):
        self.answers = {k: list(v) for k, v in answers.items()}
        self.asked = []

    def ask(self, function, fields):
        self.asked.append(function)
        return self.answers[function].pop(0)


def test_no_finish_fails_and_give_up_needs_no_answer_call():
    import random

    judge = Labels(check_task_solvable=["Solvable"])
    assert J.judge_once(judge, _answer(None), random.Random(0))["reason"] == "no answer"
    assert judge.asked == []
    out = J.judge_once(judge, _answer(""), random.Random(0))
    assert (out["status"], out["label"], judge.asked) == ("Unsolved", "failed", ["check_task_solvable"])


def test_unsure_answer_reads_the_details_then_majority_over_samples():
    judge = Labels(check_answer_status=["Unsure", "Solved", "Unsolved"], parse_answer_status=["Solved"],
                   check_task_solvable=["Solvable"])  # fmt: skip
    pr = J.pass_rate(judge, {"1": _answer("x is 3")}, ["1", "2"], samples=3, seed=0)
    assert judge.asked == ["check_answer_status", "parse_answer_status", "check_answer_status",
                           "check_answer_status", "check_task_solvable"]  # fmt: skip
    assert [r["label"] for r in pr.records["1"]] == ["passed", "passed", "failed"]
    assert pr.pass_rate == 0.5 and pr.missing == 1 and pr.queries == 2  # the missing query counts as failed
    assert pr.per_sample == [0.5, 0.5, 0.0] and pr.std == pytest.approx(0.2357, abs=1e-4)
    judge = Labels(check_answer_status=["Solved"] * 3)
    dropped = J.pass_rate(judge, {"1": _answer("x")}, ["1", "2"], samples=3, drop_missing=True)
    assert (dropped.pass_rate, dropped.queries) == (1.0, 1)  # ToolEval's behaviour: the denominator shrinks


def test_pass_rate_needs_a_sample():
    with pytest.raises(ValueError, match="at least one"):
        J.pass_rate(Labels(), {}, ["1"], samples=0)


def test_unsure_decisions_are_seeded_coin_flips():
    def run(seed):
        judge = Labels(check_answer_status=["Unsure"] * 20, parse_answer_status=["Unsure"] * 20,
                       check_task_solvable=["Unsure"] * 20)  # fmt: skip
        return J.pass_rate(judge, {"1": _answer("y")}, ["1"], samples=20, seed=seed).records["1"]

    labels = [r["label"] for r in run(1)]
    assert labels == [r["label"] for r in run(1)] and {"passed", "failed"} == set(labels)


class Prefers:
    """A preference judge that always picks the answer whose final text is ``wanted`` (whatever the order)."""

    def __init__(self, wanted):
        self.wanted, self.asked = wanted, 0

    def ask(self, function, fields):
        self.asked += 1
        return "0" if json.loads(fields["a0"])["final_answer"] in self.wanted else "1"


def test_win_rate_shortcut_and_judged_rounds():
    ref, cand = {"1": _answer("a"), "2": _answer("b", "2")}, {"1": _answer("c"), "2": _answer("d", "2")}
    ref_ok, cand_ok = {"1": False, "2": True}, {"1": True, "2": True}
    judge = Prefers({"d"})
    out = J.win_rate(judge, ref, cand, ref_ok, cand_ok, rounds=3, seed=0)
    assert out["records"]["1"] == ["candidate"] * 3  # only the candidate passed: no judge call
    assert judge.asked == 3 and out["records"]["2"] == ["candidate"] * 3
    assert (out["win_rate"], out["tie_rate"], out["queries"]) == (1.0, 0.0, 2)
    out = J.win_rate(Prefers({"b"}), ref, cand, ref_ok, cand_ok, rounds=3, seed=0)
    assert out["records"]["2"] == ["reference"] * 3 and out["win_rate"] == 0.5
