"""Notebook 03, section 6 in library calls: the systems on BFCL's executable multi-turn tasks.

BFCL scores from the tools' state and results, so this is a pass rate without a judge. The data is optional
(``make bfcl``); without it every function here says so and returns nothing to show.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from umi_lib.config import Profile
from umi_lib.names import SYSTEM_LABELS
from umi_lib.workbook import estimates, plots
from umi_lib.workbook.tables import shown

REFERENCE = "ground-truth"


def evaluate_all(loaded: Any, profile: Profile) -> list[Any]:
    """The ground truth (a reference that must pass every task), then each of ``profile.bfcl.systems``."""
    from umi_lib.agent.build import make_agent
    from umi_lib.bfcl import run, tasks
    from umi_lib.evaluation.static import system_inputs

    if not tasks.available():
        print(f"BFCL is not installed: {tasks.INSTALL_HINT}")
        return []
    estimates.announce(profile, "bfcl")
    runs = [run.evaluate(profile, REFERENCE, progress=False)]
    for system in profile.bfcl.systems:
        agent = make_agent(loaded, profile, system)
        runs.append(run.evaluate(profile, system, agent, system_inputs(profile, system)))
    return runs


def _name(system: str) -> str:
    return "Ground truth (reference)" if system == REFERENCE else SYSTEM_LABELS.get(system, system)


def table(runs: Sequence[Any]) -> pd.DataFrame:
    """Accuracy (%) with its 95% interval and passed/total per category, plus what went wrong in the calls."""
    from umi_lib.bfcl.run import STEP_LIMIT

    rows = []
    for r in runs:
        d = r.metrics["diagnostics"]
        for category, a in r.metrics["accuracy"].items():
            rows.append({"system": _name(r.system), "category": category, "accuracy": round(a["accuracy"], 1),
                         "95% CI": f"[{a['low']:.1f}, {a['high']:.1f}]", "passed": f"{a['passed']}/{a['n']}",
                         "invalid calls": d.get("invalid_calls"), "unknown functions": d.get("unknown_functions"),
                         "argument errors": d.get("argument_errors"),
                         "turns ended by the step limit": d.get("turns_ended", {}).get(STEP_LIMIT)})  # fmt: skip
    if not rows:
        return shown(pd.DataFrame())
    return shown(pd.DataFrame(rows).set_index(["system", "category"]), "not counted for this run")


def figure(runs: Sequence[Any], profile: Profile, name: str | None = None, out_dir: Any = None):
    """Accuracy per category and system (the reference first), saved as ``03_bfcl_<profile>`` (or ``name`` in
    ``out_dir``, as ``umi eval bfcl`` does next to its metrics)."""
    if not runs:
        return None
    categories = list(runs[0].metrics["accuracy"])
    values = {_name(r.system): [r.metrics["accuracy"].get(c, {}).get("accuracy") for c in categories] for r in runs}
    title = f"BFCL multi-turn accuracy, {profile.name} profile"
    fig = plots.grouped_bars(values, categories, title, "tasks passed (%)",
                             caption="Scored as BFCL defines it (tools' state and results), no judge.")  # fmt: skip
    plots.save(fig, name or f"03_bfcl_{profile.name}", out_dir)
    return fig
