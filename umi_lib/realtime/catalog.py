"""The tool catalog: endpoints and queries from StableToolBench's solvable queries (all six groups), plus the
functions named in the bundled trajectories (parameters known, none required).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from umi_lib.data.jsonio import load_json
from umi_lib.paths import data_path
from umi_lib.realtime.toolnames import api_function, function_name, param_name, standardize, tool_doc

GROUPS = ("G1_instruction", "G1_category", "G1_tool", "G2_instruction", "G2_category", "G3_instruction")

# the groups the bundled recordings cover (docs/realtime.md#coverage-of-the-test-groups)
COVERED_GROUPS = ("G1_category", "G2_category")


class EnvError(ValueError):
    """A broken catalog, store or environment configuration."""


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
