"""Typed records for every data format the workbook touches, and the conversion :class:`Report` (counts,
notes and rejects, so nothing is ever dropped silently).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


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
    """One converted ToolEval answer (``docs/toolbench.md#tooleval-converted-answers``)."""

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
        from umi_lib.data.jsonio import atomic_write_text  # jsonio raises FormatError: import here, not on top

        atomic_write_text(out / f"{name}.json", json.dumps(self.to_json(), indent=2) + "\n")
        lines = "".join(json.dumps(asdict(r)) + "\n" for r in self.rejects)
        atomic_write_text(out / f"{name}_rejects.jsonl", lines)
