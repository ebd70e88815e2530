"""The replay store: ``(function, canonical arguments)`` → recorded envelopes, harvested from every recorded
call in the bundled data; an official StableToolBench cache folder imports unchanged.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from umi_lib import prompts as P
from umi_lib.data.jsonio import load_json
from umi_lib.data.records import FormatError
from umi_lib.paths import data_path
from umi_lib.realtime.catalog import STAGE2_TRAIN, Catalog
from umi_lib.realtime.keys import canonical_key, envelope_from_text, parse_arguments, stb_key
from umi_lib.realtime.toolnames import function_spellings

# recorded sources, best first: when one key holds several payloads the first source wins, then first seen
SOURCES = ("glpft-test", "glpft-train", "toolbench-dfs", "stabletoolbench-answer", "candidates", "stb-cache",
           "simulated")  # fmt: skip


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
        """Exact replay: canonical key first, then StableToolBench's key, each under both spellings of a name
        that starts with a digit (``1_...`` / ``get_1_...``, see :func:`function_spellings`; the one asked for
        first). Among several recordings: the same query's first, then the best source, then the first seen (the
        same call got different live answers)."""
        names = function_spellings(function)
        exact, stb = canonical_key(args), stb_key(args)
        found = [r for fn in names for r in self.exact.get((fn, exact), [])]
        found = found or [r for fn in names for r in self.stb.get((fn, stb), [])]
        if not found:
            return None
        return min(found, key=lambda r: (not (query and r.query == query), SOURCES.index(r.source)))

    def nearest(self, function: str, args: Mapping[str, Any]) -> Recorded | None:
        """Same endpoint (either spelling), the recorded arguments sharing most key/value pairs (ties: best source,
        first seen)."""
        pairs = {(k, canonical_key({"v": v})) for k, v in args.items()}
        names = function_spellings(function)
        best, best_score = None, 0  # at least one shared key/value pair
        for (fn, key), recs in self.exact.items():
            if fn not in names:
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
    if P.CANDIDATES_HEAD not in text:
        return []
    body = text.split(P.CANDIDATES_HEAD, 1)[1].split(P.CANDIDATES_TAIL, 1)[0]
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
    """Every recorded call in the bundled data (``docs/realtime.md#response-store`` lists the sources)."""
    store = ResponseStore()
    harvest_stage2(store, data_path("alpha_umi/test/out_of_domain.json"), "glpft-test")
    harvest_stage2(store, data_path(STAGE2_TRAIN), "glpft-train")
    for path in sorted(data_path("toolbench/data_example/answer").glob("G*_answer/*.json*")):
        harvest_answer_file(store, path, "toolbench-dfs")
    for path in sorted(data_path("stabletoolbench/data_example/answer").glob("*/*/*.json*")):
        harvest_answer_file(store, path, "stabletoolbench-answer")
    return store
