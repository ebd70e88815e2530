"""Notebook 04 in library calls: score prediction files and turn every metrics file into tables and figures.

Until a model has been run, :func:`score_bundled` scores two prediction files made without a model (the
oracle and a seeded degraded copy, :mod:`umi_lib.evaluation.model_free`), through the real code path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from umi_lib.config import Profile
from umi_lib.data.jsonio import dump_json_list, load_json
from umi_lib.evaluation import model_free, paper
from umi_lib.evaluation.metrics import OFFICIAL_KEYS, SCOPE, parse_output, score_item
from umi_lib.evaluation.score import score_file
from umi_lib.evaluation.selection import evaluation_steps, metrics_path
from umi_lib.names import TABLE_COLUMNS
from umi_lib.paths import runs_dir
from umi_lib.workbook import plots
from umi_lib.workbook.tables import shown


def score_bundled(profile: Profile, seed: int | None = None, resamples: int = 1000) -> dict[str, dict[str, Any]]:
    """Write and score ``oracle`` and ``degraded`` predictions of the bundled test set.

    Predictions go to ``runs/<profile>/predictions/``, metrics to ``runs/<profile>/metrics/<name>.json``.
    """
    seed = profile.seed if seed is None else seed
    steps = evaluation_steps(profile)
    files = {"oracle": model_free.oracle(steps), "degraded": model_free.degraded(steps, seed)[0]}
    out = {}
    for name, items in files.items():
        pred_path = runs_dir(profile.name) / "predictions" / f"{name}.json"
        dump_json_list(pred_path, items)
        out[name] = score_file(pred_path, metrics_path(profile, name), seed, resamples)
    return out


def _ci(result: Mapping[str, Any], key: str) -> str:
    low, high = result.get("ci95", {}).get(key, [None, None])
    return "" if low is None or high is None else f"[{100 * low:.2f}, {100 * high:.2f}]"


def results_table(results: Mapping[str, Mapping[str, Any]], paper_rows: Sequence[str] = ()) -> pd.DataFrame:
    """Table-1 columns ×100 with 95% intervals, one row per run, then the paper's rows (OOD) marked as such."""
    rows = []
    for name, r in results.items():
        row: dict[str, Any] = {"run": plots.label(name), "steps": r["steps"]["total"]}
        for key, col in TABLE_COLUMNS.items():
            row[col] = round(100 * r[key], 2)
            row[f"{col} 95% CI"] = _ci(r, key)
        rows.append(row)
    for name in paper_rows:
        values = paper.table1(name, "OOD")
        row = {"run": f"paper: {name} (Table 1, OOD)", "steps": None}  # the paper gives no step counts or CIs
        row.update({col: round(100 * values[key], 2) for key, col in TABLE_COLUMNS.items()})
        rows.append(row)
    table = pd.DataFrame(rows).set_index("run")
    table["steps"] = table["steps"].astype("Int64")
    return shown(table, "not given by the paper (no step counts, no intervals)")


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
    """Table 1 as bars (``04_table1_<profile>``): model runs with the paper's rows, references apart."""
    rows = {name: paper.table1(name, "OOD") for name in paper_rows}
    title = f"Static evaluation, out-of-domain test set, {profile.name} profile"
    return _save(plots.table1_figure(results, rows, title, paper.CITATION), "table1", profile)


def confusion_plot(results: Mapping[str, Mapping], profile: Profile, run: str):
    """The planner's confusion matrix of one run (``04_confusion_<run>_<profile>``)."""
    title = f"Planner decisions: {plots.label(run)}, {profile.name} profile"
    return _save(plots.confusion_figure(results[run], title), f"confusion_{run}", profile)


def by_step_plot(results: Mapping[str, Mapping], profile: Profile):
    """Scores by the step's position in its trajectory (``04_by_step_<profile>``)."""
    title = f"Score by step position in the trajectory, {profile.name} profile"
    return _save(plots.by_step_figure(results, title=title), "by_step", profile)


def by_group_plot(results: Mapping[str, Mapping], profile: Profile):
    """Scores by how many tools the query offers (``04_by_group_<profile>``)."""
    title = f"Score by number of tools the query offers, {profile.name} profile"
    return _save(plots.by_group_figure(results, title=title), "by_group", profile)


def loss_plot(profile: Profile, system: str = "glpft"):
    """Loss curves of a trained system: the same figure, and the same one file, as notebook 02's
    :func:`umi_lib.workbook.glpft.loss_plot` (``02_loss_<folder>_<profile>``).

    ``system`` is a system (``alpha-umi``) or its log folder (``glpft``). Before any training the figure is an
    empty panel saying so, and nothing is written to ``figures/``.
    """
    from umi_lib.workbook import glpft

    return glpft.loss_plot(profile, glpft.system_of(system))
