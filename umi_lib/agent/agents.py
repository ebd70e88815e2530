"""The α-UMi agent (planner → caller or summarizer) and the single-LLM baseline, over any backend.

A backend turns prompts of one role into outputs (:class:`Backend`); the agents build the role prompts from a
static-evaluation step and route on the planner's decision, and write predictions in the official format.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from umi_lib import prompts as P

EMPTY_OUTPUTS = ("", ".", ",")  # the official pipeline maps these to "none" (docs/agent.md#generation)


@dataclass(frozen=True)
class GenParams:
    """Decoding settings of one role."""

    max_new_tokens: int = 512
    do_sample: bool = False  # greedy by default; the official run sampled (docs/agent.md#generation)
    temperature: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = ()  # extra stop strings; the output is cut at the first one


class Backend(Protocol):
    def generate(
        self, role: str, prompts: Sequence[str], params: GenParams, streams: Sequence[Any] | None = None
    ) -> list[str]: ...


STREAM_KEYS = ("stream", "trajectory", "task")
"""Step keys naming the stream a step belongs to (a rollout's query, a static trajectory, a BFCL task), first found
wins: consecutive prompts of one stream share their head, which a backend with prefix reuse prefills once."""


def stream_of(step: dict[str, Any]) -> Any:
    """The stream of ``step`` (see :data:`STREAM_KEYS`); None: the step shares nothing with any other."""
    return next((step[k] for k in STREAM_KEYS if step.get(k) is not None), None)


def release_streams(holder: Any, streams: Sequence[Any] | None) -> None:
    """``holder.release(streams)`` for agents and backends that hold cached prefixes; others have nothing to drop."""
    release = getattr(holder, "release", None)
    if callable(release):
        release(streams)


def prefill_stats(agent: Any) -> dict[str, float]:
    """The tallies of what the agent's backend prefilled and reused (empty when the backend keeps none)."""
    return dict(getattr(getattr(agent, "backend", None), "stats", None) or {})


def clean_output(text: str, stop: Sequence[str] = ()) -> str:
    """Official post-processing: cut at stop strings, strip a leading ``": "``, empty → ``"none"``."""
    for s in stop:
        if s in text:
            text = text[: text.index(s)]
    if text.startswith(": "):
        text = text[2:]
    return P.NO_ANSWER if text.strip() in EMPTY_OUTPUTS else text


DEFAULT_PARAMS = {
    "planner": GenParams(max_new_tokens=128),
    "caller": GenParams(max_new_tokens=128),
    "summarizer": GenParams(max_new_tokens=256),
    "backbone": GenParams(max_new_tokens=256),
}


def _cut_after(text: str, marker: str) -> str:
    return text[: text.index(marker) + len(marker)]


@dataclass
class Agent:
    """Common part: params per role, counts of what happened (routes, unparseable outputs)."""

    backend: Backend
    params: dict[str, GenParams] = field(default_factory=lambda: dict(DEFAULT_PARAMS))
    counts: Counter = field(default_factory=Counter)

    def predict(self, steps: Sequence[dict[str, Any]]) -> list[str]:
        raise NotImplementedError

    def release(self, streams: Sequence[Any] | None = None) -> None:
        """Tell the backend that ``streams`` (all: ``None``) have no steps left, so their cached prefixes can go."""
        release_streams(self.backend, streams)

    def settings(self) -> dict[str, Any]:
        """What decides this agent's outputs (for manifests): kind, decoding per role, prompt options, backend."""
        out: dict[str, Any] = {"agent": type(self).__name__}
        out["params"] = {role: asdict(p) for role, p in sorted(self.params.items())}
        out.update({k: getattr(self, k) for k in ("official_role_name", "compat") if hasattr(self, k)})
        describe = getattr(self.backend, "settings", None)
        out["backend"] = describe() if callable(describe) else type(self.backend).__name__
        return out


@dataclass
class MultiLLMAgent(Agent):
    """Planner, then caller or summarizer, routed on the planner's label.

    Routing: ``docs/agent.md#routing-the-planner-output``; one step: ``docs/agent.md#one-agent-step``.

    ``official_role_name``: the official static pipeline writes the current step into the caller's and
    summarizer's history as ``"planner: ..."``, a role name never seen in training; by default we write
    ``"assistant: ..."`` as in training and in the real-time agent.
    """

    official_role_name: bool = False
    compat: bool = False

    def route(self, planner_output: str) -> tuple[str, str]:
        """``(next role, planner prediction)``: give-up / summarizer / caller, truncated after the label."""
        if P.NEXT_GIVE_UP in planner_output:
            return "give up", _cut_after(planner_output, P.NEXT_GIVE_UP)
        if P.NEXT_CONCLUSION in planner_output:
            return "summarizer", _cut_after(planner_output, P.NEXT_CONCLUSION)
        if P.NEXT_CALLER in planner_output:
            return "caller", _cut_after(planner_output, P.NEXT_CALLER)
        self.counts["planner_without_label"] += 1
        return "caller", planner_output + P.NEXT_CALLER  # official: no space before the label

    def _history(self, step: dict[str, Any], planner_prediction: str) -> str:
        role = P.ROLE_PLANNER_STATIC if self.official_role_name else P.ROLE_ASSISTANT
        return step["history"] + f"{role}: {planner_prediction}{P.EOS}"

    def predict(self, steps: Sequence[dict[str, Any]]) -> list[str]:
        streams = [stream_of(s) for s in steps]
        plans = self.backend.generate("planner", [s["input"] for s in steps], self.params["planner"], streams)
        routes = [self.route(p) for p in plans]
        self.counts.update(r for r, _ in routes)
        out: list[str] = [""] * len(steps)
        for role in ("caller", "summarizer"):
            idx = [k for k, (r, _) in enumerate(routes) if r == role]
            if not idx:
                continue
            texts = [
                P.fill(role, steps[k]["tools"], self._history(steps[k], routes[k][1]), routes[k][1], self.compat)
                for k in idx
            ]
            replies = self.backend.generate(role, texts, self.params[role], [streams[k] for k in idx])
            turn = P.TURN_CALLER if role == "caller" else P.TURN_CONCLUSION
            for k, reply in zip(idx, replies, strict=True):
                out[k] = P.PREDICTION_ASSISTANT + routes[k][1] + P.EOS + turn + reply
                if role == "caller" and P.MARK_ACTION not in reply:
                    self.counts["caller_without_action"] += 1
        for k, (r, plan) in enumerate(routes):
            if r == "give up":
                out[k] = plan
        return out


@dataclass
class SingleLLMAgent(Agent):
    """One backbone model: its output is parsed into the official prediction format.

    Parsing: ``docs/agent.md#single-llm-parsing``.
    """

    compat: bool = False

    def to_prediction(self, output: str) -> str:
        """Backbone text → the multi-agent prediction string, so the same scorer reads every system."""
        if P.MARK_BACKBONE_GIVE_UP in output:
            thought = output[: output.index(P.MARK_BACKBONE_GIVE_UP)].rstrip()
            return thought + P.LABEL_PREFIX + P.NEXT_GIVE_UP
        if P.MARK_ANSWER in output:
            k = output.rindex(P.MARK_ANSWER)
            thought, answer = output[:k].rstrip(), output[k + len(P.MARK_ANSWER) :]
            return (
                P.PREDICTION_ASSISTANT
                + thought
                + P.LABEL_PREFIX
                + P.NEXT_CONCLUSION
                + P.EOS
                + P.TURN_CONCLUSION
                + answer
            )
        if P.MARK_ACTION in output:
            k = output.index(P.MARK_ACTION)
            thought, call = output[:k].rstrip(), output[k:]
        else:
            self.counts["backbone_unparseable"] += 1
            thought, call = output.rstrip(), ""
        return P.PREDICTION_ASSISTANT + thought + P.LABEL_PREFIX + P.NEXT_CALLER + P.EOS + P.TURN_CALLER + call

    def predict(self, steps: Sequence[dict[str, Any]]) -> list[str]:
        texts = [P.fill("backbone", s["tools"], s["history"], compat=self.compat) for s in steps]
        outputs = self.backend.generate("backbone", texts, self.params["backbone"], [stream_of(s) for s in steps])
        return [self.to_prediction(o) for o in outputs]
