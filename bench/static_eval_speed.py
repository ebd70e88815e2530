"""Evaluation speed in three columns, one process, same steps, same adapters, greedy:

1. official style: one prompt at a time, a model loaded per role phase (static) or one query at a time
   (``--rollouts``), every prompt prefilled whole (static: prefill and decoding timed apart);
2. batched: three roles on one base, length-sorted padded batches (``eval.prefix_reuse: false``);
3. batched + prefix reuse: each prompt starts from its trajectory's previous prompt to the same role, cut to the
   common token prefix (``umi_lib.agent.prefix_cache``).

Prints seconds, steps/s, the speed-up over column 1, prompt tokens and tokens actually prefilled per step (padding
included), the share of prefill saved, and how many predictions equal column 1's. Needs a trained profile
(notebook 02, or ``umi train --profile cpu --system alpha-umi``). Not a test: numbers depend on the machine.

Static steps: whole trajectories (seeded order) whose every planner prompt has between ``--min-prompt-tokens`` and
``--max-input-tokens`` tokens, so no prompt is cut and the prefixes are long, until ``--steps`` steps.
``--profile-steps`` instead runs the profile's own steps and eval settings (what notebook 03 evaluates).
Usage: python bench/static_eval_speed.py [--profile cpu] [--steps 32] [--batch 8] [--min-prompt-tokens 1024]
       [--max-input-tokens 2048] [--max-new-tokens N] [--dtype fp32|bf16] [--rollouts [--queries 4]]
       [--profile-steps]
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections import Counter
from dataclasses import dataclass, field, replace

import pandas as pd

from umi_lib.agent import agents, backends, build
from umi_lib.config import load_profile
from umi_lib.evaluation.selection import evaluation_steps
from umi_lib.evaluation.static import select_steps
from umi_lib.train import loaded, stages
from umi_lib.train.loading import load_base

DTYPES = ("fp32", "bf16")


def cast(model, dtype: str):
    import torch

    return model.to(torch.bfloat16) if dtype == "bf16" else model


@dataclass
class OfficialStyle:
    """One full model per role phase (base + that role's adapter, loaded fresh), batch size 1, no reuse: every
    prompt is prefilled whole and decoded alone (the same computation as ``generate`` on the whole prompt)."""

    profile: object
    dtype: str = "fp32"
    stats: Counter = field(default_factory=Counter)

    def generate(self, role, prompts, params, streams=None):
        model, tok, _ = load_base(self.profile.base_model, "none")
        model = cast(stages.load_adapter(model, stages.system_dir(self.profile, "alpha-umi") / role, role), self.dtype)
        backend = backends.AdapterBackend(model, tok, {role: role}, 1, self.profile.eval.max_input_tokens,
                                          progress=False, stats=self.stats, prefix_reuse=True)  # fmt: skip
        # No stream: each prompt is prefilled whole, then decoded (batch 1), timed apart; nothing is reused.
        out = backend.generate(role, prompts, params, [None] * len(prompts))
        del model, backend
        gc.collect()
        return out


def pick_steps(profile, tok, n: int, low: int, high: int) -> list[dict]:
    """Whole trajectories in a seeded order whose planner prompts all have ``low..high`` tokens, until ``n`` steps."""
    by_traj: dict = {}
    for s in evaluation_steps(profile):
        by_traj.setdefault(s["trajectory"], []).append(s)
    keys = list(by_traj)
    random.Random(profile.seed).shuffle(keys)
    chosen: list[dict] = []
    for key in keys:
        lengths = [len(ids) for ids in backends.encode(tok, [s["input"] for s in by_traj[key]], 10**9)[0]]
        if len(lengths) > 1 and low <= min(lengths) and max(lengths) <= high:
            chosen.extend(by_traj[key])
        if len(chosen) >= n:
            break
    return chosen


def row(name: str, seconds: float, steps: int, stats: Counter, same: int, base_seconds: float) -> dict:
    prompt, computed = stats["prompt_tokens"], stats["prefill_tokens"]
    split = stats["prefill_seconds"] > 0
    return {"system": name, "seconds": round(seconds, 1), "steps/s": round(steps / seconds, 3),
            "speed-up": round(base_seconds / seconds, 2), "prompt tok/step": round(prompt / steps),
            "prefilled tok/step": round(computed / steps), "prefill saved": f"{1 - computed / prompt:.0%}",
            "prefill s": round(stats["prefill_seconds"], 1) if split else "in generate",
            "decode s": round(stats["decode_seconds"], 1) if split else round(stats["generate_seconds"], 1),
            "same as official": f"{same}/{steps}", "cut prompts": stats["truncated"],
            "reuse lost to cut": stats["reuse_lost_to_truncation"]}  # fmt: skip


def official_metrics_of(steps, predictions) -> dict:
    """The seven official metrics of ``predictions`` on ``steps`` (what Table 1 reports)."""
    from umi_lib.evaluation.metrics import official_metrics, score_step

    pairs = zip(steps, predictions, strict=True)
    scores = [score_step(s["reference"], p, [t["Name"] for t in s["tools"]]) for s, p in pairs]
    return {k: round(100 * v, 1) for k, v in official_metrics(scores).items()}


def static_columns(profile, args, adapters, load_seconds: float) -> list[dict]:
    tok = adapters.run.tokenizer
    if args.profile_steps:
        e = profile.eval
        steps = select_steps(evaluation_steps(profile), e.limit, e.per_trajectory, profile.seed)
    else:
        steps = pick_steps(profile, tok, args.steps, args.min_prompt_tokens, profile.eval.max_input_tokens)
    lengths = sorted(len(ids) for ids in backends.encode(tok, [s["input"] for s in steps], 10**9)[0])
    print(f"{len(steps)} steps of {len({s['trajectory'] for s in steps})} trajectories; planner prompts "
          f"{lengths[0]}-{lengths[-1]} tokens (median {lengths[len(lengths) // 2]})")  # fmt: skip
    params = build.role_params(profile)
    official_backend = OfficialStyle(profile, args.dtype)
    start = time.perf_counter()
    official = agents.MultiLLMAgent(official_backend, params).predict(steps)
    t_official = time.perf_counter() - start
    rows = [row("official style", t_official, len(steps), official_backend.stats, len(steps), t_official)]
    metrics = {"official style": official_metrics_of(steps, official)}
    for name, reuse in (("batched", False), ("batched + prefix reuse", True)):
        profile.eval = replace(profile.eval, prefix_reuse=reuse)
        agent = build.make_agent(adapters, profile, "alpha-umi")
        agent.backend.progress = False
        start = time.perf_counter()
        ours = agent.predict(steps)
        seconds = time.perf_counter() - start + load_seconds
        same = sum(a == b for a, b in zip(official, ours, strict=True))
        rows.append(row(name, seconds, len(steps), agent.backend.stats, same, t_official))
        metrics[name] = official_metrics_of(steps, ours)
    print("official metrics (x100) of each column's predictions:")
    print(pd.DataFrame(metrics).T.to_string())
    return rows


def rollout_columns(profile, args, adapters, load_seconds: float) -> list[dict]:  # noqa: ARG001 (same signature)
    from umi_lib.realtime import dispatch
    from umi_lib.realtime import run as realtime
    from umi_lib.realtime.search import rollout

    env = dispatch.load_env(dispatch.MissPolicy())
    profile.realtime = replace(profile.realtime, max_seconds=None, queries=args.queries)  # no clock: same steps
    queries = realtime.select_queries(profile, env.catalog)
    budget, method = realtime.budget_of(profile), profile.realtime.method
    print(f"{len(queries)} queries, {method}, {budget.max_model_steps} agent steps per query at most")
    rows, chains = [], []
    for name, reuse, one_by_one, batch in (("official style (one query at a time)", False, True, 1),
                                           ("batched", False, False, args.batch),
                                           ("batched + prefix reuse", True, False, args.batch)):  # fmt: skip
        profile.eval = replace(profile.eval, prefix_reuse=reuse, batch_size=batch)
        agent = build.make_agent(adapters, profile, "alpha-umi")
        agent.backend.progress = False
        start = time.perf_counter()
        groups = [[q] for q in queries] if one_by_one else [queries]
        results = [r for g in groups for r in rollout(agent, env, g, method, budget, progress=False)]
        seconds = time.perf_counter() - start  # all three share the base loaded once: no load time in any
        trees = [[n.prediction for n in r.nodes()] for r in results]
        chains.append(trees)
        steps = sum(r.model_steps for r in results)
        same = sum(a == b for a, b in zip(chains[0], trees, strict=True))
        rows.append(row(name, seconds, steps, agent.backend.stats, same, rows[0]["seconds"] if rows else seconds))
        rows[-1]["same as official"] = f"{same}/{len(queries)} queries"
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--min-prompt-tokens", type=int, default=1024)
    parser.add_argument("--max-input-tokens", type=int, default=2048, help="prompts keep their last this many tokens")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default: the profile's eval setting")
    parser.add_argument("--dtype", choices=DTYPES, default="fp32")
    parser.add_argument("--rollouts", action="store_true", help="real-time rollouts instead of static steps")
    parser.add_argument(
        "--profile-steps",
        action="store_true",
        help="the profile's own steps and eval settings (notebook 03's run) instead of long prompts",
    )
    parser.add_argument("--queries", type=int, default=4, help="--rollouts: how many queries")
    args = parser.parse_args()
    profile = load_profile(args.profile)
    if not args.profile_steps:
        profile.eval = replace(profile.eval, max_input_tokens=args.max_input_tokens, batch_size=args.batch,
                               max_new_tokens=args.max_new_tokens or profile.eval.max_new_tokens)  # fmt: skip
    start = time.perf_counter()
    adapters = loaded.load_all(profile, ("alpha-umi",))
    cast(adapters.run.model, args.dtype)
    load_seconds = time.perf_counter() - start
    e = profile.eval
    print(f"base {profile.base_model} ({args.dtype}), prompts <= {e.max_input_tokens} tokens, <= {e.max_new_tokens} "
          f"new tokens, greedy, batch {e.batch_size}; static: the batched columns include the one-time load "
          f"({load_seconds:.1f} s), rollouts: no column does")  # fmt: skip
    pd.set_option("display.width", 250)
    rows = (rollout_columns if args.rollouts else static_columns)(profile, args, adapters, load_seconds)
    print(pd.DataFrame(rows).set_index("system").to_string())


if __name__ == "__main__":
    main()
