"""Real-time rollouts of the trained systems (notebook 03's second half, ``umi eval realtime``).

The tool environment is the offline :class:`~umi_lib.envs.ReplayEnv` by default (or a ``/virtual`` server); the
agents are the static-evaluation agents over the shared base. Without a judge we report deterministic proxies
(:func:`umi_lib.rollout.proxy_metrics`), never called a pass rate. With ``UMI_JUDGE_URL`` and ``UMI_JUDGE_MODEL``
set, :func:`judge_runs` adds pass rate (and win rate against ChatGPT-ReACT where its answers exist).
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from umi_lib import answers, envs, paper
from umi_lib import prompts as P
from umi_lib.config import ConfigError, Profile
from umi_lib.formats import Report, atomic_write_text, read_tooleval_answers
from umi_lib.paths import data_path, runs_dir
from umi_lib.rollout import Budget, Node, Rollout, proxy_metrics, rollout

JUDGE_URL_ENV, JUDGE_MODEL_ENV = "UMI_JUDGE_URL", "UMI_JUDGE_MODEL"


@dataclass
class RealtimeRun:
    system: str
    rollouts: list[Rollout]
    metrics: dict[str, Any]
    folder: Path


def budget_of(profile: Profile) -> Budget:
    r = profile.realtime
    return Budget(max_depth=r.max_depth, max_model_steps=r.max_model_steps, max_tokens=r.max_tokens,
                  max_seconds=r.max_seconds)  # fmt: skip


def select_queries(profile: Profile, catalog: envs.Catalog) -> list[envs.Query]:
    """The profile's fixed, seeded subset of the configured groups."""
    unknown = sorted(set(profile.realtime.groups) - set(envs.GROUPS))
    if unknown:
        raise ConfigError(f"realtime.groups: unknown {unknown}; known: {', '.join(envs.GROUPS)}")
    chosen = catalog.select(profile.realtime.groups)
    random.Random(profile.seed).shuffle(chosen)
    n = profile.realtime.queries
    return chosen if n is None else chosen[:n]


def run_system(agent: Any, profile: Profile, system: str, env: Any, queries: Sequence[envs.Query],
               progress: bool = True) -> RealtimeRun:  # fmt: skip
    """Roll ``agent`` out on ``queries``; write answer files, converted answers and metrics."""
    if profile.realtime.max_new_tokens is not None:
        agent.params = {r: replace(p, max_new_tokens=profile.realtime.max_new_tokens) for r, p in agent.params.items()}
    env.counts = Counter()
    if hasattr(env, "misses"):
        env.misses = []
    budget, method = budget_of(profile), profile.realtime.method
    results = rollout(agent, env, queries, method, budget, progress=progress)
    folder = runs_dir(profile.name) / "realtime" / f"{system}_{method}"
    answers.write(results, env.catalog, budget, folder)
    metrics = {"system": system, "method": method, "budget": budget.to_json(), **proxy_metrics(results),
               "environment": env.report(), "agent": dict(getattr(agent, "counts", {})),
               "stopped": dict(Counter(r.stopped for r in results))}  # fmt: skip
    atomic_write_text(folder / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    if getattr(env, "misses", None):
        atomic_write_text(folder / "misses.jsonl", "".join(json.dumps(m) + "\n" for m in env.misses))
    return RealtimeRun(system, results, metrics, folder)


def summary(runs: Sequence[RealtimeRun]) -> pd.DataFrame:
    keys = ("finish_rate", "give_up_rate", "no_answer_rate", "answered_with_success_rate", "replay_hit_rate",
            "hallucinated_tool_rate")  # fmt: skip
    rows = []
    for r in runs:
        m = r.metrics
        row = {"system": r.system, "queries": m["queries"], "calls/query": round(m["calls_per_query"] or 0, 2),
               "steps/query": round(m["model_steps_per_query"] or 0, 2)}  # fmt: skip
        row.update({k: None if m[k] is None else round(100 * m[k], 1) for k in keys})
        rows.append(row)
    return pd.DataFrame(rows).set_index("system")


# ---------------------------------------------------------------------------------------------------
# A readable tree of one rollout
# ---------------------------------------------------------------------------------------------------


def _node_line(n: Node) -> str:
    thought = n.thought.replace("\n", " ")[:100]
    if n.action == P.FINISH:
        mark = "ANSWER" if n.answered else ("GIVE UP" if n.plan == "give up" else "BAD FINISH")
        return f"[{mark}] {thought} -> Finish {n.arguments[:120]}"
    obs = n.observation.replace("\n", " ")[:100]
    kind = n.outcome.kind if n.outcome else "?"
    error = str(n.outcome.envelope.get("error", "")) if n.outcome else ""
    if error:  # the agent does not see it (training format), but the reader should
        kind += ": " + error.replace("\n", " ")[:80]
    return f"{thought}\n    call {n.action}({n.arguments.replace(chr(10), ' ')[:80]}) [{kind}] -> {obs!r}"


def tree_text(r: Rollout) -> str:
    """The search tree as indented text: thoughts, calls, observations; a second child is a backtrack."""
    lines = [f"query {r.query.group}/{r.query.query_id}: {r.query.query[:160]}",
             f"stopped: {r.stopped}; {r.model_steps} agent steps; finish: {r.finish_type}"]  # fmt: skip

    def walk(nodes: Sequence[Node], indent: str) -> None:
        for k, n in enumerate(nodes):
            tag = "backtrack, new try: " if k else ""
            body = _node_line(n).replace("\n", "\n" + indent + "  ")
            lines.append(f"{indent}- {tag}{body}")
            walk(n.children, indent + "    ")

    walk(r.roots, "")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# Figures and the optional judge
# ---------------------------------------------------------------------------------------------------


def proxy_figure(runs: Sequence[RealtimeRun], profile: Profile):
    from umi_lib import plots

    keys = ("finish_rate", "give_up_rate", "answered_with_success_rate", "replay_hit_rate", "hallucinated_tool_rate")
    values = {r.system: [100 * (r.metrics[k] or 0.0) for k in keys] for r in runs}
    fig = plots.grouped_bars(values, [k.replace("_", " ").replace(" rate", "") for k in keys],
                             f"Real-time proxies ({profile.realtime.method}, offline replay; not pass rates)",
                             "% of queries (calls for hit/hallucination)")  # fmt: skip
    plots.save(fig, f"03_realtime_proxies_{profile.name}")
    return fig


def judge_from_env():
    """An :class:`~umi_lib.judge.OpenAIJudge` from ``UMI_JUDGE_URL``/``UMI_JUDGE_MODEL``, or None."""
    from umi_lib.judge import OpenAIJudge

    url, model = os.environ.get(JUDGE_URL_ENV), os.environ.get(JUDGE_MODEL_ENV)
    if not url:
        return None
    if not model:
        raise ConfigError(f"{JUDGE_URL_ENV} is set but {JUDGE_MODEL_ENV} is not")
    return OpenAIJudge(url, model, os.environ.get("OPENAI_API_KEY", ""))


def load_converted(folder: Path) -> dict[str, Any]:
    report = Report()
    out = {}
    for path in sorted((folder / "converted").glob("*.json")):
        for ans in read_tooleval_answers(path, report):
            out[f"{path.stem}/{ans.query_id}"] = ans
    return out


def judge_runs(runs: Sequence[RealtimeRun], profile: Profile, judge: Any, samples: int = 3) -> pd.DataFrame:
    """Pass rate per system (and win rate vs the bundled ChatGPT-ReACT answers of the same queries)."""
    from umi_lib.judge import pass_rate, win_rate

    wanted = {f"{x.query.group}/{x.query.query_id}" for r in runs for x in r.rollouts}
    ref = {}
    for group in profile.realtime.groups:
        path = data_path(f"toolbench/tooleval_cot/{group}.json")
        if path.exists():
            answers_ = (a for a in read_tooleval_answers(path, Report()) if f"{group}/{a.query_id}" in wanted)
            ref.update({f"{group}/{a.query_id}": a for a in answers_})
    ref_pass = pass_rate(judge, ref, list(ref), samples, profile.seed) if ref else None  # only shared queries
    rows = []
    for r in runs:
        first_log = len(judge.log)
        answers_ = load_converted(r.folder)
        ids = [f"{x.query.group}/{x.query.query_id}" for x in r.rollouts]
        pr = pass_rate(judge, answers_, ids, samples, profile.seed)
        row = {"system": r.system, "pass_rate": 100 * pr.pass_rate, "pass_mean": 100 * pr.mean,
               "pass_std": 100 * pr.std, "queries": pr.queries}  # fmt: skip
        common = [q for q in ids if q in ref]
        if ref_pass and common:
            wr = win_rate(judge, {q: ref[q] for q in common}, {q: answers_[q] for q in common if q in answers_},
                          ref_pass.passed, pr.passed, seed=profile.seed)  # fmt: skip
            row["win_rate"] = 100 * wr["win_rate"]
        rows.append(row)
        record = {"judge": judge.describe(), "samples": samples, "pass": pr.to_json(), "log": judge.log[first_log:]}
        atomic_write_text(r.folder / "judge.json", json.dumps(record, indent=2, default=str) + "\n")
    return pd.DataFrame(rows).set_index("system")


def judged_figure(table: pd.DataFrame, profile: Profile):
    """Our pass rates next to the paper's Table 2 (I1-Cat./I2-Cat. averaged)."""
    from umi_lib import plots

    values = {s: [table.loc[s, "pass_rate"]] for s in table.index}
    for name, cols in paper.TABLE2.items():
        values[f"paper: {name}"] = [sum(v[0] for v in cols.values()) / len(cols)]
    fig = plots.grouped_bars(values, ["pass rate"], f"Pass rate vs {paper.TABLE2_CITATION}", "%")
    plots.save(fig, f"03_realtime_pass_{profile.name}")
    return fig
