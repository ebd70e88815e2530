"""Static (step-level) metrics of α-UMi Table 1, computed the way the paper's evaluator computes them.

Parse rules: ``docs/metrics.md#official-parse-rules`` (the official ``evaluate-multi_agent.py``). One prediction
item is one teacher-forced planner step: ``{"reference", "predictions", "tools"}`` plus, from ``umi steps``,
``trajectory`` and ``step`` (and an optional ``group``). :func:`parse_output` reads a reference or a prediction with
the official substring rules, :func:`score_step` turns a pair into per-metric contributions, :func:`aggregate`
averages them.

Official keys (fractions): ``plan_em`` (Plan ACC), ``action_em`` (Act. EM), ``hallu_rate`` (Hallu.),
``easy_f1`` / ``hard_f1`` / ``f1`` (Arg F1; the paper's column is most likely ``f1``), ``rouge`` (R-L).
Where the official script would crash, a defined value is returned and the case is counted
(:data:`CRASH_CASES`, table in ``docs/metrics.md``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from umi_lib import prompts as P
from umi_lib.evaluation import rouge

CALL, FINISH, GIVE_UP = P.PLAN_CALL, P.PLAN_FINISH, P.PLAN_GIVE_UP

PLANS = (CALL, FINISH, GIVE_UP)

OFFICIAL_KEYS = ("rouge", "plan_em", "action_em", "easy_f1", "hard_f1", "f1", "hallu_rate")

# Which steps each metric averages over (its denominator).
SCOPE = {
    "plan_em": "all steps",
    "hallu_rate": "all steps",
    "action_em": "reference-call steps",
    "easy_f1": "reference calls without arguments (+ action mismatches)",
    "hard_f1": "reference calls with arguments (+ action mismatches)",
    "f1": "reference-call steps whose reference arguments parse",
    "rouge": "reference-finish steps",
}

CONCLUSION_NO_SPACE = "conclusion_without_space"

CALL_NO_EOS = "call_without_eos"

EMPTY_LIST = "empty_metric_list"

CRASH_CASES = {
    CONCLUSION_NO_SPACE: "finish text has 'conclusion:' but never 'conclusion: ': official rindex ValueError; "
    "here the answer is the text after the last 'conclusion:'",
    CALL_NO_EOS: "call text without '</s>': official IndexError on split('</s>')[1]; here the whole text is parsed",
    EMPTY_LIST: "no step falls in easy_f1/hard_f1/f1: official ZeroDivisionError; here 0.0, named in 'undefined'",
    **rouge.CRASH_CASES,
}

# Not crashes, but predictions a reader wants counted: a call without an "Action:" line, and arguments that
# are not a JSON object.
NO_ACTION = "no_action"

ARGS_NOT_JSON = "arguments_not_json_object"


@dataclass(frozen=True)
class Parsed:
    """``parse_output``'s ``(plan, action, action_input, answer)`` plus the official crash it avoided."""

    plan: str
    action: str | None = None
    action_input: str | None = None
    answer: str | None = None
    crash: str | None = None


def _after_last(text: str, marker: str) -> str | None:
    k = text.rfind(marker)
    return None if k < 0 else text[k + len(marker) :]


def parse_output(text: str) -> Parsed:
    """Plan, action, arguments and answer of a reference or prediction string.

    Substring rules: ``docs/metrics.md#official-parse-rules``.
    """
    if P.MARK_GIVE_UP in text:
        return Parsed(GIVE_UP)
    if P.MARK_CONCLUSION in text:
        crash = None
        if P.MARK_ANSWER_BARE not in text:
            answer = text
        elif (answer := _after_last(text, P.MARK_ANSWER)) is None:
            answer, crash = _after_last(text, P.MARK_ANSWER_BARE), CONCLUSION_NO_SPACE
        return Parsed(FINISH, answer=answer.replace(P.EOS, ""), crash=crash)
    parts = text.split(P.EOS)
    segment, crash = (parts[1], None) if len(parts) > 1 else (text, CALL_NO_EOS)
    action_input = _after_last(segment, P.MARK_ACTION_INPUT)
    action_input = "{}" if action_input is None else action_input.strip()
    action = _after_last(segment, P.MARK_ACTION)
    if action is None:
        action = P.NO_ANSWER  # the official placeholder "none"
    else:
        action = action.strip()
        if (cut := action.find(P.MARK_ACTION_INPUT)) >= 0:
            action = action[:cut].strip()
    return Parsed(CALL, action, action_input, crash=crash)


def _loads(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(text)
    except (ValueError, RecursionError):
        return False, None


def argument_scores(ref_input: str, pred_input: str) -> dict[str, float] | None:
    """Arg-F1 contributions of a step whose predicted action equals the reference action.

    Returns the lists the official script appends to (a subset of ``easy_f1``/``hard_f1``/``f1``), or
    ``None`` when the reference arguments do not parse (the step is then skipped entirely).
    """
    ok, ref = _loads(ref_input)
    if not ok:
        return None
    easy = ref == {}
    ok, cand = _loads(pred_input)
    if ok and easy:
        hit = 1.0 if cand == {} else 0.0
        return {"easy_f1": hit, "f1": hit}
    if ok and isinstance(ref, dict) and isinstance(cand, dict):
        full = sum(1 for k, v in ref.items() if k in cand and cand[k] == v)  # Python equality: 1 == 1.0
        half = sum(1 for k, v in ref.items() if k in cand and cand[k] != v)
        recall = (0.5 * half + full) / (len(ref) + 1e-30)
        precision = (0.5 * half + full) / (len(cand) + 1e-30)
        if recall + precision > 0:
            f = (2 * recall * precision) / (recall + precision)
            return {"hard_f1": f, "f1": f}
    return {"easy_f1" if easy else "hard_f1": 0.0, "f1": 0.0}


@dataclass
class StepScore:
    """One step's contribution to each metric (absent key: the step is not in that metric's denominator)."""

    ref_plan: str
    pred_plan: str
    values: dict[str, float]
    unit: Hashable = None
    step: int | None = None
    group: str | None = None
    crashes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    hallucinated: bool = False
    answers: tuple[str, str] | None = None


def score_step(reference: str, prediction: str, tool_names: Iterable[str]) -> StepScore:
    """Score one (reference, prediction) pair exactly as the official per-step loop does."""
    ref, pred = parse_output(reference), parse_output(prediction)
    hallu = pred.action is not None and pred.action != P.NO_ANSWER and pred.action not in set(tool_names)
    values = {"plan_em": float(ref.plan == pred.plan), "hallu_rate": float(hallu)}
    out = StepScore(ref.plan, pred.plan, values, hallucinated=hallu)
    out.crashes += [f"reference:{c}" for c in (ref.crash,) if c] + [c for c in (pred.crash,) if c]
    if pred.plan == CALL and pred.action == P.NO_ANSWER:
        out.failures.append(NO_ACTION)
    if ref.plan == FINISH:
        answer = pred.answer if pred.answer is not None else P.NO_ANSWER
        pair = rouge.rouge_l_pair(answer, ref.answer or "")
        values["rouge"] = pair.f
        out.answers = (answer, ref.answer or "")
        out.crashes += [pair.crash] if pair.crash else []
    elif ref.plan == CALL:
        action = pred.action if pred.action is not None else P.NO_ANSWER
        arguments = pred.action_input if pred.action_input is not None else "{}"
        values["action_em"] = float(action == ref.action)
        if action != ref.action:
            values.update(easy_f1=0.0, hard_f1=0.0, f1=0.0)
        else:
            args = argument_scores(ref.action_input or "{}", arguments)
            if args is None:
                out.failures.append("reference_arguments_unparseable")
            else:
                values.update(args)
                if not isinstance(_loads(arguments)[1], dict):
                    out.failures.append(ARGS_NOT_JSON)
    return out


def score_item(item: Mapping[str, Any]) -> StepScore:
    """:func:`score_step` of a prediction item ``{"reference", "predictions", "tools"}``."""
    return score_step(item["reference"], item["predictions"], [t["Name"] for t in item["tools"]])


def mean_of(scores: Sequence[StepScore], key: str) -> tuple[float, int]:
    """Mean of one metric over the steps that contribute to it, and how many do (0.0 for none)."""
    vals = [s.values[key] for s in scores if key in s.values]
    return (sum(vals) / len(vals) if vals else 0.0), len(vals)


def official_metrics(scores: Sequence[StepScore]) -> dict[str, float]:
    """The seven official keys. ``rouge`` and ``action_em`` are 0 without steps, as in the official script."""
    return {key: mean_of(scores, key)[0] for key in OFFICIAL_KEYS}


def confusion(scores: Sequence[StepScore]) -> list[list[int]]:
    """Planner confusion matrix: rows are reference plans, columns predicted plans, in :data:`PLANS` order."""
    counts = Counter((s.ref_plan, s.pred_plan) for s in scores)
    return [[counts[(r, p)] for p in PLANS] for r in PLANS]


def step_counts(scores: Sequence[StepScore]) -> dict[str, int]:
    plans = Counter(s.ref_plan for s in scores)
    counts = {"total": len(scores), **{p: plans[p] for p in PLANS}}
    counts.update({key: mean_of(scores, key)[1] for key in ("easy_f1", "hard_f1", "f1", "rouge")})
    return counts


def breakdown(scores: Sequence[StepScore], key: str) -> dict[str, dict[str, Any]]:
    """Official metrics per value of ``group`` or ``step`` (keys as strings, for JSON).

    Unlike the overall numbers, a metric with no step in a bucket is ``None`` (not the official 0), and
    ``counts`` gives each metric's denominator so readers can ignore thin buckets.
    """
    buckets: dict[Any, list[StepScore]] = {}
    for s in scores:
        value = getattr(s, key)
        if value is not None:
            buckets.setdefault(value, []).append(s)
    out = {}
    for value, members in sorted(buckets.items()):
        means = {k: mean_of(members, k) for k in OFFICIAL_KEYS}
        out[str(value)] = {
            **{k: (m if n else None) for k, (m, n) in means.items()},
            "steps": len(members),
            "counts": {k: n for k, (_, n) in means.items()},
        }
    return out


def aggregate(scores: Sequence[StepScore]) -> dict[str, Any]:
    """Everything ``umi score`` reports except the bootstrap intervals and input rejects."""
    counts = step_counts(scores)
    crashes = Counter(c for s in scores for c in s.crashes)
    undefined = [k for k in ("easy_f1", "hard_f1", "f1") if counts[k] == 0]
    crashes.update({EMPTY_LIST: len(undefined)} if undefined else {})
    return {
        **official_metrics(scores),
        "steps": counts,
        "hallucinations": sum(s.hallucinated for s in scores),
        "confusion": {"labels": list(PLANS), "rows": "reference", "columns": "prediction", "matrix": confusion(scores)},
        "by_group": breakdown(scores, "group"),
        "by_step": breakdown(scores, "step"),
        "parse_failures": dict(sorted(Counter(f for s in scores for f in s.failures).items())),
        "official_crashes": dict(sorted(crashes.items())),
        "undefined": undefined,
    }
