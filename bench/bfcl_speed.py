"""BFCL multi-turn tasks: all tasks batched into one agent call per round, against one task at a time.

    python bench/bfcl_speed.py [--profile smoke] [--system base] [--tasks 4] [--max-steps 2]

Same agent, same tasks, same loop settings, greedy decoding: prints tasks/s of both schedules, their ratio,
and whether the transcripts are identical. Needs the optional BFCL data (``make bfcl``).
"""

from __future__ import annotations

import argparse
import json
import time

from umi_lib.agent.build import make_agent
from umi_lib.bfcl import run, tasks
from umi_lib.config import load_profile
from umi_lib.train.loaded import load_all


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--system", default="base", help="base needs no training; a trained system needs its adapters")
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--max-steps", type=int, default=2, help="call steps per turn (BFCL: 20)")
    args = parser.parse_args()
    tasks.require()
    profile = load_profile(args.profile)
    chosen = tasks.load_tasks(["multi_turn_base"], limit=args.tasks)
    settings = run.LoopSettings(args.max_steps, profile.bfcl.max_observation_chars)
    loaded = load_all(profile, () if args.system == "base" else (args.system,))
    agent = make_agent(loaded, profile, args.system)
    agent.backend.progress = False

    start = time.perf_counter()
    batched = run.drive(agent, chosen, settings, progress=False)
    t_batched = time.perf_counter() - start
    start = time.perf_counter()
    single = [run.drive(agent, [task], settings, progress=False)[0] for task in chosen]
    t_single = time.perf_counter() - start

    same = sum(
        json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True) for a, b in zip(batched, single, strict=True)
    )
    print(f"{args.profile}/{args.system}, {len(chosen)} tasks, <= {args.max_steps} call steps per turn")
    print(f"one task at a time {len(chosen) / t_single:.3f} tasks/s, batched {len(chosen) / t_batched:.3f} tasks/s: "
          f"{t_single / t_batched:.2f}x; identical transcripts {same}/{len(chosen)}")  # fmt: skip


if __name__ == "__main__":
    main()
