"""``umi eval realtime``: roll a system out on a profile's queries and write answers and metrics.

The environment is the offline :class:`~umi_lib.realtime.dispatch.ReplayEnv` by default (or a ``/virtual``
server). Without a judge the metrics are deterministic proxies (:func:`umi_lib.realtime.search.proxy_metrics`),
never called a pass rate.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from umi_lib.agent.agents import prefill_stats
from umi_lib.config import ConfigError, Profile
from umi_lib.data.jsonio import atomic_write_text
from umi_lib.paths import runs_dir
from umi_lib.realtime import answers
from umi_lib.realtime.catalog import GROUPS, Catalog, Query
from umi_lib.realtime.search import Budget, Rollout, proxy_metrics, rollout


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


def select_queries(profile: Profile, catalog: Catalog) -> list[Query]:
    """The profile's fixed, seeded subset of the configured groups."""
    unknown = sorted(set(profile.realtime.groups) - set(GROUPS))
    if unknown:
        raise ConfigError(f"realtime.groups: unknown {unknown}; known: {', '.join(GROUPS)}")
    chosen = catalog.select(profile.realtime.groups)
    random.Random(profile.seed).shuffle(chosen)
    n = profile.realtime.queries
    return chosen if n is None else chosen[:n]


def run_system(agent: Any, profile: Profile, system: str, env: Any, queries: Sequence[Query],
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
               "stopped": dict(Counter(r.stopped for r in results)),
               "prefill": prefill_stats(agent)}  # fmt: skip
    atomic_write_text(folder / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    if getattr(env, "misses", None):
        atomic_write_text(folder / "misses.jsonl", "".join(json.dumps(m) + "\n" for m in env.misses))
    return RealtimeRun(system, results, metrics, folder)
