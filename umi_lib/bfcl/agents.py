"""BFCL's functions as α-UMi tool entries, and the model-free reference agent that plays a script of calls.

A BFCL function doc (``{"name", "description", "parameters": {"type": "dict", "properties", "required"}}``) becomes
the entry α-UMi's prompts list (``{"Name", "function", "input"}``, rendered by :func:`umi_lib.prompts.tool_docs`),
the counterpart of :func:`umi_lib.realtime.toolnames.tool_doc` for ToolBench's APIs. Rules (``docs/bfcl.md``): the
name as BFCL gives it; the whole description (BFCL's class preamble included, nothing cut: the description is the
only place that says what a function does); each parameter as ``"type, description"`` like the training data, where
an array names its item type, an enum its values, and a parameter that is not required says so with its default.

:class:`ScriptAgent` answers each pending step from a per-task script of calls (the ground truth or a degraded copy
of it) in the prediction format of :class:`~umi_lib.agent.agents.MultiLLMAgent`, so a reference goes through the
same loop, parser, validation and world as a model. :func:`reference_agent` and :func:`endpoint_agent` build the
agents ``umi eval bfcl`` needs beyond :func:`umi_lib.agent.build.make_agent`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from umi_lib import prompts as P
from umi_lib.bfcl.tasks import BfclTask
from umi_lib.config import Profile

GROUND_TRUTH = "ground-truth"
"""The model-free system that plays BFCL's ground truth (it must pass every task)."""

DEGRADED_PREFIX = "degraded-"
"""``degraded-<kind>``: the ground truth with one seeded kind of damage (:mod:`umi_lib.bfcl.reference`)."""

REFERENCE_THOUGHT = "Reference step."
"""The thought every scripted step shows (a reference has no reasoning to show)."""

REFERENCE_ANSWER = "Done."
"""The scripted agent's answer at the end of a turn (BFCL's multi-turn checker never reads the answer text)."""


def param_doc(spec: Mapping[str, Any], required: bool) -> str:
    """One parameter as α-UMi's ``input`` shows it: ``"type, description"`` plus items, values and default."""
    kind = str(spec.get("type", ""))
    items = spec.get("items")
    if kind == "array" and isinstance(items, Mapping) and items.get("type"):
        kind += f" of {items['type']}"
    text = " ".join(str(spec.get("description", "")).split())
    if isinstance(spec.get("enum"), list):
        text += f" One of: {', '.join(json.dumps(v) for v in spec['enum'])}."
    if not required:
        text += f" Optional, default {json.dumps(spec['default'])}." if "default" in spec else " Optional."
    return f"{kind}, {text.strip()}" if text.strip() else kind


def tool_doc(function: Mapping[str, Any]) -> dict[str, Any]:
    """The α-UMi tool entry (key order ``Name``, ``function``, ``input``) of one BFCL function doc."""
    params = function.get("parameters") or {}
    required = set(params.get("required") or ())
    props = params.get("properties") or {}
    inputs = {str(k): param_doc(v if isinstance(v, Mapping) else {}, k in required) for k, v in props.items()}
    return {"Name": str(function["name"]), "function": str(function.get("description", "")), "input": inputs}


def tool_list(functions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The tool list of a step, in BFCL's order (functions added back in a turn come last)."""
    return [tool_doc(f) for f in functions]


def call_prediction(name: str, args: Mapping[str, Any], thought: str = REFERENCE_THOUGHT) -> str:
    """The prediction string of one call step, as :class:`~umi_lib.agent.agents.MultiLLMAgent` writes it."""
    caller = P.caller_value(name, json.dumps(dict(args)))
    return P.PREDICTION_ASSISTANT + thought + P.LABEL_PREFIX + P.NEXT_CALLER + P.EOS + P.TURN_CALLER + caller


def conclusion_prediction(answer: str = REFERENCE_ANSWER, thought: str = REFERENCE_THOUGHT) -> str:
    """The prediction string of a step that ends the turn with an answer to the user."""
    head = P.PREDICTION_ASSISTANT + thought + P.LABEL_PREFIX + P.NEXT_CONCLUSION
    return head + P.EOS + P.TURN_CONCLUSION + answer


class ScriptAgent:
    """A model-free agent: step ``k`` of turn ``t`` of a task makes the script's ``k``-th call of turn ``t``, and
    the step after the last call concludes the turn.

    ``scripts`` maps a task id to its turns of calls (objects with ``name`` and ``args``). Steps carry ``task``,
    ``turn`` and ``step`` (the loop of :mod:`umi_lib.bfcl.run` adds them), so the agent keeps no state.
    """

    def __init__(self, scripts: Mapping[str, Sequence[Sequence[Any]]], name: str = "ground-truth"):
        self.scripts, self.name = scripts, name
        self.params: dict[str, Any] = {}
        self.counts: Counter = Counter()

    def predict(self, steps: Sequence[Mapping[str, Any]]) -> list[str]:
        """One prediction string per step: the script's next call, or the conclusion after the turn's last call."""
        out = []
        for s in steps:
            turns = self.scripts[s["task"]]
            calls = turns[s["turn"]] if s["turn"] < len(turns) else []
            if s["step"] < len(calls):
                call = calls[s["step"]]
                out.append(call_prediction(call.name, call.args))
                self.counts["caller"] += 1
            else:
                out.append(conclusion_prediction())
                self.counts["summarizer"] += 1
        return out

    def settings(self) -> dict[str, Any]:
        """What decides this agent's outputs (for manifests)."""
        return {"agent": type(self).__name__, "reference": self.name}


def reference_agent(system: str, tasks: Sequence[BfclTask], seed: int) -> ScriptAgent:
    """``ground-truth`` or ``degraded-<kind>``: every task's script from :mod:`umi_lib.bfcl.reference` (one call per
    step there too; positional arguments already named, as the caller's JSON needs)."""
    from umi_lib.bfcl import reference

    if system == GROUND_TRUTH:
        scripts = {t.id: reference.ground_truth_turns(t) for t in tasks}
    elif system.startswith(DEGRADED_PREFIX):
        kind = system[len(DEGRADED_PREFIX) :]
        scripts = {t.id: reference.degraded_turns(t, kind, seed) for t in tasks}
    else:
        raise ValueError(f"not a reference system: {system!r}")
    flat = {i: [[c for step in turn for c in step] for turn in turns] for i, turns in scripts.items()}
    return ScriptAgent(flat, system)


def is_reference(system: str) -> bool:
    """Whether ``system`` is a model-free reference (``ground-truth``, ``degraded-<kind>``)."""
    return system == GROUND_TRUTH or system.startswith(DEGRADED_PREFIX)


def endpoint_agent(profile: Profile, base_url: str, model: str | None, models: Mapping[str, str] | None = None,
                   tokenizer: str | None = None) -> tuple[Any, str]:  # fmt: skip
    """``(agent, system name)`` of an OpenAI-compatible endpoint with the α-UMi role prompts, set up as
    :func:`umi_lib.evaluation.static.evaluate_endpoint` does (prompts cut to ``eval.max_input_tokens``, every role
    output stopped at ``</s>``)."""
    from umi_lib.agent.build import endpoint_name, make_endpoint_agent

    agent, model = make_endpoint_agent(profile, base_url, model, dict(models or {}), tokenizer)
    return agent, endpoint_name(model)
