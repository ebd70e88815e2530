"""ToolBench's dispatcher, offline: Finish, suffix name matching, argument checks, 1024-character truncation,
and the miss policy (exact → nearest → simulator → error), counting the outcome of every call.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from umi_lib import prompts as P
from umi_lib.data.records import FormatError
from umi_lib.realtime.catalog import Catalog, Endpoint
from umi_lib.realtime.keys import canonical_key, parse_arguments
from umi_lib.realtime.store import SOURCES, Recorded, ResponseStore, harvest
from umi_lib.realtime.toolnames import api_function, function_spellings

MAX_ARGUMENT_CHARS = 8192  # longer argument strings are refused as an input error (no recorded call is near)

# ToolBench client status codes (docs/toolbench.md#observation-envelope-and-status-codes)
OK, NO_FUNCTION, INPUT_ERROR, ANSWERED, GAVE_UP, API_ERROR = 0, 1, 2, 3, 4, 6

MISS_RESPONSE = "replay miss: no recorded response for {function} with these arguments"


@dataclass
class Outcome:
    """One call's result: the envelope, ToolBench's status code, and how it was served."""

    envelope: dict[str, Any]
    code: int
    kind: str  # hit / approximate / simulated / miss / finish / unknown_function / input_error
    function: str = ""


SERVED = ("hit", "approximate", "simulated", "miss", "server")  # outcomes of calls that reached an API


def hit_rate(kinds: Mapping[str, int]) -> float | None:
    """Recorded answers over all calls that reached an API (None when there were none)."""
    served = sum(kinds.get(k, 0) for k in SERVED)
    return kinds.get("hit", 0) / served if served else None


@dataclass
class MissPolicy:
    """What the environment does when no recorded response matches (recorded in every run's metadata)."""

    nearest: bool = False  # replay the same endpoint's closest recorded arguments (approximate; off when scoring)
    simulator_url: str | None = None  # OpenAI-compatible chat endpoint that invents a response
    simulator_model: str = ""
    simulated_file: str | None = None  # JSONL layer where simulated answers are kept and replayed from

    def to_json(self) -> dict[str, Any]:
        return {"nearest": self.nearest, "simulator_url": self.simulator_url, "simulator_model": self.simulator_model,
                "simulated_file": self.simulated_file}  # fmt: skip


def finish(args_text: str) -> Outcome:
    """ToolBench's Finish: give_answer (3) needs a final_answer; give_up_and_restart (4); else an input error."""
    try:
        args = parse_arguments(args_text)
    except FormatError:
        args = {}
        for key in ("give_up_and_restart", "give_answer"):  # ToolBench salvages broken JSON by substring
            if key in str(args_text):
                args = {"return_type": key}
                break
        if args.get("return_type") == "give_answer" and P.FINAL_ANSWER_KEY_QUOTED in str(args_text):
            args["final_answer"] = str(args_text).split(P.FINAL_ANSWER_KEY_QUOTED, 1)[1].strip().strip('"}')
    kind = args.get("return_type")
    if kind is None:
        return Outcome({"error": 'must have "return_type"', "response": ""}, INPUT_ERROR, "finish")
    if kind == P.GIVE_UP_RETURN:
        return Outcome({"error": "", "response": '{"response":"chose to give up and restart"}'}, GAVE_UP, "finish")
    if kind == "give_answer":
        if "final_answer" not in args:
            return Outcome({"error": 'must have "final_answer"', "response": ""}, INPUT_ERROR, "finish")
        return Outcome({"error": "", "response": "{\"response\":\"successfully giving the final answer.\"}"},
                       ANSWERED, "finish")  # fmt: skip
    return Outcome({"error": '"return_type" is not a valid choice', "response": ""}, INPUT_ERROR, "finish")


def toolbench_observation(outcome: Outcome) -> str:
    """The observation string ToolBench's environment returns for a call (answer-file trees, ``function``
    messages): the JSON envelope, except for Finish, whose ``_step`` returns a bare string, never wrapped in an
    envelope: ``{"response":"successfully giving the final answer."}`` (3), ``{"response":"chose to give up and
    restart"}`` (4), or an error such as ``{error:"must have "final_answer""}`` (2, not even JSON)."""
    if outcome.kind != "finish":
        return json.dumps(outcome.envelope)
    error = str(outcome.envelope.get("error", ""))
    return '{error:"' + error + '"}' if error else str(outcome.envelope.get("response", ""))


def _missing_message(api: str, names: list[str]) -> str:
    quoted = [f"'{n}'" for n in names]
    listed = quoted[0] if len(quoted) == 1 else (", ".join(quoted[:-1]) + (", and " if len(quoted) > 2 else " and ")
                                                   + quoted[-1])  # fmt: skip
    plural = "s" if len(names) > 1 else ""
    return f"{api}() missing {len(names)} required positional argument{plural}: {listed}"


def resolve(name: str, offered: Sequence[str]) -> str | None:
    """ToolBench's loose match: the first offered function whose name ends with ``name``."""
    return next((f for f in offered if f.endswith(name)), None)


def validate(ep: Endpoint, args: Mapping[str, Any]) -> str | None:
    """The Python error the real ``api.py`` function would raise, or None (types are not checked)."""
    api = api_function(ep.api) if ep.api else ep.function.split("_for_")[0]
    where = f"Function executing from my_tools.{ep.category}.{ep.tool}.api import {api} error...\n"
    known = set(ep.required) | set(ep.optional)
    for key in args:
        if key not in known:
            return where + f"{api}() got an unexpected keyword argument '{key}'"
    missing = [k for k in ep.required if k not in args]
    return where + _missing_message(api, missing) if missing else None


def precheck(catalog: Catalog, name: str, arguments: Any, offered: Sequence[str]) -> Outcome | tuple[str, dict]:
    """What ToolBench settles before any API runs: Finish, the name, the arguments.

    Returns the final :class:`Outcome`, or ``(function, parsed arguments)`` of a valid call to dispatch.
    """
    if name == P.FINISH:
        return finish(arguments if isinstance(arguments, str) else json.dumps(arguments))
    function = resolve(name, offered)
    if function is None:
        return Outcome({"error": f"No such function name: {name}", "response": ""}, NO_FUNCTION,
                       "unknown_function", name)  # fmt: skip
    if isinstance(arguments, str) and len(arguments) > MAX_ARGUMENT_CHARS:
        return Outcome({"error": f"Tool input parse error...\ninput longer than {MAX_ARGUMENT_CHARS} characters",
                        "response": ""}, INPUT_ERROR, "input_error", function)  # fmt: skip
    try:
        args = parse_arguments(arguments)
    except FormatError:
        return Outcome({"error": "Tool input parse error...\n", "response": ""}, INPUT_ERROR, "input_error",
                       function)  # fmt: skip
    problem = validate(catalog.endpoints.get(function, Endpoint(function)), args)
    if problem is not None:
        return Outcome({"error": problem, "response": ""}, INPUT_ERROR, "input_error", function)
    return function, args


@dataclass
class ReplayEnv:
    """The offline tool environment of one or many queries (``docs/realtime.md#environment``)."""

    catalog: Catalog
    store: ResponseStore
    policy: MissPolicy = field(default_factory=MissPolicy)
    counts: Counter = field(default_factory=Counter)
    misses: list[dict[str, Any]] = field(default_factory=list)
    simulator: Any = None  # set from policy.simulator_url on first miss

    resolve = staticmethod(resolve)

    def call(self, name: str, arguments: Any, offered: Sequence[str], query: str = "") -> Outcome:
        """One tool call of an agent offered ``offered`` functions for ``query``; the outcome is counted."""
        out = self._call(name.strip(), arguments, offered, query)
        self.counts[out.kind] += 1
        return out

    def _call(self, name: str, arguments: Any, offered: Sequence[str], query: str = "") -> Outcome:
        checked = precheck(self.catalog, name, arguments, offered)
        if isinstance(checked, Outcome):
            return checked
        function, args = checked
        ep = self.catalog.endpoints.get(function, Endpoint(function))
        rec = self.store.lookup(function, args, query)
        if rec is not None:  # an answer a simulator gave earlier still counts as simulated, not as a recording
            return Outcome(dict(rec.envelope), OK, "simulated" if rec.source == "simulated" else "hit", function)
        return self._miss(ep, function, args)

    def _miss(self, ep: Endpoint, function: str, args: Mapping[str, Any]) -> Outcome:
        """``function`` is the offered name (it may be an alias of ``ep.function``)."""
        if self.policy.nearest:
            rec = self.store.nearest(function, args)
            if rec is not None:
                return Outcome(dict(rec.envelope), OK, "approximate", function)
        if self.policy.simulator_url:
            env = self._simulate(ep, function, args)
            if env is not None:
                return Outcome(env, OK, "simulated", function)
        self.misses.append({"function": function, "arguments": canonical_key(args)})
        text = MISS_RESPONSE.format(function=function)
        return Outcome({"error": "API not working error...", "response": text}, API_ERROR, "miss", function)

    def _simulate(self, ep: Endpoint, function: str, args: Mapping[str, Any]) -> dict[str, Any] | None:
        from umi_lib.realtime.simulator import Simulator

        if self.simulator is None:
            self.simulator = Simulator(self.policy.simulator_url or "", self.policy.simulator_model,
                                       self.policy.simulated_file)  # fmt: skip
        names = function_spellings(function)
        examples = [(json.loads(k), min(r, key=lambda x: SOURCES.index(x.source)).envelope)
                    for (fn, k), r in self.store.exact.items() if fn in names][:5]  # fmt: skip
        env = self.simulator.respond(function, ep, args, examples)
        if env is not None:
            self.store.add(function, dict(args), Recorded(env, "simulated", "simulator"))
        return env

    def report(self) -> dict[str, Any]:
        """Counts per outcome, the replay hit rate over real API calls, and the policy."""
        return {"counts": dict(self.counts), "api_calls": sum(self.counts[k] for k in SERVED),
                "hit_rate": hit_rate(self.counts), "misses": len(self.misses),
                "policy": self.policy.to_json()}  # fmt: skip


def load_env(policy: MissPolicy | None = None, stb_cache: str | None = None) -> ReplayEnv:
    """The default environment: the full catalog and every bundled recording, plus an official cache and the
    answers a simulator gave in earlier runs (``policy.simulated_file``; replayed without the simulator)."""
    from umi_lib.realtime.simulator import read_layer

    policy = policy or MissPolicy()
    catalog = Catalog.load()
    store = harvest()
    if stb_cache:
        store.import_stb_cache(stb_cache, catalog)
    if policy.simulated_file:
        for function, args, env in read_layer(policy.simulated_file):
            store.add(function, args, Recorded(env, "simulated", policy.simulated_file))
    return ReplayEnv(catalog, store, policy)
