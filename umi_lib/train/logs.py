"""Training-log format, shared by the trainer (writes) and the loss-curve figure (reads).

One file per GLPFT stage: ``runs/<profile>/logs/<system>/<stage>.jsonl`` (system folders: ``glpft``,
``one-stage``, ``multi-task``), one JSON object per line::

    {"stage": "global", "step": 10, "loss": 1.734, "kind": "train", "epoch": 0.21, "learning_rate": 5e-05,
     "tokens_per_s": 112.5, "peak_memory_mb": 2310.4}

``stage`` is ``global`` (the backbone fine-tune of GLPFT stage 1) or a role (``planner``, ``caller``,
``summarizer``); ``kind`` is ``train`` or ``eval``; ``step`` counts optimizer steps within the stage. Lines
are appended and flushed one by one, so a crashed run leaves at most one partial last line, which the reader
reports as a reject instead of failing. A resumed run logs again the steps after its last checkpoint; readers
keep the last record of each (kind, step).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from umi_lib.data.records import Report
from umi_lib.names import STAGES  # noqa: E402
from umi_lib.paths import runs_dir

KINDS = ("train", "eval")


@dataclass(frozen=True)
class LogRecord:
    """One logged point of a training stage."""

    stage: str
    """GLPFT stage: ``global`` or a role name."""
    step: int
    """Optimizer step within the stage (the x axis of the loss curve)."""
    loss: float
    """Mean loss over the logging interval (train) or over the eval set (eval)."""
    kind: str = "train"
    """``train`` or ``eval``."""
    epoch: float | None = None
    """Fractional epoch at this step, when known."""
    learning_rate: float | None = None
    """Learning rate at this step, when known."""
    tokens_per_s: float | None = None
    """Training throughput since the previous record (non-padding input tokens per second)."""
    peak_memory_mb: float | None = None
    """Peak memory so far: CUDA allocated memory, or the process's peak RSS on CPU."""

    @classmethod
    def from_json(cls, obj: object) -> LogRecord:
        if not isinstance(obj, dict):
            raise ValueError("line is not a JSON object")
        missing = {"stage", "step", "loss"} - set(obj)
        if missing:
            raise ValueError(f"missing {', '.join(sorted(missing))}")
        unknown = set(obj) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown keys {', '.join(sorted(unknown))}")
        rec = cls(**obj)
        if not isinstance(rec.step, int) or isinstance(rec.step, bool) or rec.step < 0:
            raise ValueError(f"step must be a non-negative integer, got {rec.step!r}")
        if not isinstance(rec.loss, int | float) or not math.isfinite(rec.loss):
            raise ValueError(f"loss must be a finite number, got {rec.loss!r}")
        if rec.kind not in KINDS or not isinstance(rec.stage, str):
            raise ValueError(f"bad stage/kind {rec.stage!r}/{rec.kind!r}")
        return rec


def log_path(profile: str, stage: str, system: str = "glpft") -> Path:
    return runs_dir(profile) / "logs" / system / f"{stage}.jsonl"


def append(path: str | os.PathLike, record: LogRecord) -> None:
    """Append one record and flush it (a crash loses at most the line being written).

    After such a crash the file ends inside a line: start on a new line so the record stays readable.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as fh:
        torn = fh.tell() > 0 and _last_byte(path) != b"\n"
        fh.write((("\n" if torn else "") + json.dumps(asdict(record)) + "\n").encode())


def _last_byte(path: Path) -> bytes:
    with path.open("rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1)


def read(path: str | os.PathLike, report: Report | None = None) -> list[LogRecord]:
    """Valid records of one log file, in file order; each bad line is a reject in ``report``."""
    report = report if report is not None else Report()
    records = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            report.read += 1
            try:
                records.append(LogRecord.from_json(json.loads(line)))
                report.converted += 1
            except (ValueError, TypeError) as exc:
                report.reject(path, str(n), "bad_log_line", str(exc))
    return records


def latest(records: list[LogRecord]) -> list[LogRecord]:
    """Keep the last record of each (kind, step): a resumed run re-logs the steps after its checkpoint."""
    last = {(r.kind, r.step): r for r in records}
    return sorted(last.values(), key=lambda r: (r.kind, r.step))


def read_run(profile: str, system: str = "glpft", report: Report | None = None) -> dict[str, list[LogRecord]]:
    """Every stage log of one system's run, keyed by stage (GLPFT order first, then any others)."""
    folder = runs_dir(profile) / "logs" / system
    files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    order = {s: k for k, s in enumerate(STAGES)}
    files.sort(key=lambda p: (order.get(p.stem, len(order)), p.stem))
    return {p.stem: latest(read(p, report)) for p in files}
