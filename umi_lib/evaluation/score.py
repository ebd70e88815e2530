"""``umi score``: a prediction file in the official format → metrics JSON with intervals.

Input: a JSON list of items ``{"reference": str, "predictions": str, "tools": [{"Name": ...}, ...]}``;
``trajectory``, ``step`` and ``group`` are used when present (``umi steps`` and our agent write them).
Malformed items are counted rejects (``rejected`` in the output, details in ``<out>_rejects.jsonl``);
the official script would raise on them.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from umi_lib.data.jsonio import atomic_write_text
from umi_lib.data.readers import load_records
from umi_lib.data.records import FormatError, Report
from umi_lib.evaluation import rouge
from umi_lib.evaluation.bootstrap import bootstrap
from umi_lib.evaluation.metrics import OFFICIAL_KEYS, StepScore, aggregate, score_item
from umi_lib.manifest import file_digest
from umi_lib.manifest import write as write_manifest
from umi_lib.names import TABLE_COLUMNS
from umi_lib.progress import tqdm

RESAMPLES = 1000


def _item_error(item: Any) -> str | None:
    """Why an item cannot be scored (the official script would crash on it), or None."""
    if not isinstance(item, dict):
        return "item_not_object"
    for key in ("reference", "predictions"):
        if not isinstance(item.get(key), str):
            return f"{key}_not_string"
    tools = item.get("tools")
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        return "tools_not_list_of_objects"
    if not all(isinstance(t.get("Name"), str) for t in tools):
        return "tool_without_name"
    for key, kind in (("step", int), ("group", str)):
        if key in item and (not isinstance(item[key], kind) or isinstance(item[key], bool)):
            return f"{key}_bad_type"
    if "trajectory" in item and not isinstance(item["trajectory"], int | str):
        return "trajectory_bad_type"
    return None


def score_items(items: list[Any], report: Report, source: str = "-", progress: bool = False) -> list[StepScore]:
    """Score every valid item; each invalid one is a reject in ``report``."""
    scores = []
    for k, item in enumerate(tqdm(items, desc="score", disable=not progress, leave=False)):
        report.read += 1
        if (reason := _item_error(item)) is not None:
            report.reject(source, str(k), reason, json.dumps(item)[:200] if not isinstance(item, dict) else "")
            continue
        s = score_item(item)
        # Resampling unit: the trajectory (within its group); items without one are their own unit.
        traj = item.get("trajectory")
        s.unit = (item.get("group"), traj) if traj is not None else ("step", k)
        s.step, s.group = item.get("step"), item.get("group")
        scores.append(s)
        report.converted += 1
    return scores


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def metrics_report(scores: list[StepScore], seed: int = 0, resamples: int = RESAMPLES) -> dict[str, Any]:
    """Official keys, breakdowns, crash counts, ``rouge-score`` extra and bootstrap intervals."""
    out = aggregate(scores)
    pairs = [s.answers for s in scores if s.answers is not None]
    out["rouge_score_rougeL"] = rouge.rouge_score_l([h for h, _ in pairs], [r for _, r in pairs])
    intervals = bootstrap(scores, OFFICIAL_KEYS, resamples, seed)
    by_trajectory = all(s.unit[0] != "step" for s in scores)
    out["ci95"] = {k: [_finite(v.low), _finite(v.high)] for k, v in intervals.items()}
    out["bootstrap"] = {
        "resamples": resamples,
        "seed": seed,
        "unit": "trajectory" if by_trajectory else "step (items carry no 'trajectory')",
        "units": len({s.unit for s in scores}),
        "method": "percentile",
    }
    return out


def score_file(
    predictions: str | os.PathLike,
    out: str | os.PathLike | None = None,
    seed: int = 0,
    resamples: int = RESAMPLES,
    progress: bool = False,
) -> dict[str, Any]:
    """Score a prediction file; write the metrics JSON (and rejects) to ``out`` when given."""
    report = Report()
    items = load_records(predictions, report)
    if items is None:
        raise FormatError(next(iter(report.rejected)), report.rejects[0].detail)
    scores = score_items(items, report, str(predictions), progress)
    if not scores:
        raise FormatError("nothing_to_score", f"{predictions}: no valid prediction item ({report.summary()})")
    result = {
        **metrics_report(scores, seed, resamples),
        "source": str(predictions),
        "items": report.read,
        "rejected": dict(sorted(report.rejected.items())),
    }
    if out is not None:
        out = Path(out)
        atomic_write_text(out, json.dumps(result, indent=2) + "\n")
        rejects = "".join(json.dumps(asdict(r)) + "\n" for r in report.rejects)
        atomic_write_text(out.with_name(out.stem + "_rejects.jsonl"), rejects)
        inputs = {"predictions": file_digest(predictions), "seed": seed, "resamples": resamples}
        write_manifest(out, "metrics", inputs, predictions=Path(predictions).name)
    return result


def summary(result: dict[str, Any]) -> str:
    """Table-1 columns ×100 with their 95% intervals, then the crash and parse-failure counts."""
    lines = []
    for key, name in TABLE_COLUMNS.items():
        low, high = result["ci95"].get(key, [None, None])
        ci = "" if low is None or high is None else f"  [{100 * low:6.2f}, {100 * high:6.2f}]"
        lines.append(f"{name:9s} {100 * result[key]:6.2f}{ci}")
    for title in ("official_crashes", "parse_failures", "rejected"):
        lines += [f"{title}[{k}] = {v}" for k, v in result[title].items()]
    return "\n".join(lines)
