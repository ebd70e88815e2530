"""Training throughput and memory on the CPU: full fine-tuning vs LoRA vs 4-bit LoRA, one base.

Each variant runs in its own child process (so peak RSS is its own): load the base, one warm-up step, then
``--steps`` timed optimizer steps of ``--batch`` x ``--seq`` tokens (random ids; speed does not depend on
them). Prints tokens/s, peak RSS and the ratio to full fine-tuning. Not a test: numbers depend on the machine
(and on whether the CPU has native bf16; see umi_lib/modeling.py). Run nothing else meanwhile.

Usage: python bench/train_throughput.py [--base smollm2-135m] [--seq 512] [--batch 2] [--steps 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

VARIANTS = ("full", "lora", "lora-4bit")


def one(base: str, variant: str, seq: int, batch: int, steps: int) -> dict:
    import torch

    from umi_lib.train.loading import load_base

    torch.manual_seed(0)
    model, tok, precision = load_base(base, "4bit" if variant == "lora-4bit" else "none", device="cpu")
    if variant != "full":
        from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

        if variant == "lora-4bit":
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
        cfg = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
        model = get_peft_model(model, cfg)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5)
    x = torch.randint(0, tok.vocab_size, (batch, seq))
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision.compute == "bf16")
    times = []
    for k in range(steps + 1):
        start = time.perf_counter()
        with autocast:
            loss = model(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        if k:  # the first step warms up kernels and allocations
            times.append(time.perf_counter() - start)
    return {
        "variant": variant,
        "tokens_per_s": batch * seq / (sum(times) / len(times)),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "trainable": sum(p.numel() for p in params),
        "compute": precision.compute,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="smollm2-135m")
    parser.add_argument("--seq", type=int, default=512)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one(args.base, args.child, args.seq, args.batch, args.steps)))
        return
    rows = []
    for variant in VARIANTS:
        cmd = [sys.executable, __file__, "--base", args.base, "--seq", str(args.seq), "--batch", str(args.batch),
               "--steps", str(args.steps), "--child", variant]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    full = rows[0]
    print(f"base {args.base}, batch {args.batch} x {args.seq} tokens, {args.steps} timed steps, "
          f"compute {full['compute']}")  # fmt: skip
    print(f"{'variant':10s} {'tokens/s':>9s} {'vs full':>8s} {'peak RSS MiB':>13s} {'vs full':>8s} {'trainable':>12s}")
    for r in rows:
        print(
            f"{r['variant']:10s} {r['tokens_per_s']:9.1f} {r['tokens_per_s'] / full['tokens_per_s']:8.2f} "
            f"{r['peak_rss_mib']:13.0f} {r['peak_rss_mib'] / full['peak_rss_mib']:8.2f} {r['trainable']:12,d}"
        )


if __name__ == "__main__":
    main()
