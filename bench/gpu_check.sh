#!/usr/bin/env bash
# One call on a lent GPU machine (no internet there): install from wheels carried with the working tree,
# then run bench/gpu_check.py and print its table, then bench/prefix_reuse_check.py (the transformers backend's
# prefix reuse on the GPU).
#
# Prepare here (with internet), then carry `wheels/` (ignored by git) in the device call:
#   pip download -d wheels "transformers>=5.24,<6" "peft>=0.21,<0.22" "bitsandbytes>=0.50" "accelerate>=1.15,<2" \
#       safetensors tokenizers pyyaml tqdm numpy --only-binary=:all:
#   run(command="bash bench/gpu_check.sh", carry=["wheels"], timeout_s=540)
# The machine's preinstalled CUDA torch is used as is (never reinstalled).
set -euo pipefail
cd "$(dirname "$0")/.."
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU'; print(torch.__version__, torch.cuda.get_device_name(0))"
if [ -d wheels ]; then
  python -m pip install -q --no-index --find-links wheels transformers peft bitsandbytes accelerate safetensors
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python bench/gpu_check.py --steps 3 --seq 4096 --shape llama7b,smollm2
# Prefix reuse on the GPU (random SmolLM2-shaped weights, synthetic trajectories): plain padded batches against
# one-prompt prefill with reuse + batched decoding, bf16; prints the speed-up and how many outputs agree.
PYTHONPATH=. python bench/prefix_reuse_check.py --shape smollm2 --device cuda --dtype bf16
