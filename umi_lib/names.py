"""Names that several stages share: roles, GLPFT stages, systems, and the Table-1 column labels.

Defined here once; every module, the command line and the notebooks import them from here.
"""

from __future__ import annotations

ROLES = ("planner", "caller", "summarizer")
"""The three α-UMi roles, in the order the planner hands over to them."""

BACKBONE = "backbone"
"""The single-LLM agent's one role (the whole task in one model), also the stage-1 data's name."""

STAGES = ("global", "planner", "caller", "summarizer", "multitask")
"""GLPFT recipes: stage 1 (``global``), the three stage-2 roles, and the multi-task baseline's one stage."""

TRAINED_SYSTEMS = ("single-llm", "alpha-umi", "one-stage", "multi-task")
"""Systems ``umi train`` trains (the paper's Table-1 rows that we can reproduce from one base)."""

SYSTEMS = ("base", "single-llm", "one-stage", "multi-task", "alpha-umi")
"""Systems ``umi eval`` evaluates: the trained ones plus ``base`` (no adapter, zero-shot role prompts)."""

SYSTEM_LABELS = {
    "base": "Base (no training)",
    "single-llm": "Single-LLM",
    "alpha-umi": "α-UMi (GLPFT)",
    "one-stage": "Multi-LLM one-stage",
    "multi-task": "Single-LLM multi-task",
}
"""How figures and tables name each system."""

TABLE_COLUMNS = {"plan_em": "Plan ACC", "action_em": "Act. EM", "hallu_rate": "Hallu.", "f1": "Arg F1", "rouge": "R-L"}
"""Metric key (as ``umi score`` writes it) → the paper's Table-1 column label."""
