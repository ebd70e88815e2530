"""Rollouts in ToolBench's answer format and in ToolEval's converted format.

Formats: ``docs/toolbench.md#dfs-answer-files`` and ``docs/toolbench.md#tooleval-converted-answers``.

Answer files (``<query_id>_<method>.json``) hold the whole search tree as Thought / Action / Action Input nodes
and the chosen chain as OpenAI-style ``train_messages``; the converted file holds one linked chain per query,
which is what ToolEval-style judges read (our :mod:`umi_lib.realtime.judge` reads it too, through
:func:`umi_lib.data.readers.tooleval_answer_from_json`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from umi_lib import prompts as P
from umi_lib.data.jsonio import atomic_write_text
from umi_lib.realtime.catalog import Catalog
from umi_lib.realtime.dispatch import toolbench_observation
from umi_lib.realtime.search import Budget, Node, Rollout

FINISH_FUNCTION = {
    "name": P.FINISH,
    "description": "If you believe that you have obtained a result that can answer the task, please call this "
    "function to provide the final answer. Alternatively, if you recognize that you are unable to proceed with "
    "the task in the current state, call this function to restart. Remember: you must ALWAYS call this function "
    "at the end of your attempt, and the only part that will be shown to the user is the final answer, so it "
    "should contain sufficient information.",
    "parameters": {
        "type": "object",
        "properties": {
            "return_type": {"type": "string", "enum": ["give_answer", "give_up_and_restart"]},
            "final_answer": {"type": "string", "description": "The final answer you want to give the user."},
        },
        "required": ["return_type"],
    },
}


def functions_of(rollout: Rollout, catalog: Catalog) -> list[dict[str, Any]]:
    """The function-calling schemas offered to the query (catalog docs where known), plus Finish."""
    out = []
    for tool in rollout.query.tools:
        ep = catalog.endpoints.get(tool["Name"])
        props = {k: {"type": "string", "description": v} for k, v in tool.get("input", {}).items()}
        fn = {"name": tool["Name"], "description": tool["function"],
              "parameters": {"type": "object", "properties": props,
                             "required": list(ep.required) if ep else [],
                             "optional": list(ep.optional) if ep else []}}  # fmt: skip
        out.append(fn)
    return out + [FINISH_FUNCTION]


def _tree_json(node: Node) -> dict[str, Any]:
    """One agent step as ToolBench's three nested nodes: Thought → Action → Action Input."""
    terminal = node.action == P.FINISH or not node.children
    common = {"Elo": 1000.0, "depth": 3 * node.depth, "is_terminal": False, "pruned": False, "finished": False,
              "expand_num": 0}  # fmt: skip
    action_input = {**common, "node_type": "Action Input", "description": node.arguments, "depth": 3 * node.depth + 2,
                    "is_terminal": terminal, "finished": node.answered,
                    "pruned": node.action == P.FINISH and not node.answered,
                    "observation": toolbench_observation(node.outcome) if node.outcome else "",
                    "observation_code": node.outcome.code if node.outcome else None,
                    "children": [_tree_json(c) for c in node.children]}  # fmt: skip
    action = {**common, "node_type": "Action", "description": node.action, "depth": 3 * node.depth + 1,
              "children": [action_input]}  # fmt: skip
    return {**common, "node_type": "Thought", "description": node.thought, "children": [action]}


def _messages(rollout: Rollout) -> list[dict[str, Any]]:
    """The chosen chain as ToolBench's last ``train_messages`` conversation: it ends with the Finish call (no
    ``function`` message follows Finish)."""
    msgs: list[dict[str, Any]] = [{"role": "system", "content": ""}, {"role": "user", "content": rollout.query.query}]
    for n in rollout.chain:
        msgs.append({"role": "assistant", "content": n.thought,
                     "function_call": {"name": n.action, "arguments": n.arguments}})  # fmt: skip
        if n.outcome is not None and n.action != P.FINISH:
            msgs.append({"role": "function", "name": n.action, "content": toolbench_observation(n.outcome)})
    return msgs


def answer_file(rollout: Rollout, catalog: Catalog, budget: Budget) -> dict[str, Any]:
    """ToolBench's DFS answer file of one query."""
    nodes = rollout.nodes()
    return {
        "win": rollout.finish_type == "give_answer",
        "tree": {
            "size": 3 * len(nodes),
            "max_length": 3 * max((n.depth + 1 for n in nodes), default=0),
            "tree": {
                "node_type": "root",
                "description": rollout.query.query,
                "Elo": 1000.0,
                "depth": 0,
                "children": [_tree_json(r) for r in rollout.roots],
            },
        },  # fmt: skip
        "forward_args": {"method": rollout.method, "budget": budget.to_json(), "answer": 1},
        "compare_candidates": [],
        "answer_generation": {
            "valid_data": rollout.finish_type != "none",
            "query_count": rollout.model_steps,
            "total_tokens": rollout.approx_tokens,
            "final_answer": rollout.final_answer,
            "finish_type": rollout.finish_type if rollout.finish_type != "none" else "give_up",
            "function": functions_of(rollout, catalog),
            "chain": [],
            "query": rollout.query.query,
            "train_messages": [_messages(rollout)],
        },
    }


def converted(rollout: Rollout, catalog: Catalog) -> dict[str, Any]:
    """ToolEval's converted record of one query (``convert_to_answer_format.py``): system and user nodes, then one
    linked node per step, and ``total_steps`` = the node count.

    A valid answer (a Finish that gave an answer or gave up) is converted from ``train_messages``: every assistant
    message there carries a function call, so each step is one ``tool`` node (the thought is not shown, Finish has
    an empty response) and ``total_steps`` is 2 + k for k calls. Otherwise the converter walks the tree, where
    each step is a Thought (an ``assistant`` node) and a call (a ``tool`` node with the observation, Finish's
    included): 2 + 2k. Our walk is the last path tried, one of those the converter's random walk can take.
    """
    valid = rollout.finish_type != "none"
    chain: list[dict[str, Any]] = []
    for n in rollout.chain:
        if not valid:
            chain.append({"role": "assistant", "message": n.thought, "next": []})
        shown = n.outcome is not None and not (valid and n.action == P.FINISH)
        response = toolbench_observation(n.outcome) if shown else ""
        message = {"name": n.action, "arguments": n.arguments, "response": response}
        chain.append({"role": "tool", "message": message, "next": []})
    root: dict[str, Any] = {"role": "system", "message": "", "next": []}
    user = {"role": "user", "message": "", "next": []}
    root["next"].append(user)
    tail = user
    for node in chain:
        tail["next"].append(node)
        tail = node
    return {"query": rollout.query.query, "available_tools": functions_of(rollout, catalog),
            "answer": {"method": rollout.method, "total_steps": len(chain) + 2,
                       "final_answer": rollout.final_answer, "answer_details": [root]}}  # fmt: skip


def write(rollouts: Sequence[Rollout], catalog: Catalog, budget: Budget, folder: Path) -> dict[str, Path]:
    """``<folder>/answers/<group>/<qid>_<method>.json`` and ``<folder>/converted/<group>.json``."""
    written: dict[str, Path] = {}
    groups: dict[str, dict[str, Any]] = {}
    for r in rollouts:
        q = r.query
        path = folder / "answers" / q.group / f"{q.query_id}_{r.method}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(answer_file(r, catalog, budget), ensure_ascii=False) + "\n")
        groups.setdefault(q.group, {})[q.query_id] = converted(r, catalog)
    for group, records in groups.items():
        path = folder / "converted" / f"{group}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(records, ensure_ascii=False, indent=1) + "\n")
        written[group] = path
    return written
