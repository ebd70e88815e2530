"""Typed records, readers and writers for every data format the workbook touches.

Formats (spec/alpha_umi_spec.md section 1, spec/toolbench_env.md sections 1.5 and 2.1):

* ToolBench DFS answer files: ``answer_generation.train_messages[-1]`` is the chosen chain.
* ToolEval converted answers: ``{qid: {"query", "available_tools", "answer": {"answer_details": [...]}}}``.
* alpha-UMi stage-1 items ``{"tools", "instruction", "chains"}`` and stage-2 trajectories
  ``{"tools", "instruction", "conversations"}`` (labels ``"\\n Next: caller."`` or ``" Next: caller."``).
* Role samples ``{"tools", "history", "input", "target"}``.

Bad records never raise out of a reader: they come back as :class:`Reject` with the file, the record id and
a reason, and the caller counts them in a :class:`Report`.
"""

from __future__ import annotations

import ast
import gzip
import json
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from umi_lib import prompts

# ---------------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------------


class FormatError(ValueError):
    """A record does not have the shape its format requires; ``reason`` is a short stable code."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Tool:
    """One tool entry as alpha-UMi renders it (key order Name, function, input)."""

    name: str
    function: str
    input: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"Name": self.name, "function": self.function, "input": dict(self.input)}

    @classmethod
    def from_json(cls, obj: Any) -> Tool:
        if not isinstance(obj, dict):
            raise FormatError("bad_tool", f"tool entry is {type(obj).__name__}, not an object")
        name, function, inp = obj.get("Name"), obj.get("function"), obj.get("input")
        if not isinstance(name, str) or not isinstance(function, str) or not isinstance(inp, dict):
            raise FormatError("bad_tool", "tool needs string Name/function and an input object")
        return cls(name, function, inp)


@dataclass(frozen=True)
class Turn:
    """One stage-2 turn: ``from`` is user/assistant/caller/conclusion/observation."""

    role: str
    value: str

    def to_json(self) -> dict[str, str]:
        return {"from": self.role, "value": self.value}


@dataclass
class Trajectory:
    """A stage-2 trajectory plus where it came from (``source``/``record_id`` are not written out)."""

    tools: list[Tool]
    instruction: str
    conversations: list[Turn]
    source: str = ""
    record_id: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "tools": [t.to_json() for t in self.tools],
            "instruction": self.instruction,
            "conversations": [t.to_json() for t in self.conversations],
        }


@dataclass
class RawChain:
    """A stage-1 item: the rewritten tools, the query and the raw ToolBench message chain."""

    tools: list[Tool]
    instruction: str
    chains: list[dict[str, Any]]
    source: str = ""
    record_id: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "tools": [t.to_json() for t in self.tools],
            "instruction": self.instruction,
            "chains": self.chains,
        }


@dataclass
class RoleSample:
    """One training sample of a role; ``segments`` (rendered history turns) lets truncation re-render."""

    role: str
    tools: list[Tool]
    history: list[Turn]
    input: str
    target: str
    segments: list[str] = field(default_factory=list)
    thought: str = ""
    source: str = ""
    dropped_turns: int = 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "tools": [t.to_json() for t in self.tools],
            "history": [t.to_json() for t in self.history],
            "input": self.input,
            "target": self.target,
        }
        if self.dropped_turns:
            out["dropped_history_turns"] = self.dropped_turns
        return out


@dataclass
class ToolCall:
    """One node of a ToolEval answer chain (thought or tool call); ``truncated`` when the text was cut."""

    role: str
    name: str = ""
    arguments: str = ""
    response: str = ""
    text: str = ""
    truncated: bool = False


@dataclass
class ToolEvalAnswer:
    """One converted ToolEval answer (spec/toolbench_env.md section 2.1)."""

    query_id: str
    query: str
    available_tools: list[dict[str, Any]]
    method: str
    final_answer: str
    finish_type: str  # "give_answer", "give_up" or "none"
    steps: list[ToolCall]
    source: str = ""


@dataclass(frozen=True)
class Reject:
    """A record that could not be used, with enough context to find it again."""

    file: str
    record: str
    reason: str
    detail: str = ""


@dataclass
class Report:
    """Counts of what a conversion read, wrote and rejected (by reason), plus every reject."""

    read: int = 0
    converted: int = 0
    rejected: Counter = field(default_factory=Counter)
    notes: Counter = field(default_factory=Counter)
    samples: Counter = field(default_factory=Counter)
    rejects: list[Reject] = field(default_factory=list)

    def reject(self, file: str | os.PathLike, record: str, reason: str, detail: str = "") -> None:
        self.rejected[reason] += 1
        self.rejects.append(Reject(str(file), str(record), reason, detail[:300]))

    def note(self, what: str, n: int = 1) -> None:
        self.notes[what] += n

    def summary(self) -> str:
        lines = [f"read {self.read}, converted {self.converted}, rejected {sum(self.rejected.values())}"]
        lines += [f"  rejected[{k}] = {v}" for k, v in sorted(self.rejected.items())]
        lines += [f"  samples[{k}] = {v}" for k, v in self.samples.items()]
        lines += [f"  note[{k}] = {v}" for k, v in sorted(self.notes.items())]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "converted": self.converted,
            "rejected": dict(sorted(self.rejected.items())),
            "samples": dict(self.samples),
            "notes": dict(sorted(self.notes.items())),
        }

    def write(self, out_dir: str | os.PathLike, name: str = "report") -> None:
        """Write ``<name>.json`` (counts) and ``<name>_rejects.jsonl`` (one reject per line)."""
        out = Path(out_dir)
        atomic_write_text(out / f"{name}.json", json.dumps(self.to_json(), indent=2) + "\n")
        lines = "".join(json.dumps(asdict(r)) + "\n" for r in self.rejects)
        atomic_write_text(out / f"{name}_rejects.jsonl", lines)


# ---------------------------------------------------------------------------------------------------
# Writers: json.dump(indent=2) layout, streamed and atomic
# ---------------------------------------------------------------------------------------------------


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish(tmp: str, path: Path) -> None:
    """Rename a finished temporary file into place with normal (umask) permissions."""
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    _publish(tmp, path)


class JsonListWriter:
    """Write a JSON list item by item; the bytes equal ``json.dump(items, f, indent=2)``.

    JSON strings never contain raw newlines, so indenting every line of ``json.dumps(item, indent=2)`` by
    two spaces gives exactly the nested layout. The file appears under its name only on ``close()``.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        self._fh = os.fdopen(fd, "w", encoding="utf-8")
        self.count = 0

    def write(self, item: Any) -> None:
        body = json.dumps(item, indent=2).replace("\n", "\n  ")
        self._fh.write(("[\n  " if self.count == 0 else ",\n  ") + body)
        self.count += 1

    def close(self) -> None:
        self._fh.write("[]" if self.count == 0 else "\n]")
        self._fh.close()
        _publish(self._tmp, self.path)

    def abort(self) -> None:
        self._fh.close()
        Path(self._tmp).unlink(missing_ok=True)

    def __enter__(self) -> JsonListWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.abort() if exc_type else self.close()


def dump_json_list(path: str | os.PathLike, items) -> int:
    with JsonListWriter(path) as w:
        for item in items:
            w.write(item)
    return w.count


def load_json(path: str | os.PathLike) -> Any:
    """``json.load`` with a readable error (file name, line, column) instead of a traceback.

    ``.gz`` files are decompressed; ``x.json`` falls back to ``x.json.gz`` when only that exists.
    """
    path = Path(path)
    if not path.exists() and path.with_name(path.name + ".gz").exists():
        path = path.with_name(path.name + ".gz")
    try:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise FormatError("bad_json", f"{path}: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except UnicodeDecodeError as exc:
        raise FormatError("bad_encoding", f"{path}: {exc}") from exc
    except (OSError, EOFError) as exc:
        raise FormatError("unreadable", f"{path}: {getattr(exc, 'strerror', None) or exc}") from exc


# ---------------------------------------------------------------------------------------------------
# ToolBench DFS answer files
# ---------------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------------
# alpha-UMi stage-2 trajectory files
# ---------------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------------
# ToolEval converted answers (answer_details chains; tool messages are Python-repr strings, often cut)
# ---------------------------------------------------------------------------------------------------

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
