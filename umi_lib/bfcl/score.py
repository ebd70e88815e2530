"""BFCL's multi-turn pass/fail, recomputed without ``eval``, and accuracy with bootstrap intervals.

:func:`score_task` applies the checks of BFCL's ``multi_turn_checker`` (as its ``eval_runner`` calls it),
in its order, on two fresh :class:`~umi_lib.bfcl.world.World` s (model, ground truth):

0. the model must answer every turn (else BFCL's runner fails the task as force-terminated); steps with
   no calls are dropped first, as the runner does;
1. per turn, the model's calls run, then the ground truth's; a turn whose ground truth is non-empty but
   whose model answer has no calls fails (``empty_turn``);
2. turns with an empty ground truth are never checked (their model calls still run and change state);
3. **state**: every public attribute of every ground-truth instance must equal the model's (``state``);
4. **responses**: the ground truth's results of this turn must be found, as a multiset, among the model's
   results of all turns so far (``response``).

A task passes when every turn passes; the first failing turn and the reason are kept.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from umi_lib.bfcl.calls import Call, parse_call
from umi_lib.bfcl.tasks import CATEGORIES, BfclTask
from umi_lib.bfcl.world import World

REASONS = ("turn_count", "empty_turn", "state", "response")


@dataclass
class TaskResult:
    """One task's verdict."""

    task_id: str
    """The task's id."""
    category: str
    """The task's category."""
    passed: bool
    """Whether every turn passed."""
    failed_turn: int | None
    """The first failing turn (``None`` when passed or when the turn counts differ)."""
    reason: str | None
    """One of :data:`REASONS`, ``None`` when passed."""
    turns: int
    """Number of turns of the task."""
    detail: str = ""
    """What differed: the attributes of a state mismatch, or the missing results (shortened)."""


def ground_truth_calls(task: BfclTask) -> list[list[Call]]:
    """The task's ground-truth call strings, parsed (no ``eval``)."""
    return [[parse_call(text) for text in turn] for turn in task.ground_truth]


def _short(items: Sequence[str], limit: int = 300) -> str:
    text = "; ".join(items)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def score_task(task: BfclTask, model_turns: Sequence[Sequence[Sequence[Call]]]) -> TaskResult:
    """Score one task: ``model_turns[t]`` is the model's steps in turn ``t``, each the calls it executed."""
    truth = ground_truth_calls(task)
    n = len(truth)

    def fail(turn: int | None, reason: str, detail: str = "") -> TaskResult:
        return TaskResult(task.id, task.category, False, turn, reason, n, detail)

    if len(model_turns) != n:
        return fail(None, "turn_count", f"{len(model_turns)} model turns for {n} turns")
    model, reference = World(task), World(task)
    model_results: list[str] = []  # every model result so far, all turns
    for t, (steps, expected) in enumerate(zip(model_turns, truth, strict=True)):
        steps = [list(step) for step in steps if step]  # the runner drops empty steps
        for step in steps:
            model_results.extend(model.call(c) for c in step)
        expected_results = [reference.call(c) for c in expected]
        if not expected:
            continue  # never penalised; the model's calls above still ran
        if not steps:
            return fail(t, "empty_turn", "no calls in a turn with a ground truth")
        differences = model.differences(reference)
        if differences:
            return fail(t, "state", _short(differences))
        available = Counter(model_results)
        missing = []
        for result in expected_results:
            if available[result] > 0:
                available[result] -= 1
            else:
                missing.append(result)
        if missing:
            return fail(t, "response", _short(missing))
    return TaskResult(task.id, task.category, True, None, None, n)


def _interval(values: Any, resamples: int, seed: int, level: float) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of each column group, averaged (see :func:`accuracy`)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    means = np.zeros(resamples)
    for group in values:
        arr = np.asarray(group, dtype=float)
        draws = rng.integers(0, len(arr), size=(resamples, len(arr)))
        means += arr[draws].mean(axis=1)
    means /= len(values)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low) * 100, float(high) * 100


def accuracy(
    results: Sequence[TaskResult], resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, dict[str, float]]:
    """Accuracy in percent per category and ``overall``, with seeded percentile bootstrap intervals over tasks.

    ``overall`` is BFCL's multi-turn overall: the unweighted mean of the category accuracies; its interval
    resamples tasks within each category. Each entry: ``n``, ``passed``, ``accuracy``, ``low``, ``high``.
    """
    by_category: dict[str, list[float]] = {}
    for r in results:
        by_category.setdefault(r.category, []).append(1.0 if r.passed else 0.0)
    order = [c for c in CATEGORIES if c in by_category] + sorted(set(by_category) - set(CATEGORIES))
    out: dict[str, dict[str, float]] = {}
    for k, category in enumerate(order):
        values = by_category[category]
        low, high = _interval([values], resamples, seed + k, level)
        out[category] = {
            "n": len(values),
            "passed": int(sum(values)),
            "accuracy": 100 * sum(values) / len(values),
            "low": low,
            "high": high,
        }
    if order:
        groups = [by_category[c] for c in order]
        low, high = _interval(groups, resamples, seed, level)
        out["overall"] = {
            "n": sum(len(g) for g in groups),
            "passed": int(sum(sum(g) for g in groups)),
            "accuracy": sum(out[c]["accuracy"] for c in order) / len(order),
            "low": low,
            "high": high,
        }
    return out
