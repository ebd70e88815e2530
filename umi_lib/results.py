"""Stage "results": score a profile's prediction files and turn every metrics file into tables and figures.

Each function is one notebook cell of ``04_results``. Until a model has been run, :func:`score_bundled` scores
two prediction files made without a model (the oracle and a seeded degraded copy, :mod:`umi_lib.predictions`)
so the tables and figures show real numbers computed by the real code path.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from umi_lib import paper, plots, predictions, trainlog
from umi_lib.config import Profile
from umi_lib.convert import extract_steps
from umi_lib.formats import dump_json_list, load_json
from umi_lib.metrics import OFFICIAL_KEYS, SCOPE, parse_output, score_item
from umi_lib.paths import runs_dir
from umi_lib.score import score_file

TABLE_COLUMNS = {"plan_em": "Plan ACC", "action_em": "Act. EM", "hallu_rate": "Hallu.", "f1": "Arg F1", "rouge": "R-L"}


def tool_count_group(n_tools: int) -> str:
    """Difficulty bucket of a step by how many tools its query offers (the OOD file has no G1/G2/G3 split)."""
    return "1-3 tools" if n_tools <= 3 else "4-6 tools" if n_tools <= 6 else "7+ tools"


def evaluation_steps(profile: Profile) -> list[dict[str, Any]]:
    """The profile's static-evaluation steps (from notebook 01's output, else extracted now)."""
    path = runs_dir(profile.name) / "data" / "test_steps.json"
    steps = load_json(path) if path.exists() else None
    if not steps or "history" not in steps[0]:  # missing, or written before steps carried their history
        extract_steps(profile.data.resolve(profile.data.test_file), path, compat=profile.data.compat)
        steps = load_json(path)
    for s in steps:
        s.setdefault("group", tool_count_group(len(s["tools"])))
    return steps


def score_bundled(profile: Profile, seed: int | None = None, resamples: int = 1000) -> dict[str, dict[str, Any]]:
    """Write and score ``oracle`` and ``degraded`` predictions of the bundled test set.

    Predictions go to ``runs/<profile>/predictions/``, metrics to ``runs/<profile>/metrics/<name>.json``.
    """
    seed = profile.seed if seed is None else seed
    steps = evaluation_steps(profile)
    files = {"oracle": predictions.oracle(steps), "degraded": predictions.degraded(steps, seed)[0]}
    out = {}
    for name, items in files.items():
        pred_path = runs_dir(profile.name) / "predictions" / f"{name}.json"
        dump_json_list(pred_path, items)
        out[name] = score_file(pred_path, metrics_path(profile, name), seed, resamples)
    return out


def metrics_path(profile: Profile, name: str) -> Path:
    return runs_dir(profile.name) / "metrics" / f"{name}.json"


def load_metrics(profile: Profile) -> dict[str, dict[str, Any]]:
    """Every ``runs/<profile>/metrics/*.json``, by file stem; unreadable files are skipped with a warning."""
    found = {}
    for path in sorted((runs_dir(profile.name) / "metrics").glob("*.json")):
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            warnings.warn(f"skipping {path}: {exc}", stacklevel=2)
            continue
        if not isinstance(result, dict) or not set(OFFICIAL_KEYS) <= set(result):
            warnings.warn(f"skipping {path}: not a umi score metrics file", stacklevel=2)
            continue
        found[path.stem] = result
    return found


def _ci(result: Mapping[str, Any], key: str) -> str:
    low, high = result.get("ci95", {}).get(key, [None, None])
    return "" if low is None or high is None else f"[{100 * low:.2f}, {100 * high:.2f}]"


def results_table(results: Mapping[str, Mapping[str, Any]], paper_rows: Sequence[str] = ()) -> pd.DataFrame:
    """Table-1 columns ×100 with 95% intervals, one row per run, then the paper's rows (OOD) marked as such."""
    rows = []
    for name, r in results.items():
        row: dict[str, Any] = {"run": name, "steps": r["steps"]["total"]}
        for key, col in TABLE_COLUMNS.items():
            row[col] = round(100 * r[key], 2)
            row[f"{col} 95% CI"] = _ci(r, key)
        rows.append(row)
    for name in paper_rows:
        values = paper.table1(name, "OOD")
        row = {"run": f"paper: {name} (Table 1, OOD)", "steps": None}
        row.update({col: round(100 * values[key], 2) for key, col in TABLE_COLUMNS.items()})
        rows.append(row)
    table = pd.DataFrame(rows).set_index("run")
    table["steps"] = table["steps"].astype("Int64")
    return table


def diagnostics(results: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Per run: steps, rejected items, official-script crash cases and parse failures (counts)."""
    rows = []
    for name, r in results.items():
        row = {"run": name, "steps": r["steps"]["total"], "rejected items": sum(r.get("rejected", {}).values())}
        row.update({f"crash: {k}": v for k, v in r["official_crashes"].items()})
        row.update({f"parse: {k}": v for k, v in r["parse_failures"].items()})
        rows.append(row)
    return pd.DataFrame(rows).set_index("run").fillna(0).astype(int)


def _short(text: str, n: int = 90) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= n else text[: n - 1] + "…"


def _describe(p) -> str:
    if p.answer is not None:
        return f"{p.plan}: " + _short(p.answer, 60) + f" ({len(p.answer.split())} words)"
    return _short(f"{p.plan}: {p.action or ''} {p.action_input or ''}".strip())


def metric_examples(profile: Profile) -> pd.DataFrame:
    """For each metric, one degraded step that loses on it: reference, prediction, the step's value."""
    pred_path = runs_dir(profile.name) / "predictions" / "degraded.json"
    items = load_json(pred_path)
    scored = [(i, score_item(i)) for i in items]
    rows = []
    for key in OFFICIAL_KEYS:
        for item, s in scored:
            value = s.values.get(key)
            if value is None or (value == 0.0 if key == "hallu_rate" else value >= 1.0 - 1e-6):
                continue
            if key.endswith("f1") and s.values["action_em"] < 1.0:
                continue  # show an argument mistake, not a wrong tool
            ref, pred = parse_output(item["reference"]), parse_output(item["predictions"])
            rows.append(
                {
                    "metric": key,
                    "averaged over": SCOPE[key],
                    "reference": _describe(ref),
                    "prediction": _describe(pred),
                    "step value": round(value, 4),
                }
            )
            break
    return pd.DataFrame(rows).set_index("metric")


def _save(fig, name: str, profile: Profile):
    plots.save(fig, f"04_{name}_{profile.name}")
    return fig


def table1_plot(results: Mapping[str, Mapping], profile: Profile, paper_rows: Sequence[str] = ()):
    rows = {name: paper.table1(name, "OOD") for name in paper_rows}
    fig = plots.table1_figure(results, rows, "Static evaluation, out-of-domain test set", paper.CITATION)
    return _save(fig, "table1", profile)


def confusion_plot(results: Mapping[str, Mapping], profile: Profile, run: str):
    return _save(plots.confusion_figure(results[run], f"Planner decisions: {run}"), f"confusion_{run}", profile)


def by_step_plot(results: Mapping[str, Mapping], profile: Profile):
    return _save(plots.by_step_figure(results), "by_step", profile)


def by_group_plot(results: Mapping[str, Mapping], profile: Profile):
    return _save(plots.by_group_figure(results), "by_group", profile)


def loss_plot(profile: Profile, system: str = "glpft"):
    """Loss curves of every GLPFT stage logged under ``runs/<profile>/logs/<system>/``.

    Before any training the figure is an empty panel saying so, and nothing is written to ``figures/``.
    """
    logs = trainlog.read_run(profile.name, system)
    fig = plots.loss_figure(logs)
    return _save(fig, f"loss_{system}", profile) if any(logs.values()) else fig
