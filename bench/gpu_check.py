"""GPU check for a lent H100/H200 (or any CUDA GPU): QLoRA memory and speed at paper shape.

1. A Llama-2-7B-shaped model (hidden 4096, 32 layers, 32 heads, intermediate 11008, vocab 32000) with
   random weights, saved once and reloaded in 4-bit NF4 + double quant (bf16 compute), LoRA r=16 on all
   linear layers, gradient checkpointing, batch 1 x 4096 tokens: peak GPU memory (goal < 14 GiB, so it
   fits a 16 GB T4) and tokens/s.
2. The SmolLM2-135M shape in bf16 (no quantization), same sequence: peak memory and tokens/s.

No network is needed: weights are random (speed and memory do not depend on them). ``--shape tiny
--device cpu`` runs the same code on a 2-layer model on the CPU to check the script itself.
Usage: python bench/gpu_check.py [--steps 3] [--seq 4096] [--shape llama7b,smollm2] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

SHAPES = {
    "llama7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                    num_key_value_heads=32, vocab_size=32000),
    "smollm2": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                    num_key_value_heads=3, vocab_size=49152, tie_word_embeddings=True),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=4, vocab_size=1024),
}  # fmt: skip
QUANTIZED = {"llama7b": True, "smollm2": False, "tiny": True}


def run_shape(name: str, seq: int, steps: int, device: str) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig, LlamaConfig

    cfg = LlamaConfig(**SHAPES[name], max_position_embeddings=max(4096, seq))
    quantize = QUANTIZED[name]
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16).save_pretrained(tmp)
        if device == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        kwargs = {"dtype": torch.bfloat16, "device_map": {"": 0} if device == "cuda" else "cpu"}
        if quantize:
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=torch.bfloat16,
            )  # fmt: skip
        model = AutoModelForCausalLM.from_pretrained(tmp, **kwargs)
    if quantize:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
    else:
        model.gradient_checkpointing_enable()
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    x = torch.randint(0, cfg.vocab_size, (1, seq), device=device)
    times = []
    for k in range(steps + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast(device, dtype=torch.bfloat16):
            loss = model(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        if k:
            times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
    return {"shape": name, "4bit": quantize, "seq": seq, "tokens_per_s": seq / (sum(times) / len(times)),
            "peak_gib": peak}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--seq", type=int, default=4096)
    parser.add_argument("--shape", default="llama7b,smollm2")
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    rows = [run_shape(s, args.seq, args.steps, args.device) for s in args.shape.split(",")]
    print(f"{'shape':8s} {'4-bit':>5s} {'seq':>5s} {'tokens/s':>9s} {'peak GiB':>9s}  goal")
    for r in rows:
        goal = "< 14 GiB (T4)" if r["4bit"] else ""
        print(f"{r['shape']:8s} {r['4bit']!s:>5s} {r['seq']:5d} {r['tokens_per_s']:9.1f} {r['peak_gib']:9.2f}  {goal}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
