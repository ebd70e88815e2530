"""Static evaluation speed: the official way (one prompt per generate call, a model loaded per role phase)
against our batched runner with three roles on one base, same steps, same adapters, greedy, one process.

Needs a profile whose systems were trained (notebook 02, or ``umi train --profile cpu --system alpha-umi``).
Prints steps/s of both, the ratio, whether the predictions are identical, and the weights in memory of three
roles on one base against three full copies. Not a test: numbers depend on the machine.
Usage: python bench/static_eval_speed.py [--profile cpu] [--steps 16] [--batch 8] [--max-new-tokens N]
"""

from __future__ import annotations

import argparse
import gc
import time
from dataclasses import dataclass, replace

from umi_lib.agent import agents, backends, build
from umi_lib.config import load_profile
from umi_lib.evaluation.selection import evaluation_steps
from umi_lib.evaluation.static import select_steps
from umi_lib.train import loaded, stages
from umi_lib.train.loading import load_base
from umi_lib.workbook import glpft


@dataclass
class OfficialStyle:
    """One full model per role phase (base + that role's adapter, loaded fresh), batch size 1."""

    profile: object
    max_input_tokens: int

    def generate(self, role, prompts, params):
        model, tok, _ = load_base(self.profile.base_model, "none")
        model = stages.load_adapter(model, stages.system_dir(self.profile, "alpha-umi") / role, role)
        backend = backends.AdapterBackend(model, tok, {role: role}, 1, self.max_input_tokens, progress=False)
        out = backend.generate(role, prompts, params)
        del model, backend
        gc.collect()
        return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default: the profile's eval setting")
    args = parser.parse_args()
    profile = load_profile(args.profile)
    steps = select_steps(evaluation_steps(profile), args.steps, 2, profile.seed)
    if args.max_new_tokens:
        profile.eval = replace(profile.eval, max_new_tokens=args.max_new_tokens)
    e = profile.eval
    params = {r: agents.GenParams(max_new_tokens=e.max_new_tokens) for r in ("planner", "caller", "summarizer")}

    start = time.perf_counter()
    official = agents.MultiLLMAgent(OfficialStyle(profile, e.max_input_tokens), params).predict(steps)
    t_official = time.perf_counter() - start

    start = time.perf_counter()
    adapters = loaded.load_all(profile, ("alpha-umi",))
    profile.eval = replace(e, batch_size=args.batch)
    ours_agent = build.make_agent(adapters, profile, "alpha-umi")
    ours_agent.backend.progress = False
    ours = ours_agent.predict(steps)
    t_ours = time.perf_counter() - start

    same = sum(a == b for a, b in zip(official, ours, strict=True))
    memory = glpft.memory_table(loaded)
    print(f"{len(steps)} steps, base {profile.base_model}, prompts <= {e.max_input_tokens} tokens, "
          f"<= {e.max_new_tokens} new tokens, greedy")  # fmt: skip
    print(
        f"official style (batch 1, model per role phase): {len(steps) / t_official:6.3f} steps/s ({t_official:.1f} s)"
    )
    print(
        f"batched, one base + adapters (batch {args.batch}):      {len(steps) / t_ours:6.3f} steps/s ({t_ours:.1f} s)"
    )
    print(f"speed-up {t_official / t_ours:.2f}x; identical predictions: {same}/{len(steps)}")
    print(memory.to_string())


if __name__ == "__main__":
    main()
