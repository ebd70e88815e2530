"""``umi eval static --endpoint``: the prompts the official static pipeline builds, truncated as it truncates."""

from __future__ import annotations

import dataclasses
import json

import pytest
from conftest import JsonHandler, running

from umi_lib import prompts as P
from umi_lib.cli import main
from umi_lib.config import load_profile
from umi_lib.evaluation import selection
from umi_lib.train.bases import load_tokenizer
from umi_lib.train.loading import map_separator

PLANNER_REPLIES = ("I will look it up. Next: caller.", "That settles it. Next: conclusion.")


class Recording(JsonHandler):
    """``/v1/completions`` that records every body; the planner alternates between calling and concluding."""

    def answer(self, body):
        n_planner = sum(b["model"] == "P" for b in self.seen[:-1])
        replies = {"P": PLANNER_REPLIES[n_planner % 2], "C": 'Action: search\nAction Input: {"q": 1}</s>junk'}
        return 200, {"choices": [{"text": replies.get(body["model"], "The answer.</s>")}]}


@pytest.fixture
def endpoint():
    with running(Recording) as url:
        yield url


def _official_prompt(role: str, step: dict, planner_prediction: str) -> str:
    """The official static pipeline's caller/summarizer input, rebuilt from its description: plain
    ``str.replace`` of doc, tool names, history (+ ``"planner: <prediction></s>"``) and thought, then the suffix."""
    template = {"caller": P.CALLER, "summarizer": P.SUMMARIZER}[role]
    history = step["history"] + "planner: " + planner_prediction + "</s>"
    text = template.replace("{doc}", P.tool_docs(step["tools"])).replace("{tool_names}", P.tool_names(step["tools"]))
    text = text.replace("{history}", history).replace("{thought}", planner_prediction)
    return text + {"caller": " caller: ", "summarizer": " conclusion: "}[role]


def _as_sent(text: str, tok, budget: int):
    ids = tok(map_separator(text, tok))["input_ids"]
    return text if len(ids) <= budget else ids[-budget:]


def test_endpoint_sends_the_official_static_prompts(endpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("UMI_RUNS", str(tmp_path))
    args = ["eval", "static", "--profile", "smoke", "--system", "base", "--limit", "6", "--endpoint", endpoint,
            "--models", "planner=P,caller=C,summarizer=S", "--tokenizer", "tiny-random",
            "--official-role-name"]  # fmt: skip
    assert main(args) == 0
    profile = load_profile("smoke")
    profile.eval = dataclasses.replace(profile.eval, limit=6)
    steps = selection.eval_steps(profile)
    tok, budget = load_tokenizer("tiny-random"), profile.eval.max_input_tokens
    sent = {m: [b for b in Recording.seen if b["model"] == m] for m in "PCS"}
    assert [b["prompt"] for b in sent["P"]] == [_as_sent(s["input"], tok, budget) for s in steps]
    expected = {"C": [], "S": []}
    for k, step in enumerate(steps):
        prediction = PLANNER_REPLIES[k % 2]
        role = "caller" if k % 2 == 0 else "summarizer"
        expected["C" if role == "caller" else "S"].append(
            _as_sent(_official_prompt(role, step, prediction), tok, budget)
        )
    assert [b["prompt"] for b in sent["C"]] == expected["C"]
    assert [b["prompt"] for b in sent["S"]] == expected["S"]
    assert any(isinstance(b["prompt"], list) for b in Recording.seen)  # some prompts were over budget: token ids
    assert any(isinstance(b["prompt"], str) for b in Recording.seen)
    assert all(b["stop"] == [P.EOS] and b["temperature"] == 0.0 for b in Recording.seen)
    preds = json.loads((tmp_path / "smoke" / "predictions" / "static_endpoint_P.json").read_text())
    assert preds[0]["predictions"].endswith('caller: Action: search\nAction Input: {"q": 1}')  # cut at </s>


def test_without_the_flag_the_history_uses_the_trained_role_name(endpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("UMI_RUNS", str(tmp_path))
    args = ["eval", "static", "--profile", "smoke", "--system", "base", "--limit", "2", "--endpoint", endpoint,
            "--model", "P"]  # fmt: skip
    assert main(args) == 0
    assert "no local tokenizer for 'P'" in capsys.readouterr().out  # said, then sent untruncated
    callers = [b["prompt"] for b in Recording.seen if b["prompt"].endswith(" caller: ")]
    assert callers and all("assistant: I will look it up. Next: caller.</s>" in c for c in callers)
    assert not any("planner: " in c for c in callers)


@pytest.mark.parametrize("bad", ["planner=A,caller=B", "planner=A,caller=B,summarizer=", "planner:A"])
def test_models_must_name_every_role(bad, capsys):
    with pytest.raises(SystemExit):
        main(["eval", "static", "--profile", "smoke", "--endpoint", "http://127.0.0.1:9", "--models", bad])
    assert "--models" in capsys.readouterr().err
