"""Model-free "agents": decoded outputs built from the ground truth, to check the scorer at both ends.

- :func:`ground_truth_turns`: every ground-truth call as its own step (a one-call-per-step agent that is
  always right); it must pass every task.
- :func:`degraded_turns`: the same with one seeded mistake in one call of the task (:data:`DEGRADATIONS`):
  an argument value changed, a call left out, a call made twice, or another offered function of the same
  class called with the same arguments.
  When a kind cannot apply (e.g. ``wrong_argument`` on a task whose calls take no arguments) the output is
  the ground truth unchanged. The mistake is drawn with ``random.Random(f"{seed}:{task.id}:{kind}")``,
  so it does not depend on which other tasks are scored.
"""

from __future__ import annotations

import random
from typing import Any

from umi_lib.bfcl.calls import Call
from umi_lib.bfcl.score import ground_truth_calls
from umi_lib.bfcl.tasks import BfclTask, function_docs
from umi_lib.bfcl.world import keyword_form, public_methods

DEGRADATIONS = ("wrong_argument", "skipped_call", "extra_call", "wrong_function")
Turns = list[list[list[Call]]]


def ground_truth_turns(task: BfclTask) -> Turns:
    """The ground truth as decoded model output, one call per step, positional arguments named."""
    return [[[keyword_form(c, task.involved_classes)] for c in turn] for turn in ground_truth_calls(task)]


def _changed(value: Any) -> Any:
    """A different value of the same JSON type."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 1.5
    if isinstance(value, str):
        return value + "_x" if value else "x"
    if isinstance(value, list):
        return value[:-1] if value else ["x"]
    if isinstance(value, dict):
        return {**value, "x": "x"}
    return "x"


def offered_names(task: BfclTask) -> set[str]:
    """Every function name the task offers at some turn."""
    return {d["name"] for d in task.functions} | {d["name"] for ds in task.added_functions.values() for d in ds}


def _owner(task: BfclTask, name: str) -> str | None:
    return next((c for c in task.involved_classes if name in public_methods(c)), None)


def degraded_turns(task: BfclTask, kind: str, seed: int = 0) -> Turns:
    """The ground-truth turns with one seeded mistake of ``kind`` (one of :data:`DEGRADATIONS`)."""
    if kind not in DEGRADATIONS:
        raise ValueError(f"unknown degradation {kind!r}; known: {list(DEGRADATIONS)}")
    rng = random.Random(f"{seed}:{task.id}:{kind}")
    turns = ground_truth_turns(task)
    # every call position (turn, step); each step holds one call
    slots = [(t, s) for t, turn in enumerate(turns) for s in range(len(turn))]
    if kind == "wrong_argument":
        slots = [(t, s) for t, s in slots if turns[t][s][0].args]
    if not slots:
        return turns
    t, s = rng.choice(slots)
    call = turns[t][s][0]
    if kind == "wrong_argument":
        key = rng.choice(sorted(call.args))
        turns[t][s] = [Call(call.name, {**call.args, key: _changed(call.args[key])})]
    elif kind == "skipped_call":
        del turns[t][s]
    elif kind == "extra_call":
        turns[t].insert(s + 1, [Call(call.name, dict(call.args))])  # the same call once more
    else:  # wrong_function: another function of the same class, same arguments
        owner, offered = _owner(task, call.name), offered_names(task)
        docs = function_docs(owner) if owner else []
        names = sorted(d["name"] for d in docs if d["name"] != call.name and d["name"] in offered)
        if not names:
            return turns
        turns[t][s] = [Call(rng.choice(names), dict(call.args))]
    return turns
