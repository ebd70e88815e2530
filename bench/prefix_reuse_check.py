"""Prefix reuse without trained adapters (for a lent GPU, or any machine): random weights of a given shape, the
tiny-random tokenizer bundled with the repository, synthetic trajectories whose prompts grow step by step like the
test set's (a long shared head, the history so far, then a tail that differs).

Prints, for plain padded batches and for batches + prefix reuse: seconds, prompt and prefilled tokens, the speed-up,
and how many outputs equal the plain batches'. Greedy. Not a test: numbers depend on the machine.
Usage: PYTHONPATH=. python bench/prefix_reuse_check.py [--shape smollm2] [--device cuda] [--dtype bf16|fp32]
       [--streams 16] [--steps 4] [--head 1200] [--batch 16] [--new 40]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter

from gpu_check import SHAPES

from umi_lib.agent.agents import GenParams
from umi_lib.agent.backends import generate_batched, generate_reusing
from umi_lib.agent.prefix_cache import PrefixCache
from umi_lib.train.bases import load_tokenizer

WORDS = ("search", "the", "weather", "api", "returns", "city", "temperature", "humidity", "wind", "forecast", "user",
         "asks", "for", "details")  # fmt: skip


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def trajectories(streams: int, steps: int, head: int, seed: int = 0) -> tuple[list[str], list[int]]:
    """``streams`` x ``steps`` prompts: a ~``head``-word tool list, then one more turn per step, then a tail."""
    rng = random.Random(seed)
    prompts, keys = [], []
    for s in range(streams):
        history = f"System: tools {s}: " + words(rng, head) + "</s>user: " + words(rng, 30) + "</s>"
        for k in range(steps):
            history += "assistant: " + words(rng, 40) + "</s>observation: " + words(rng, 120) + "</s>"
            prompts.append(history + f"assistant: step {k}")
            keys.append(s)
    return prompts, keys


def main() -> None:
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", default="smollm2", choices=sorted(SHAPES))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bf16", choices=("bf16", "fp32"))
    parser.add_argument("--streams", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--head", type=int, default=1200, help="words in each stream's shared head")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--new", type=int, default=40, help="new tokens per prompt")
    args = parser.parse_args()
    torch.manual_seed(0)
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    cfg = LlamaConfig(**SHAPES[args.shape], max_position_embeddings=8192)
    model = AutoModelForCausalLM.from_config(cfg, dtype=dtype).to(args.device).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(50.0)  # logits far apart: greedy choices are not float ties
    tok = load_tokenizer("tiny-random")
    prompts, keys = trajectories(args.streams, args.steps, args.head)
    params = GenParams(max_new_tokens=args.new)
    rows = []
    for name in ("batched", "batched + prefix reuse"):
        stats: Counter = Counter()
        start = time.perf_counter()
        if name == "batched":
            out = generate_batched(model, tok, prompts, params, args.batch, 8000, stats=stats)
            plain = out
        else:
            out = generate_reusing(model, tok, "planner", prompts, keys, params, args.batch, 8000, PrefixCache(),
                                   stats)  # fmt: skip
        if args.device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        rows.append({"run": name, "seconds": round(seconds, 2), "prompts": len(prompts),
                     "prompt tok": stats["prompt_tokens"], "prefilled tok": stats["prefill_tokens"],
                     "same outputs": sum(a == b for a, b in zip(plain, out, strict=True))})  # fmt: skip
    rows[1]["speed-up"] = round(rows[0]["seconds"] / rows[1]["seconds"], 2)
    print(
        f"{args.shape} {args.dtype} on {args.device}: {args.streams} streams x {args.steps} steps, batch {args.batch}"
    )
    for r in rows:
        print("  " + ", ".join(f"{k} {v}" for k, v in r.items()))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
