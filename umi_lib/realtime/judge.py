"""Pass rate and win rate with an LLM judge: ToolEval's decision procedure behind a pluggable judge.

Procedure (``docs/toolbench.md#pass-rate`` and ``docs/toolbench.md#win-rate``), with our own prompt wording:

1. no Finish at the end of the chain → failed ("no answer"), no judge call;
2. answer status: an empty or give-up answer is Unsolved without a call; otherwise the judge sees the query and
   the final answer (Solved / Unsolved / Unsure); if Unsure it sees the whole answer chain;
3. if not Solved, task solvability from the query and the offered tools (Solvable / Unsolvable / Unsure);
4. the decision table; an Unsure outcome becomes passed or failed by a seeded coin flip;
5. N samples per query, the query passes when failed ≤ passed.

ToolEval drops queries that have no answer file from the denominator; we count them as failures by default
(``drop_missing=True`` gives ToolEval's behaviour). Every judgment is recorded: function, prompt, raw reply,
label. The judge is any OpenAI-compatible chat endpoint with forced tool calls (:class:`OpenAIJudge`).
"""

from __future__ import annotations

import json
import random
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from umi_lib import prompts as P
from umi_lib.client import JsonClient
from umi_lib.data.records import ToolEvalAnswer

SOLVED, UNSOLVED, UNSURE = "Solved", "Unsolved", "Unsure"

SOLVABLE, UNSOLVABLE = "Solvable", "Unsolvable"

PASSED, FAILED = "passed", "failed"

PROMPTS = {
    "check_answer_status": (
        "You are grading whether an assistant's final answer solves a user's request. Read only the request and "
        "the answer. An answer that apologises, refuses or says it could not finish is Unsolved. An answer that "
        "gives what was asked is Solved; if it gives something but you cannot tell whether it is enough, say "
        "Unsure.\nRequest: {query}\nFinal answer: {answer}"
    ),
    "parse_answer_status": (
        "You are grading an assistant's attempt at a user's request from its full record of tool calls and "
        "responses. If every tool call failed, or the final answer contradicts what the tools returned, it is "
        "Unsolved. If successful calls support an answer that meets the request, it is Solved. If the record does "
        "not let you decide, say Unsure.\nRequest: {query}\nRecord: {answer}"
    ),
    "check_task_solvable": (
        "Decide whether this request can be solved with the listed tools. If the request is missing information or "
        "asks for something invalid, it is Unsolvable; if the tools are enough, Solvable; otherwise Unsure.\n"
        "Request: {query}\nTools: {tools}"
    ),
    "select_better_answer": (
        "Two assistants tried the same request. Prefer the final answer that is more informative and more "
        "accurate; if neither solved it, prefer the one that explains the failure better; if still tied, prefer the "
        "one with fewer failed or repeated calls. Answer with the index (0 or 1) of the better one.\n"
        "Request: {query}\nAnswer 0: {a0}\nAnswer 1: {a1}"
    ),
}

LABELS = {
    "check_answer_status": [SOLVED, UNSOLVED, UNSURE],
    "parse_answer_status": [SOLVED, UNSOLVED, UNSURE],
    "check_task_solvable": [SOLVABLE, UNSOLVABLE, UNSURE],
    "select_better_answer": ["0", "1"],
}


class Judge(Protocol):
    def ask(self, function: str, fields: Mapping[str, str]) -> str: ...


@dataclass
class OpenAIJudge:
    """An OpenAI-compatible ``/chat/completions`` judge with one forced function call per question.

    A reply without a valid label is retried (``retries``); after that the label is the function's last label
    (Unsure, or "1" for preferences) and counted in :attr:`errors`.
    """

    base_url: str
    model: str
    api_key: str = ""
    temperature: float = 0.2
    max_tokens: int = 1000
    retries: int = 3
    seed: int = 0
    timeout: float = 60.0
    log: list[dict[str, Any]] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    client: JsonClient | None = field(default=None, repr=False, compare=False)

    def _request(self, function: str, prompt: str) -> dict[str, Any]:
        labels = LABELS[function]
        schema = {
            "type": "object",
            "required": ["reason", "label"],
            "properties": {"reason": {"type": "string"}, "label": {"type": "string", "enum": labels}},
        }
        body = {"model": self.model, "temperature": self.temperature, "max_tokens": self.max_tokens, "seed": self.seed,
                "messages": [{"role": "user", "content": prompt}],
                "tools": [{"type": "function", "function": {"name": function, "parameters": schema}}],
                "tool_choice": {"type": "function", "function": {"name": function}}}  # fmt: skip
        if self.client is None:
            self.client = JsonClient(self.base_url, self.api_key, self.timeout)
        return self.client.post("/chat/completions", body)

    @staticmethod
    def label_of(reply: Any, function: str) -> str:
        """The label in a chat reply's forced tool call (or legacy ``function_call``); ValueError if none."""
        try:
            msg = reply["choices"][0]["message"]
            call = (msg.get("tool_calls") or [{}])[0].get("function") or msg.get("function_call") or {}
            args = json.loads(call["arguments"]) if isinstance(call.get("arguments"), str) else call["arguments"]
            label = str(args["label"])
        except (KeyError, IndexError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(f"no tool call with a label ({type(exc).__name__})") from exc
        if label not in LABELS[function]:
            raise ValueError(f"label {label!r} not in {LABELS[function]}")
        return label

    def ask(self, function: str, fields: Mapping[str, str]) -> str:
        prompt = PROMPTS[function].format(**fields)
        for attempt in range(self.retries):
            raw: Any = None
            try:
                raw = self._request(function, prompt)
                label = self.label_of(raw, function)
            except (OSError, ValueError) as exc:
                self.errors[type(exc).__name__] += 1
                self.log.append({"function": function, "prompt": prompt, "raw": raw, "error": str(exc),
                                 "attempt": attempt})  # fmt: skip
                continue
            self.log.append({"function": function, "prompt": prompt, "raw": raw, "label": label, "attempt": attempt})
            return label
        self.errors["gave_up"] += 1
        return LABELS[function][-1]

    def describe(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "model": self.model, "temperature": self.temperature, "seed": self.seed,
                "prompts": PROMPTS}  # fmt: skip


def final_text(answer: ToolEvalAnswer) -> str:
    """The answer text inside Finish's arguments (the raw string when it is not JSON)."""
    try:
        value = json.loads(answer.final_answer, strict=False)
        return str(value.get("final_answer", "")) if isinstance(value, dict) else answer.final_answer
    except json.JSONDecodeError:
        return answer.final_answer


def _details(answer: ToolEvalAnswer) -> str:
    steps = [{"name": s.name, "arguments": s.arguments, "response": s.response} if s.role == "tool"
             else {"thought": s.text} for s in answer.steps]  # fmt: skip
    return json.dumps({"final_answer": final_text(answer)[:1000], "steps": steps})


def decide(status: str, solvable: str) -> str:
    """ToolEval's table (``docs/toolbench.md#decision-table``): passed / failed / Unsure."""
    if status == SOLVED or solvable == UNSOLVABLE:
        return PASSED
    if status == UNSOLVED and solvable == SOLVABLE:
        return FAILED
    return UNSURE


def judge_once(judge: Judge, answer: ToolEvalAnswer, rng: random.Random) -> dict[str, Any]:
    """One evaluation sample of one answer: status, solvability, decision, final label."""
    tools = [s for s in answer.steps if s.role == "tool"]
    if not tools or tools[-1].name != P.FINISH:
        return {"status": None, "solvable": None, "decision": FAILED, "label": FAILED, "reason": "no answer"}
    text = final_text(answer)
    if not text.strip() or answer.finish_type == "give_up":
        status = UNSOLVED
    else:
        status = judge.ask("check_answer_status", {"query": answer.query, "answer": text})
        if status == UNSURE:
            status = judge.ask("parse_answer_status", {"query": answer.query, "answer": _details(answer)})
    solvable = SOLVABLE
    if status != SOLVED:
        tools_text = json.dumps(answer.available_tools)[:8000]
        solvable = judge.ask("check_task_solvable", {"query": answer.query, "tools": tools_text})
    decision = decide(status, solvable)
    label = decision if decision != UNSURE else rng.choice([PASSED, FAILED])
    return {"status": status, "solvable": solvable, "decision": decision, "label": label}


@dataclass
class PassRate:
    pass_rate: float
    per_sample: list[float]  # pass rate of each evaluation sample (mean ± std below)
    mean: float
    std: float
    queries: int
    missing: int
    records: dict[str, list[dict[str, Any]]]
    passed: dict[str, bool] = field(default_factory=dict)  # per query: the majority label

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def pass_rate(judge: Judge, answers: Mapping[str, ToolEvalAnswer], query_ids: Sequence[str], samples: int = 3,
              seed: int = 0, drop_missing: bool = False) -> PassRate:  # fmt: skip
    """Per-query majority over ``samples`` judgments; queries without an answer fail (or leave, ToolEval)."""
    if samples < 1:
        raise ValueError("pass_rate needs at least one judge sample per query")
    rng = random.Random(seed)
    records: dict[str, list[dict[str, Any]]] = {}
    passed: dict[str, bool] = {}
    per_sample_pass = [0] * samples
    missing = [q for q in query_ids if q not in answers]
    evaluated = [q for q in query_ids if q in answers]
    for qid in evaluated:
        runs = [judge_once(judge, answers[qid], rng) for _ in range(samples)]
        records[qid] = runs
        labels = [r["label"] for r in runs]
        passed[qid] = labels.count(FAILED) <= labels.count(PASSED)
        for k, lab in enumerate(labels):
            per_sample_pass[k] += lab == PASSED
    for qid in missing:
        records[qid] = [{"label": FAILED, "reason": "no answer file"}]
        passed[qid] = False
    n = len(evaluated) if drop_missing else len(query_ids)
    per_sample = [p / n if n else 0.0 for p in per_sample_pass]
    std = statistics.pstdev(per_sample) if per_sample else 0.0
    return PassRate(sum(passed[q] for q in evaluated) / n if n else 0.0, per_sample, statistics.fmean(per_sample),
                    std, n, len(missing), records, passed)  # fmt: skip


def win_rate(judge: Judge, reference: Mapping[str, ToolEvalAnswer], candidate: Mapping[str, ToolEvalAnswer],
             ref_passed: Mapping[str, bool], cand_passed: Mapping[str, bool], rounds: int = 3,
             seed: int = 0) -> dict[str, Any]:  # fmt: skip
    """Candidate vs reference per query over ``rounds``: one side passed → it wins the round without a call;
    else the judge compares the two answers in a shuffled order. Ties are reported separately."""
    rng = random.Random(seed)
    wins = ties = 0
    records: dict[str, list[str]] = {}
    qids = [q for q in candidate if q in reference]
    for qid in qids:
        tally: list[str] = []
        for _ in range(rounds):
            rp, cp = ref_passed.get(qid, False), cand_passed.get(qid, False)
            if rp != cp:
                tally.append("candidate" if cp else "reference")
                continue
            pair = [("reference", reference[qid]), ("candidate", candidate[qid])]
            rng.shuffle(pair)
            pick = judge.ask("select_better_answer", {"query": candidate[qid].query, "a0": _details(pair[0][1]),
                                                      "a1": _details(pair[1][1])})  # fmt: skip
            tally.append(pair[int(pick)][0])
        records[qid] = tally
        c, r = tally.count("candidate"), tally.count("reference")
        wins += c > r
        ties += c == r
    n = len(qids)
    return {"win_rate": wins / n if n else 0.0, "tie_rate": ties / n if n else 0.0, "queries": n, "rounds": rounds,
            "seed": seed, "records": records}  # fmt: skip
