"""Readers for every input format: ToolBench DFS answer files, α-UMi stage-2 trajectory files and ToolEval's
converted answers. Bad records raise :class:`~umi_lib.data.records.FormatError` with their file and index.
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from umi_lib import prompts
from umi_lib.data.jsonio import load_json
from umi_lib.data.records import FormatError, Report, Tool, ToolCall, ToolEvalAnswer, Trajectory, Turn

ANSWER_GROUPS = ("G1_answer", "G2_answer", "G3_answer")

CHAIN_ROLES = ("system", "user", "assistant", "function")


def query_id_of(path: str | os.PathLike) -> str:
    """ToolBench names answer files ``<query_id>_<method>.json``: the id is the prefix before ``_``."""
    return Path(path).name.split("_")[0]


def _sort_key(path: Path) -> tuple[int, int, str]:
    qid = query_id_of(path)
    return (0, int(qid), path.name) if qid.isdigit() else (1, 0, path.name)


def iter_answer_files(answers_dir: str | os.PathLike, report: Report | None = None) -> Iterator[tuple[str, Path]]:
    """Yield ``(group, path)`` for G1, G2, G3 in turn, files sorted by numeric query id then name.

    The official script uses ``os.listdir`` order (filesystem dependent); sorting makes runs reproducible.
    ``.json`` and gzipped ``.json.gz`` files are read; other entries are skipped and counted.
    """
    root = Path(answers_dir)
    groups = [g for g in ANSWER_GROUPS if (root / g).is_dir()]
    if not groups:
        raise FormatError("no_answer_dirs", f"{root} holds none of {', '.join(ANSWER_GROUPS)}")
    for group in groups:
        entries = sorted((p for p in (root / group).iterdir()), key=_sort_key)
        for path in entries:
            if not path.name.endswith((".json", ".json.gz")) or not path.is_file():
                if report is not None:
                    report.note("skipped_non_json_entries")
                continue
            yield group, path


def validate_chain(chain: Any) -> list[dict[str, Any]]:
    """Check a ToolBench message list and return it; raise :class:`FormatError` with a reason code."""
    if not isinstance(chain, list):
        raise FormatError("bad_chain", f"chain is {type(chain).__name__}, not a list")
    if len(chain) < 2:
        raise FormatError("empty_chain", f"chain has {len(chain)} messages, needs system + user at least")
    for k, msg in enumerate(chain):
        if not isinstance(msg, dict):
            raise FormatError("bad_message", f"message {k} is {type(msg).__name__}")
        role = msg.get("role")
        if role not in CHAIN_ROLES:
            raise FormatError("unknown_role", f"message {k} has role {role!r}")
        content = msg.get("content")
        if content is not None and not isinstance(content, str):
            raise FormatError("bad_message", f"message {k} content is {type(content).__name__}")
        call = msg.get("function_call")
        if call is not None and call != {}:
            if not isinstance(call, dict) or not isinstance(call.get("name"), str):
                raise FormatError("bad_function_call", f"message {k} function_call lacks a string name")
            if not isinstance(call.get("arguments"), (str, dict)):
                raise FormatError("bad_function_call", f"message {k} arguments are not a string")
        if role == "function" and not isinstance(content, str):
            raise FormatError("bad_message", f"function message {k} has no string content")
    return chain


def validate_functions(functions: Any) -> list[dict[str, Any]]:
    if not isinstance(functions, list):
        raise FormatError("bad_functions", "answer_generation.function is not a list")
    for k, fn in enumerate(functions):
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise FormatError("bad_functions", f"function {k} has no string name")
        if fn.get("name") == prompts.FINISH:
            continue
        if not isinstance(fn.get("description", ""), str):
            raise FormatError("bad_functions", f"function {fn['name']!r} description is not a string")
        props = (fn.get("parameters") or {}).get("properties", {})
        if not isinstance(props, dict) or not all(isinstance(v, dict) for v in props.values()):
            raise FormatError("bad_functions", f"function {fn['name']!r} has malformed parameters")
    return functions


def trajectory_from_json(obj: Any, source: str = "", record_id: str = "") -> Trajectory:
    """Validate one stage-2 item (either label format) and build a :class:`Trajectory`."""
    if not isinstance(obj, dict):
        raise FormatError("bad_record", f"record is {type(obj).__name__}, not an object")
    for key in ("tools", "instruction", "conversations"):
        if key not in obj:
            raise FormatError("missing_key", f"no {key!r}")
    if not isinstance(obj["tools"], list):
        raise FormatError("bad_tool", "tools is not a list")
    if not isinstance(obj["instruction"], str):
        raise FormatError("bad_record", "instruction is not a string")
    conv = obj["conversations"]
    if not isinstance(conv, list):
        raise FormatError("bad_record", "conversations is not a list")
    if not conv:
        raise FormatError("empty_chain", "conversations is empty")
    turns = []
    for k, t in enumerate(conv):
        if not isinstance(t, dict) or not isinstance(t.get("value"), str):
            raise FormatError("bad_turn", f"turn {k} needs a string 'value'")
        if t.get("from") not in prompts.STAGE2_ROLES:
            raise FormatError("unknown_role", f"turn {k} has from={t.get('from')!r}")
        turns.append(Turn(t["from"], t["value"]))
    if turns[0].role != prompts.ROLE_USER:
        raise FormatError("bad_turn", "first turn is not the user query")
    tools = [Tool.from_json(t) for t in obj["tools"]]
    return Trajectory(tools, obj["instruction"], turns, source, record_id)


def load_records(path: str | os.PathLike, report: Report, kind: type = list) -> Any:
    """Load a whole file of records; an unreadable file or wrong top level is one reject (returns None)."""
    try:
        data = load_json(path)
    except FormatError as exc:
        report.reject(path, "-", exc.reason, exc.detail)
        return None
    if not isinstance(data, kind):
        report.reject(path, "-", "bad_file", f"top level is {type(data).__name__}, not a {kind.__name__}")
        return None
    return data


def read_trajectories(path: str | os.PathLike, report: Report) -> Iterator[Trajectory]:
    """Yield valid trajectories of a stage-2 (or test) file; rejects go to ``report``."""
    for k, obj in enumerate(load_records(path, report) or []):
        report.read += 1
        try:
            yield trajectory_from_json(obj, str(path), str(k))
        except FormatError as exc:
            report.reject(path, str(k), exc.reason, exc.detail)


_REPR_FIELD = re.compile(r"'(name|arguments|response)': '((?:[^'\\]|\\.)*)('?)")


def _unescape_repr(text: str) -> str:
    try:
        return ast.literal_eval("'" + text + "'")  # a string literal only: literal_eval never runs code
    except (ValueError, SyntaxError):
        return text


def parse_tool_message(message: Any) -> ToolCall:
    """Parse a ToolEval ``tool`` node message (a dict, or its Python repr, possibly cut to 100 chars)."""
    if isinstance(message, dict):
        return ToolCall(
            "tool",
            str(message.get("name", "")),
            str(message.get("arguments", "")),
            str(message.get("response", "")),
        )
    if not isinstance(message, str):
        raise FormatError("bad_tool_message", f"message is {type(message).__name__}")
    try:
        obj = ast.literal_eval(message)  # safe: literals only
        if isinstance(obj, dict):
            return parse_tool_message(obj)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        pass
    fields = {m.group(1): (_unescape_repr(m.group(2)), m.group(3) == "'") for m in _REPR_FIELD.finditer(message)}
    if "name" not in fields or not fields["name"][1]:
        raise FormatError("bad_tool_message", f"no tool name in {message[:60]!r}")
    return ToolCall(
        "tool",
        fields["name"][0],
        fields.get("arguments", ("", False))[0],
        fields.get("response", ("", False))[0],
        truncated=True,
    )


def _walk_details(nodes: Any) -> Iterator[dict[str, Any]]:
    """Follow the linked ``next`` chain (first child at every level)."""
    while isinstance(nodes, list) and nodes:
        node = nodes[0]
        if not isinstance(node, dict):
            raise FormatError("bad_chain", "answer_details node is not an object")
        yield node
        nodes = node.get("next", [])


def _finish_type(final_answer: str) -> str:
    if prompts.GIVE_UP_RETURN in final_answer:
        return "give_up"
    return "give_answer" if final_answer.strip() else "none"


def tooleval_answer_from_json(qid: str, obj: Any, source: str = "") -> ToolEvalAnswer:
    if not isinstance(obj, dict) or not isinstance(obj.get("answer"), dict):
        raise FormatError("bad_record", "record needs an 'answer' object")
    if not isinstance(obj.get("query"), str):
        raise FormatError("missing_key", "no string 'query'")
    answer = obj["answer"]
    details = answer.get("answer_details")
    if not isinstance(details, list) or not details:
        raise FormatError("empty_chain", "answer_details is empty or not a list")
    steps: list[ToolCall] = []
    for node in _walk_details(details):
        role = node.get("role")
        if role == "tool":
            steps.append(parse_tool_message(node.get("message")))
        elif role == "assistant":
            steps.append(ToolCall("assistant", text=str(node.get("message", ""))))
        elif role not in ("system", "user"):
            raise FormatError("unknown_role", f"answer node role {role!r}")
    final = answer.get("final_answer", "")
    final = final if isinstance(final, str) else json.dumps(final)
    tools = obj.get("available_tools", [])
    if not isinstance(tools, list):
        raise FormatError("bad_functions", "available_tools is not a list")
    return ToolEvalAnswer(
        qid, obj["query"], tools, str(answer.get("method", "")), final, _finish_type(final), steps, source
    )


def read_tooleval_answers(path: str | os.PathLike, report: Report) -> Iterator[ToolEvalAnswer]:
    """Yield the answers of one converted ToolEval file; bad records are counted in ``report``."""
    for qid, obj in (load_records(path, report, dict) or {}).items():
        report.read += 1
        try:
            ans = tooleval_answer_from_json(str(qid), obj, str(path))
        except FormatError as exc:
            report.reject(path, qid, exc.reason, exc.detail)
            continue
        report.note("tool_messages_truncated", sum(s.truncated for s in ans.steps))
        report.converted += 1
        yield ans
