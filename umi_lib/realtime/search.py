"""Real-time rollouts against a tool environment: ReAct (one chain) and DFSDT (depth-first, width 2).

Each query's search is a generator that yields the conversation it needs the next agent step for and receives the
agent's prediction string (the static format, ``docs/formats.md#official-prediction-strings``); a driver batches the
pending steps of all queries into one ``agent.predict`` call, so rollouts run at batch speed on one base.

Our DFSDT (``docs/realtime.md#search``; a stated simplification of ``docs/agent.md#dfsdt-search-loop``): every agent
step is one tree node with at most ``width`` (2) children; before a node's second child is generated the history
gets ToolBench's diversity message listing the earlier candidates; a ``give_answer`` Finish ends the search, a
give-up or an exhausted chain (``max_depth`` steps) ends that branch and the search backtracks to the closest node
with a child left. ReAct is the same with width 1. Budgets per query: model steps, approximate tokens, wall time.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

from umi_lib import prompts as P
from umi_lib.agent.agents import release_streams
from umi_lib.evaluation.metrics import CALL, FINISH, GIVE_UP, parse_output
from umi_lib.progress import tqdm
from umi_lib.realtime.catalog import Query
from umi_lib.realtime.dispatch import ANSWERED, GAVE_UP, OK, Outcome, hit_rate
from umi_lib.realtime.keys import observation_text

METHODS = {"react": 1, "dfsdt": 2}  # method -> tree width

ERROR_WORDS = ("error", "404", "403", "rate limit", "does not exist", "unauthorized", "forbidden", "not found")


@dataclass
class Budget:
    """Limits of one query's search."""

    max_depth: int = 4  # agent steps per chain (ToolBench: 12 tree levels = 4 steps)
    max_model_steps: int = 200  # agent steps per query (ToolBench's max_query_count)
    max_tokens: int | None = None  # approximate tokens (characters / 4) of histories + outputs per query
    max_seconds: float | None = None  # wall time per query

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Node:
    """One agent step: what it said, what it called, what came back."""

    prediction: str
    thought: str
    plan: str  # call / finish / give up
    action: str
    arguments: str
    outcome: Outcome | None = None
    observation: str = ""
    depth: int = 0
    children: list[Node] = field(default_factory=list)

    @property
    def answered(self) -> bool:
        return self.outcome is not None and self.outcome.code == ANSWERED

    def turns(self) -> list[tuple[str, str]]:
        """The history turns this step adds, in the training format (``docs/agent.md#one-agent-step``)."""
        head = self.prediction.removeprefix(P.PREDICTION_ASSISTANT)
        value, _, rest = head.partition(P.EOS)
        out = [(P.ROLE_ASSISTANT, value)]
        if self.plan == CALL:
            out.append((P.ROLE_CALLER, rest.removeprefix(P.ROLE_CALLER + ": ")))
            out.append((P.ROLE_OBSERVATION, self.observation))
        elif self.plan == FINISH:
            out.append((P.ROLE_CONCLUSION, rest.removeprefix(P.ROLE_CONCLUSION + ": ")))
        return out


def node_from_prediction(prediction: str, depth: int) -> Node:
    """Parse an agent prediction into a step; unparseable text still becomes a call (of ``none``)."""
    p = parse_output(prediction)
    thought = prediction.removeprefix(P.PREDICTION_ASSISTANT).split(P.EOS)[0]
    for label in (P.NEXT_CALLER, P.NEXT_CONCLUSION, P.NEXT_GIVE_UP):
        thought = thought.replace(label, "")
    thought = thought.strip()
    if p.plan == GIVE_UP:
        args = json.dumps({"return_type": P.GIVE_UP_RETURN})
        return Node(prediction, thought, GIVE_UP, P.FINISH, args, depth=depth)
    if p.plan == FINISH:
        args = json.dumps({"return_type": "give_answer", "final_answer": (p.answer or "").strip()})
        return Node(prediction, thought, FINISH, P.FINISH, args, depth=depth)
    return Node(prediction, thought, CALL, p.action or P.NO_ANSWER, p.action_input or "{}", depth=depth)


@dataclass
class Rollout:
    """One query's search: the tree, the chosen chain, the answer and the accounting."""

    query: Query
    method: str
    roots: list[Node] = field(default_factory=list)
    chain: list[Node] = field(default_factory=list)  # the path that answered, or the last path tried
    model_steps: int = 0
    approx_tokens: int = 0
    seconds: float = 0.0
    stopped: str = ""  # answered / exhausted / budget:<which>

    @property
    def final(self) -> Node | None:
        return self.chain[-1] if self.chain and self.chain[-1].action == P.FINISH else None

    @property
    def finish_type(self) -> str:
        f = self.final
        if f is None or f.outcome is None:
            return "none"
        return {ANSWERED: "give_answer", GAVE_UP: "give_up"}.get(f.outcome.code, "none")

    @property
    def final_answer(self) -> str:
        f = self.final
        return f.arguments if f is not None and self.finish_type != "none" else ""

    def nodes(self) -> list[Node]:
        out, stack = [], list(reversed(self.roots))
        while stack:
            n = stack.pop()
            out.append(n)
            stack.extend(reversed(n.children))
        return out


def diversity_message(previous: Sequence[Node], last_observation: str) -> str:
    cands = [{"name": n.action, "arguments": n.arguments,
              "function_output": json.dumps(n.outcome.envelope if n.outcome else {}),
              "mento-carlo-action-value": 0.0} for n in previous]  # fmt: skip
    text = P.DIVERSITY_HEAD + json.dumps(cands, indent=2)
    if last_observation:
        text += "\nagain, your former observation: " + last_observation
    return text + P.DIVERSITY_TAIL


class Search:
    """The generator side of one query (see the module docstring)."""

    def __init__(self, query: Query, env: Any, method: str, budget: Budget, style: str = "training"):
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}: {', '.join(METHODS)}")
        self.query, self.env, self.budget, self.style = query, env, budget, style
        self.width = METHODS[method]
        self.result = Rollout(query, method)
        self.start = time.perf_counter()

    def _over_budget(self) -> str | None:
        b, r = self.budget, self.result
        if r.model_steps >= b.max_model_steps:
            return "budget:model_steps"
        if b.max_tokens is not None and r.approx_tokens >= b.max_tokens:
            return "budget:tokens"
        if b.max_seconds is not None and time.perf_counter() - self.start >= b.max_seconds:
            return "budget:seconds"
        return None

    def _step(self, turns: list[tuple[str, str]], depth: int) -> Generator[str, str, Node]:
        history = "".join(P.render_turn(role, value) for role, value in turns)
        prediction = yield history
        self.result.model_steps += 1
        self.result.approx_tokens += (len(history) + len(prediction)) // 4
        node = node_from_prediction(prediction, depth)
        node.outcome = self.env.call(node.action, node.arguments, self.query.functions, self.query.query)
        if node.plan == CALL:
            node.observation = observation_text(node.outcome.envelope, self.style)
        return node

    def _expand(self, turns: list[tuple[str, str]], path: list[Node], depth: int) -> Generator[str, str, bool]:
        """Depth-first from the state ``turns``; True once an answer is given."""
        siblings: list[Node] = path[-1].children if path else self.result.roots
        for _ in range(self.width):
            if (why := self._over_budget()) is not None:
                self.result.stopped = self.result.stopped or why
                return False
            ctx = turns
            if siblings:
                last = path[-1].observation if path else ""
                ctx = turns + [(P.ROLE_USER, diversity_message(siblings, last))]
            node = yield from self._step(ctx, depth)
            siblings.append(node)
            self.result.chain = path + [node]
            if node.answered:
                self.result.stopped = "answered"
                return True
            if node.action == P.FINISH or depth + 1 >= self.budget.max_depth:
                continue  # give-up, a bad Finish or a full chain: try a sibling, then backtrack
            if (yield from self._expand(ctx + node.turns(), path + [node], depth + 1)):
                return True
        return False

    def run(self) -> Generator[str, str, Rollout]:
        answered = yield from self._expand([(P.ROLE_USER, self.query.query)], [], 0)
        self.result.stopped = self.result.stopped or ("answered" if answered else "exhausted")
        self.result.seconds = time.perf_counter() - self.start
        return self.result


def rollout(agent: Any, env: Any, queries: Sequence[Query], method: str = "dfsdt", budget: Budget | None = None,
            style: str = "training", progress: bool = True) -> list[Rollout]:  # fmt: skip
    """Run every query's search, batching the pending agent steps of all queries into one predict call."""
    budget = budget or Budget()
    gens = [Search(q, env, method, budget, style).run() for q in queries]
    pending: dict[int, str] = {}
    results: list[Rollout | None] = [None] * len(queries)
    bar = tqdm(total=len(queries), desc=f"rollouts ({method})", unit="query", disable=not progress)

    def advance(k: int, prediction: str | None) -> None:
        """Feed one prediction (None: start) to query ``k``'s search; store its result when it ends."""
        try:
            pending[k] = next(gens[k]) if prediction is None else gens[k].send(prediction)
        except StopIteration as stop:  # a search can end before its first step (budget) or after any step
            results[k] = stop.value
            if pending.pop(k, None) is not None:
                release_streams(agent, [k])  # its cached prompt prefixes are of no further use
            bar.update(1)

    for k in range(len(gens)):
        advance(k, None)
    try:
        while pending:
            order = list(pending)
            steps = [{"tools": queries[k].tools, "history": pending[k], "stream": k,
                      "input": P.fill("planner", queries[k].tools, pending[k])} for k in order]  # fmt: skip
            for k, prediction in zip(order, agent.predict(steps), strict=True):
                advance(k, prediction)
    finally:
        release_streams(agent, list(pending))  # left only when a step raised
        bar.close()
    return [r for r in results if r is not None]


def successful(node: Node) -> bool:
    """A real call that returned something that does not look like an error (keyword heuristic)."""
    o = node.outcome
    if o is None or node.action == P.FINISH or o.code != OK or o.envelope.get("error"):
        return False
    text = observation_text(o.envelope).lower()
    return bool(text.strip()) and not any(w in text for w in ERROR_WORDS)


def proxy_metrics(rollouts: Sequence[Rollout]) -> dict[str, Any]:
    """Deterministic per-run proxies: finish/give-up rates, calls per query, replay hit rate, etc."""
    n = len(rollouts)
    kinds: Counter = Counter()
    calls = 0
    with_success = 0
    for r in rollouts:
        real = [x for x in r.nodes() if x.action != P.FINISH and x.outcome is not None]
        calls += len(real)
        kinds.update(x.outcome.kind for x in real)
        with_success += r.finish_type == "give_answer" and any(successful(x) for x in r.chain)
    return {
        "queries": n,
        "finish_rate": sum(r.finish_type == "give_answer" for r in rollouts) / n if n else None,
        "give_up_rate": sum(r.finish_type == "give_up" for r in rollouts) / n if n else None,
        "no_answer_rate": sum(r.finish_type == "none" for r in rollouts) / n if n else None,
        "calls_per_query": calls / n if n else None,
        "model_steps_per_query": sum(r.model_steps for r in rollouts) / n if n else None,
        "replay_hit_rate": hit_rate(kinds),
        "answered_with_success_rate": with_success / n if n else None,
        "hallucinated_tool_rate": kinds["unknown_function"] / calls if calls else None,
        "call_outcomes": dict(kinds),
    }
