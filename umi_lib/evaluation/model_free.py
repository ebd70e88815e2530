"""Prediction files without a model: the oracle (predictions = references) and a seeded degraded copy.

Both exist so the metrics and figures have real inputs before any model is trained: the oracle must score
1.0 / 0.0 hallucination, and the degraded file exercises every branch of the metrics with known causes.
Degraded predictions are written in the static pipeline's own format (``docs/formats.md#official-prediction-strings``,
``"asssitant: "`` typo included), built from the reference step with one seeded mistake per step (or none).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from umi_lib import prompts as P
from umi_lib.evaluation.metrics import CALL, FINISH, GIVE_UP, parse_output

KEEP = ("tools", "reference", "trajectory", "step", "group")

# Mistake mix per reference plan: (name, weight). Weights are per mille and add up to 1000.
MISTAKES: dict[str, tuple[tuple[str, int], ...]] = {
    CALL: (
        ("none", 550),
        ("hallucinated_tool", 100),
        ("other_tool", 100),
        ("changed_argument", 150),
        ("broken_arguments", 50),
        ("plan_finish", 50),
    ),
    FINISH: (("none", 500), ("half_answer", 300), ("plan_call", 100), ("plan_give_up", 100)),
    GIVE_UP: (("none", 700), ("plan_call", 300)),
}


def oracle(steps: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Prediction items whose prediction is the reference itself."""
    return [{**{k: s[k] for k in KEEP if k in s}, "predictions": s["reference"]} for s in steps]


def _thought(reference: str) -> str:
    """The planner text of a reference (between ``"assistant: "`` and the first ``</s>``)."""
    head = reference.split(P.EOS)[0]
    prefix = P.ROLE_ASSISTANT + ": "
    return head[len(prefix) :] if head.startswith(prefix) else head


def _relabel(thought: str, label: str) -> str:
    for old in P.NEXT_LABELS:
        thought = thought.replace(old, "")
    return thought.rstrip() + P.LABEL_PREFIX + label


def call_prediction(thought: str, action: str, arguments: str) -> str:
    """A caller step as the static pipeline writes it."""
    return P.PREDICTION_ASSISTANT + thought + P.EOS + P.ROLE_CALLER + ": " + P.caller_value(action, arguments)


def finish_prediction(thought: str, answer: str) -> str:
    return P.PREDICTION_ASSISTANT + thought + P.EOS + P.ROLE_CONCLUSION + ": " + answer


def _changed_arguments(arguments: str, rng: random.Random) -> str:
    try:
        args = json.loads(arguments)
    except ValueError:
        return arguments
    if not isinstance(args, dict) or not args:
        return json.dumps({"query": "x"})
    key = rng.choice(sorted(args))
    if rng.random() < 0.5:
        del args[key]
    else:
        args[key] = f"{args[key]}?"
    return json.dumps(args)


def degrade_step(step: Mapping[str, Any], mistake: str, rng: random.Random) -> str:
    """The prediction string for ``step`` after one named mistake (``"none"`` = the correct step)."""
    ref = parse_output(step["reference"])
    thought = _thought(step["reference"])
    first_tool = step["tools"][0]["Name"] if step["tools"] else "tool"
    if ref.plan == CALL:
        action, args = ref.action or first_tool, ref.action_input or "{}"
        others = [t["Name"] for t in step["tools"] if t["Name"] != action]
        edits: dict[str, Callable[[], str]] = {
            "none": lambda: call_prediction(thought, action, args),
            "hallucinated_tool": lambda: call_prediction(thought, action + "_v2", args),
            # with a single tool there is no other one: "Action: none" then reads as no action at all
            "other_tool": lambda: call_prediction(thought, rng.choice(others) if others else P.NO_ANSWER, args),
            "changed_argument": lambda: call_prediction(thought, action, _changed_arguments(args, rng)),
            "broken_arguments": lambda: call_prediction(thought, action, args[: len(args) // 2]),
            "plan_finish": lambda: finish_prediction(_relabel(thought, P.NEXT_CONCLUSION), P.NO_ANSWER),
        }
    elif ref.plan == FINISH:
        words = (ref.answer or "").split(" ")
        edits = {
            "none": lambda: finish_prediction(thought, ref.answer or ""),
            "half_answer": lambda: finish_prediction(thought, " ".join(words[: max(1, len(words) // 2)])),
            "plan_call": lambda: call_prediction(_relabel(thought, P.NEXT_CALLER), first_tool, "{}"),
            "plan_give_up": lambda: _relabel(thought, P.NEXT_GIVE_UP),
        }
    else:
        edits = {
            "none": lambda: step["reference"],
            "plan_call": lambda: call_prediction(_relabel(thought, P.NEXT_CALLER), first_tool, "{}"),
        }
    return edits[mistake]()


def degraded(steps: Sequence[Mapping[str, Any]], seed: int = 0) -> tuple[list[dict[str, Any]], Counter]:
    """Prediction items with seeded mistakes (:data:`MISTAKES`), and how many of each were made."""
    rng = random.Random(seed)
    made: Counter = Counter()
    out = []
    for s in steps:
        names, weights = zip(*MISTAKES[parse_output(s["reference"]).plan], strict=True)
        mistake = rng.choices(names, weights)[0]
        made[mistake] += 1
        out.append({**{k: s[k] for k in KEEP if k in s}, "predictions": degrade_step(s, mistake, rng)})
    return out, made
