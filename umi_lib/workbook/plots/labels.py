"""How figures name runs and read metrics: readable system names, references apart, n/a for no steps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from umi_lib.names import SYSTEM_LABELS, SYSTEMS, TABLE_COLUMNS

# ---------------------------------------------------------------- names

REFERENCE_LABELS = {"oracle": "Oracle (reference)", "degraded": "Degraded (seeded, model-free)"}
"""Model-free prediction files (:mod:`umi_lib.evaluation.model_free`) and how figures name them."""

PAPER_PREFIX = "paper: "


def label(name: str) -> str:
    """A readable name for a run: ``static_alpha-umi`` → ``α-UMi (GLPFT)``, ``oracle`` → ``Oracle (reference)``."""
    if name in REFERENCE_LABELS:
        return REFERENCE_LABELS[name]
    if name.startswith(PAPER_PREFIX):
        return f"{name.removeprefix(PAPER_PREFIX)} (paper)"
    system = name.removeprefix("static_")
    if system in SYSTEM_LABELS:
        return SYSTEM_LABELS[system]
    if system.startswith("endpoint_"):
        return f"Endpoint: {system.removeprefix('endpoint_')}"
    if system == "released":
        return "α-UMi (released models)"
    return system


def is_reference(name: str) -> bool:
    """Whether a run is a model-free reference (oracle, degraded), not a model's predictions."""
    return name in REFERENCE_LABELS


def _order(names: Sequence[str]) -> list[str]:
    """Systems in Table 1's order (base ... α-UMi), other runs after them in their given order."""
    rank = {s: k for k, s in enumerate(SYSTEMS)}
    refs = list(REFERENCE_LABELS)

    def key(name: str) -> tuple[int, int]:
        if name in refs:
            return (1, refs.index(name))
        return (0, rank.get(name.removeprefix("static_"), len(rank)))

    return sorted(names, key=key)  # stable: ties keep their given order


def _split(runs: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(model runs, model-free references), each in display order."""
    ordered = _order(list(runs))
    return [n for n in ordered if not is_reference(n)], [n for n in ordered if is_reference(n)]


METRIC_NAMES = {**TABLE_COLUMNS, "hallu_rate": TABLE_COLUMNS["hallu_rate"] + " (↓)"}  # lower is better

_METRIC_STEPS = {"plan_em": "total", "hallu_rate": "total", "action_em": "call"}  # which step count a metric averages


def metric_value(result: Mapping[str, Any], key: str) -> float | None:
    """A metric of a ``umi score`` result, or None when no step counts for it (drawn "n/a", not 0).

    The official overall value of a metric without steps is 0.0 (``steps`` then counts 0 for it, or it is
    listed in ``undefined``); breakdowns write None.
    """
    value = result.get(key)
    if value is None or key in (result.get("undefined") or ()):
        return None
    steps = result.get("steps")
    if isinstance(steps, Mapping):
        count = steps.get(key, steps.get(_METRIC_STEPS.get(key, "total")))
        if count == 0:
            return None
    return float(value)
