"""Offline ToolBench tool environments: a replay store of recorded responses, a ToolBench-faithful dispatcher,
a miss policy, a client for StableToolBench's ``/virtual`` server and a loopback server of our own.

Design: spec/toolbench_env.md §3.6. Arguments are data: they are parsed as JSON and compared, never run.

* :class:`Catalog`: endpoints and queries from the StableToolBench solvable queries (all six groups), plus the
  functions named in the bundled trajectories (parameters known, none required).
* :class:`ResponseStore`: ``(function, canonical JSON of the arguments)`` → recorded envelopes, harvested from
  every recorded call in the bundled data (see :func:`harvest`), with a second index on StableToolBench's
  ``str(dict)`` key so an official cache folder imports unchanged (:meth:`ResponseStore.import_stb_cache`).
* :class:`ReplayEnv`: the dispatcher (Finish, suffix name matching, argument checks, 1024-character truncation)
  and the miss policy, counting the outcome of every call.
* :class:`HttpEnv` and :func:`serve`: the ``/virtual`` request format, as a client and as a loopback server.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from umi_lib import prompts as P
from umi_lib.formats import FormatError, load_json
from umi_lib.paths import data_path
from umi_lib.toolnames import api_function, function_name, param_name, standardize, tool_doc

GROUPS = ("G1_instruction", "G1_category", "G1_tool", "G2_instruction", "G2_category", "G3_instruction")
COVERED_GROUPS = ("G1_category", "G2_category")  # the groups the bundled recordings cover (spec §3.8)
MAX_OBSERVATION = 1024  # the agent sees at most this many characters, then "..."
MAX_ARGUMENT_CHARS = 8192  # longer argument strings are refused as an input error (no recorded call is near)

# ToolBench client status codes (spec §1.8)
OK, NO_FUNCTION, INPUT_ERROR, ANSWERED, GAVE_UP, API_ERROR = 0, 1, 2, 3, 4, 6

# recorded sources, best first: when one key holds several payloads the first source wins, then first seen
SOURCES = ("glpft-test", "glpft-train", "toolbench-dfs", "stabletoolbench-answer", "candidates", "stb-cache",
           "simulated")  # fmt: skip
MISS_RESPONSE = "replay miss: no recorded response for {function} with these arguments"


class EnvError(ValueError):
    """A broken catalog, store or environment configuration."""


# ---------------------------------------------------------------------------------------------------
# Catalog
# ---------------------------------------------------------------------------------------------------


@dataclass
class Endpoint:
    """One API as the agent calls it."""

    function: str
    category: str = ""
    tool: str = ""  # standardized tool name
    api: str = ""  # display API name (the python function of ``api.py`` is its standardized form)
    description: str = ""
    required: list[str] = field(default_factory=list)
    optional: list[str] = field(default_factory=list)
    template_response: Any = None


@dataclass
class Query:
    """One test query: what the agent is asked and which functions (with their docs) it is offered."""

    group: str
    query_id: str
    query: str
    tools: list[dict[str, Any]]  # alpha-UMi tool docs, the agent's prompt
    functions: list[str]  # offered function names, in order (the dispatcher's suffix match walks them)
    relevant: list[list[str]] = field(default_factory=list)  # [tool display name, api display name]


@dataclass
class Catalog:
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    queries: list[Query] = field(default_factory=list)
    by_route: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (category, tool, api) -> function

    def add_api(self, api: Mapping[str, Any]) -> str:
        name = function_name(api["api_name"], api["tool_name"])
        if name not in self.endpoints or not self.endpoints[name].category:
            self.endpoints[name] = Endpoint(
                name, str(api.get("category_name", "")), standardize(api["tool_name"]), str(api["api_name"]),
                str(api.get("api_description") or ""),
                [param_name(str(p["name"])) for p in api.get("required_parameters") or []],
                [param_name(str(p["name"])) for p in api.get("optional_parameters") or []],
                api.get("template_response"),
            )  # fmt: skip
            ep = self.endpoints[name]
            self.by_route[(category_folder(ep.category), ep.tool, api_function(ep.api))] = name
        return name

    def add_tool_doc(self, tool: Mapping[str, Any]) -> None:
        """A function known only from a trajectory's tool list: its inputs are known, which are required is not."""
        name, doc = str(tool["Name"]), str(tool.get("function", ""))
        if name not in self.endpoints:
            # the doc names the tool ('... for tool "<tool>", ...'); the function is "<api>_for_<tool>"
            tool_name = doc.split('for tool "', 1)[1].split('"', 1)[0] if 'for tool "' in doc else ""
            api = name.removesuffix("_for_" + tool_name) if tool_name and name.endswith("_for_" + tool_name) else ""
            self.endpoints[name] = Endpoint(name, tool=tool_name, api=api, description=doc,
                                            optional=list(tool.get("input") or {}))  # fmt: skip
            if api:
                self.by_route.setdefault(("", tool_name, api_function(api)), name)

    @classmethod
    def load(cls, queries_dir: Path | None = None, groups: Sequence[str] = GROUPS) -> Catalog:
        """All endpoints of the solvable queries; tool docs of bundled trajectories fill in the rest."""
        cat = cls()
        trajectories = [load_json(path) for path in _trajectory_files()]
        recorded = {t["instruction"]: t["tools"] for t in trajectories[0]}
        for group in groups:
            rel = f"stabletoolbench/solvable_queries/test_instruction/{group}.json"
            path = Path(queries_dir) / "test_instruction" / f"{group}.json" if queries_dir else data_path(rel)
            records = load_json(path)
            if not isinstance(records, list):
                raise EnvError(f"{path}: expected a list of queries")
            for rec in records:
                try:
                    names = [cat.add_api(api) for api in rec["api_list"]]
                    tools = [tool_doc(api) for api in rec["api_list"]]
                    if len(recorded.get(rec["query"], ())) == len(tools):  # the test set's own text wins
                        tools = recorded[rec["query"]]
                        for name, tool in zip(names, tools, strict=True):  # and its names resolve too
                            cat.endpoints.setdefault(tool["Name"], cat.endpoints[name])
                        names = [t["Name"] for t in tools]
                    cat.queries.append(Query(group, str(rec["query_id"]), str(rec["query"]), tools, names,
                                             [list(r) for r in rec.get("relevant APIs") or []]))  # fmt: skip
                except (KeyError, TypeError) as exc:
                    raise EnvError(f"{path}: query {rec.get('query_id', '?')}: missing field {exc}") from exc
        for records in trajectories:
            for traj in records:
                for tool in traj.get("tools", []):
                    cat.add_tool_doc(tool)
        return cat

    def select(self, groups: Sequence[str] = COVERED_GROUPS, limit: int | None = None) -> list[Query]:
        chosen = [q for q in self.queries if q.group in groups]
        return chosen[:limit] if limit is not None else chosen


def category_folder(category: str) -> str:
    """StableToolBench's cache folder name of a category (spaces, commas, slashes → ``_``)."""
    out = category.replace(" ", "_").replace(",", "_").replace("/", "_")
    while "__" in out:
        out = out.replace("__", "_")
    return out


def _trajectory_files() -> list[Path]:
    return [data_path("alpha_umi/test/out_of_domain.json"), data_path(STAGE2_TRAIN)]


STAGE2_TRAIN = "alpha_umi/train-example/raw_data/raw_data_stage_2.json"


# ---------------------------------------------------------------------------------------------------
# Keys and envelopes
# ---------------------------------------------------------------------------------------------------


def parse_arguments(text: Any) -> dict[str, Any]:
    """Tool input → dict, as the server does (``""`` → ``{}``); anything else is a :class:`FormatError`."""
    if isinstance(text, dict):
        return text
    if not isinstance(text, str):
        raise FormatError("bad_arguments", f"arguments are {type(text).__name__}")
    if not text.strip():
        return {}
    try:
        value = json.loads(text, strict=False)
    except json.JSONDecodeError as exc:
        raise FormatError("bad_arguments", f"not JSON: {exc.msg}") from exc
    except RecursionError as exc:  # "[[[[..." from a looping model: not an input anyone can call with
        raise FormatError("bad_arguments", "nested too deeply") from exc
    if not isinstance(value, dict):
        raise FormatError("bad_arguments", f"JSON {type(value).__name__}, not an object")
    return value


def canonical_key(args: Mapping[str, Any]) -> str:
    """Sorted keys, compact separators, strings kept as strings: whitespace and key order do not matter."""
    return json.dumps(args, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def stb_key(args: Mapping[str, Any]) -> str:
    """StableToolBench's cache key: Python's ``str()`` of the parsed dict (key order matters there)."""
    return str(dict(args))


def envelope_from_text(text: str) -> tuple[dict[str, Any], bool]:
    """A recorded observation string → ``(envelope, reconstructed)``.

    ToolBench records the JSON envelope, cut at 1024 characters; an envelope that no longer parses keeps the
    text after ``"response": `` as its response and is flagged reconstructed.
    """
    try:
        value = json.loads(text, strict=False)
        if isinstance(value, dict) and "response" in value:
            return {"error": str(value.get("error", "")), "response": value["response"]}, False
    except (json.JSONDecodeError, RecursionError):
        pass
    if P.RESPONSE_KEY_QUOTED in text:
        return {"error": "", "response": text.split(P.RESPONSE_KEY_QUOTED, 1)[1].strip()}, True
    return {"error": "", "response": text}, True


def truncate(text: str, limit: int = MAX_OBSERVATION) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def observation_text(envelope: Mapping[str, Any], style: str = "training") -> str:
    """What the agent reads after a call.

    ``training``: the response text only, the error dropped (how GLPFT's data shows observations);
    ``official``: the released real-time agent's ``json.dumps(response)``, or ``{"message": error}`` when empty;
    ``envelope``: the whole JSON envelope (ToolBench answer files).
    """
    response, error = envelope.get("response", ""), str(envelope.get("error", ""))
    if style == "envelope":
        text = json.dumps({"error": error, "response": response})
    elif style == "official":
        text = json.dumps(response) if response not in ("", None) else json.dumps({"message": error})
    elif style == "training":
        text = response if isinstance(response, str) else json.dumps(response)
    else:
        raise EnvError(f"unknown observation style {style!r} (training, official, envelope)")
    return truncate(text)


# ---------------------------------------------------------------------------------------------------
# Response store
# ---------------------------------------------------------------------------------------------------


@dataclass
class Recorded:
    envelope: dict[str, Any]
    source: str
    origin: str = ""  # file and record
    reconstructed: bool = False
    query: str = ""  # the query text it was recorded for (replay prefers a query's own recordings)


@dataclass
class ResponseStore:
    exact: dict[tuple[str, str], list[Recorded]] = field(default_factory=dict)
    stb: dict[tuple[str, str], list[Recorded]] = field(default_factory=dict)
    rejected: Counter = field(default_factory=Counter)  # recorded calls that could not be keyed, by reason

    def add(self, function: str, arguments: Any, rec: Recorded) -> None:
        try:
            args = parse_arguments(arguments)
        except FormatError as exc:
            self.rejected[exc.reason] += 1
            return
        for index, key in ((self.exact, canonical_key(args)), (self.stb, stb_key(args))):
            index.setdefault((function, key), []).append(rec)

    def lookup(self, function: str, args: Mapping[str, Any], query: str = "") -> Recorded | None:
        """Exact replay: canonical key first, then StableToolBench's key. Among several recordings: the same
        query's first, then the best source, then the first seen (the same call got different live answers)."""
        found = self.exact.get((function, canonical_key(args))) or self.stb.get((function, stb_key(args)))
        if not found:
            return None
        return min(found, key=lambda r: (not (query and r.query == query), SOURCES.index(r.source)))

    def nearest(self, function: str, args: Mapping[str, Any]) -> Recorded | None:
        """Same endpoint, the recorded arguments sharing most key/value pairs (ties: best source, first seen)."""
        pairs = {(k, canonical_key({"v": v})) for k, v in args.items()}
        best, best_score = None, 0  # at least one shared key/value pair
        for (fn, key), recs in self.exact.items():
            if fn != function:
                continue
            score = len(pairs & {(k, canonical_key({"v": v})) for k, v in json.loads(key).items()})
            rec = min(recs, key=lambda r: SOURCES.index(r.source))
            if score > best_score:
                best, best_score = rec, score
        return best

    def functions(self) -> set[str]:
        return {fn for fn, _ in self.exact}

    def __len__(self) -> int:
        return len(self.exact)

    def import_stb_cache(self, folder: str | Path, catalog: Catalog) -> Counter:
        """A StableToolBench cache folder (``<Category>/<tool>_for_<Category>/<api>.json``) imported unchanged.

        Keys are stored as they are (``str(dict)``; never evaluated). Returns counts of imported entries and of
        files whose endpoint the catalog does not know.
        """
        counts: Counter = Counter()
        for path in sorted(Path(folder).glob("*/*/*.json")):
            category, tool_dir, api = path.parts[-3], path.parts[-2], path.stem
            tool = tool_dir.removesuffix(f"_for_{category}")
            function = catalog.by_route.get((category, tool, api))
            if function is None:
                counts["unknown_endpoint"] += 1
                continue
            data = load_json(path)
            for key, env in data.items() if isinstance(data, dict) else ():
                if isinstance(env, dict) and "response" in env:
                    rec = Recorded({"error": str(env.get("error", "")), "response": env["response"]}, "stb-cache",
                                   str(path))  # fmt: skip
                    self.stb.setdefault((function, key), []).append(rec)
                    counts["imported"] += 1
                else:
                    counts["bad_entry"] += 1
        return counts


# --- harvesting ------------------------------------------------------------------------------------

CANDIDATES_HEAD = "Here are some previous actions candidates:\n"
CANDIDATES_TAIL = "\nagain, your former observation:"


def calls_in_conversation(turns: Sequence[Mapping[str, Any]]) -> Iterator[tuple[str, str, str]]:
    """``(function, arguments, observation)`` of each GLPFT caller turn followed by an observation."""
    for turn, nxt in zip(turns, list(turns[1:]) + [None], strict=True):
        value = str(turn.get("value", ""))
        followed = turn.get("from") == P.ROLE_CALLER and nxt is not None and nxt.get("from") == P.ROLE_OBSERVATION
        if followed and P.MARK_ACTION in value and P.MARK_ACTION_INPUT in value:
            head, args = value.split(P.MARK_ACTION_INPUT, 1)
            yield head.split(P.MARK_ACTION, 1)[1].strip(), args.strip(), str(nxt.get("value", ""))


def candidates_in(text: str) -> list[dict[str, Any]]:
    """The ``previous actions candidates`` JSON list of a DFSDT diversity message (empty if none)."""
    if CANDIDATES_HEAD not in text:
        return []
    body = text.split(CANDIDATES_HEAD, 1)[1].split(CANDIDATES_TAIL, 1)[0]
    try:
        value = json.loads(body, strict=False)
    except json.JSONDecodeError:
        return []
    return [c for c in value if isinstance(c, dict)] if isinstance(value, list) else []


def _add_candidates(store: ResponseStore, text: str, origin: str, query: str) -> None:
    for c in candidates_in(text):
        name, output = str(c.get("name", "")), c.get("function_output")
        if name and name != P.FINISH and isinstance(output, str):
            env, rebuilt = envelope_from_text(output)
            store.add(name, c.get("arguments", ""), Recorded(env, "candidates", origin, rebuilt, query))


def harvest_stage2(store: ResponseStore, path: Path, source: str) -> None:
    """GLPFT trajectories: observations hold only the response text (envelope reconstructed)."""
    for k, traj in enumerate(load_json(path)):
        origin, query = f"{path.name}#{k}", str(traj.get("instruction", ""))
        turns = traj.get("conversations", [])
        for name, args, obs in calls_in_conversation(turns):
            store.add(name, args, Recorded({"error": "", "response": obs}, source, origin, True, query))
        for t in turns:
            if t.get("from") == P.ROLE_USER:
                _add_candidates(store, str(t.get("value", "")), origin, query)


def _tree_calls(node: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """Executed calls of a ToolBench DFS tree or CoT chain: Action node → its Action Input child."""
    stack = [node]
    while stack:
        n = stack.pop()
        children = n.get("children") or []
        if n.get("node_type") == "Action":
            for c in children:
                if c.get("node_type") == "Action Input" and "observation" in c:
                    yield str(n.get("description", "")), str(c.get("description", "")), str(c["observation"])
        stack.extend(reversed(children))


def _chain_calls(chain: Sequence[Mapping[str, Any]]) -> Iterator[tuple[str, str, str]]:
    """Executed calls of a CoT try: a flat list where an Action node is followed by its Action Input."""
    for node, nxt in zip(chain, chain[1:], strict=False):
        if node.get("node_type") == "Action" and nxt.get("node_type") == "Action Input" and "observation" in nxt:
            yield str(node.get("description", "")), str(nxt.get("description", "")), str(nxt["observation"])


def harvest_answer_file(store: ResponseStore, path: Path, source: str) -> None:
    """A ToolBench / StableToolBench answer file: every branch of the tree (or every CoT try)."""
    data = load_json(path)
    calls = list(_tree_calls(data["tree"]["tree"])) if isinstance(data.get("tree"), dict) else []
    for t in data.get("trys", []):
        calls += list(_chain_calls(t.get("chain", [])))
    origin = f"{path.parent.name}/{path.name}"
    query = str((data.get("answer_generation") or {}).get("query", ""))
    for name, args, obs in calls:
        if name != P.FINISH:
            env, rebuilt = envelope_from_text(obs)
            store.add(name, args, Recorded(env, source, origin, rebuilt, query))
    for conv in (data.get("answer_generation") or {}).get("train_messages") or []:
        for msg in conv:
            if msg.get("role") == "user":
                _add_candidates(store, str(msg.get("content") or ""), origin, query)


def harvest() -> ResponseStore:
    """Every recorded call in the bundled data (spec §3.8 lists the sources)."""
    store = ResponseStore()
    harvest_stage2(store, data_path("alpha_umi/test/out_of_domain.json"), "glpft-test")
    harvest_stage2(store, data_path(STAGE2_TRAIN), "glpft-train")
    for path in sorted(data_path("toolbench/data_example/answer").glob("G*_answer/*.json*")):
        harvest_answer_file(store, path, "toolbench-dfs")
    for path in sorted(data_path("stabletoolbench/data_example/answer").glob("*/*/*.json*")):
        harvest_answer_file(store, path, "stabletoolbench-answer")
    return store


# ---------------------------------------------------------------------------------------------------
# Dispatcher and miss policy
# ---------------------------------------------------------------------------------------------------


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
    if kind == P.GIVE_UP_RETURN:
        return Outcome({"error": "", "response": '{"response":"chose to give up and restart"}'}, GAVE_UP, "finish")
    if kind == "give_answer":
        if "final_answer" not in args:
            return Outcome({"error": 'must have "final_answer"', "response": ""}, INPUT_ERROR, "finish")
        return Outcome({"error": "", "response": "{\"response\":\"successfully giving the final answer.\"}"},
                       ANSWERED, "finish")  # fmt: skip
    return Outcome({"error": '"return_type" is not a valid choice', "response": ""}, INPUT_ERROR, "finish")


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
    """The offline tool environment of one or many queries (spec §3.6)."""

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
        from umi_lib.simulator import Simulator

        if self.simulator is None:
            self.simulator = Simulator(self.policy.simulator_url or "", self.policy.simulator_model,
                                       self.policy.simulated_file)  # fmt: skip
        examples = [(json.loads(k), min(r, key=lambda x: SOURCES.index(x.source)).envelope)
                    for (fn, k), r in self.store.exact.items() if fn == function][:5]  # fmt: skip
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
    from umi_lib.simulator import read_layer

    policy = policy or MissPolicy()
    catalog = Catalog.load()
    store = harvest()
    if stb_cache:
        store.import_stb_cache(stb_cache, catalog)
    if policy.simulated_file:
        for function, args, env in read_layer(policy.simulated_file):
            store.add(function, args, Recorded(env, "simulated", policy.simulated_file))
    return ReplayEnv(catalog, store, policy)


# ---------------------------------------------------------------------------------------------------
# The /virtual protocol: a client (HttpEnv) and a loopback server (serve)
# ---------------------------------------------------------------------------------------------------


def virtual_request(ep: Endpoint, arguments: Any) -> dict[str, Any]:
    """The body ToolBench's client sends to ``/virtual`` (spec §3.1)."""
    return {"category": category_folder(ep.category), "tool_name": ep.tool,
            "api_name": api_function(ep.api) if ep.api else ep.function.split("_for_")[0],
            "tool_input": arguments if isinstance(arguments, str) else json.dumps(arguments),
            "strip": "truncate", "toolbench_key": ""}  # fmt: skip


@dataclass
class HttpEnv:
    """A StableToolBench-compatible ``/virtual`` server as the tool environment (URL from config).

    Finish, name matching and argument parsing stay local (the client side of ToolBench does them too);
    only real API calls travel. Network errors become ToolBench's request-failed envelope.
    """

    url: str
    catalog: Catalog
    timeout: float = 30.0
    counts: Counter = field(default_factory=Counter)

    def call(self, name: str, arguments: Any, offered: Sequence[str], query: str = "") -> Outcome:
        checked = precheck(self.catalog, name.strip(), arguments, offered)
        if isinstance(checked, Outcome):  # Finish, unknown names and bad input never reach the server
            self.counts[checked.kind] += 1
            return checked
        function, args = checked
        ep = self.catalog.endpoints.get(function, Endpoint(function))
        body = json.dumps(virtual_request(ep, args)).encode()
        req = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                env = json.loads(resp.read().decode())
            if not isinstance(env, dict) or "response" not in env:
                raise ValueError("reply is not an envelope")
        except (OSError, ValueError) as exc:
            self.counts["server_error"] += 1
            return Outcome({"error": f"request invalid, data error. {type(exc).__name__}", "response": ""},
                           API_ERROR, "server_error", function)  # fmt: skip
        self.counts["server"] += 1
        return Outcome({"error": str(env.get("error", "")), "response": env["response"]}, OK, "server", function)

    def report(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "url": self.url}


def serve(env: ReplayEnv, port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Serve ``env`` on 127.0.0.1 in the ``/virtual`` format; returns the server and its URL (port 0: any)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
                tool = str(body["tool_name"]).removesuffix(f"_for_{body['category']}")
                function = env.catalog.by_route.get((str(body["category"]), tool, str(body["api_name"])))
                if function is None:
                    out = {"error": f"No such function name: {body['api_name']}", "response": ""}
                else:
                    out = env.call(function, body.get("tool_input", ""), [function]).envelope
                status = 200
            except (ValueError, KeyError, TypeError) as exc:
                out, status = {"error": f"bad request: {exc}", "response": ""}, 400
            data = json.dumps(out).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/virtual"
