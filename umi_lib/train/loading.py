"""Loading a base for training or generation, and turning α-UMi samples into token ids for it.

**Precision and quantization** follow the device (:func:`plan_precision`):

| device | ``quantization: auto`` | weights | compute |
|---|---|---|---|
| CUDA, bf16-capable (Ampere+) | 4-bit NF4 + double quant | 4-bit | bf16 |
| CUDA without bf16 (T4) | 4-bit NF4 + double quant | 4-bit | fp16 |
| CPU with AVX512-BF16 / AMX | none | fp32 | bf16 autocast |
| CPU without (AVX2 only) | none | fp32 | fp32 (bf16 is emulated there: ~25x slower, measured) |

``quantization: 4bit`` forces NF4 on CPU too (bitsandbytes 0.50 CPU backend); ``none`` never quantizes.

**Token ids** (:func:`encode_sample`, ``docs/training.md#token-ids``). The data keeps the official text, with a
literal ``</s>`` ending every history turn. The model layer maps it:

* every literal ``</s>`` in the prompt and the target becomes the base tokenizer's EOS token text
  (``</s>`` for LLaMA and tiny-random, ``<|im_end|>`` for SmolLM2), so it is one special token, as in
  the official LLaMA setup;
* prompt ids = ``tok("system: " + input)`` with the tokenizer's own special tokens (BOS for LLaMA);
* target ids = ``tok(target, add_special_tokens=False) + [eos_id]``, appended at token level (not a
  string concatenation: the prompt ends with a space), loss on the target ids only;
* longer than ``max_length``: the official left truncation (the last ``max_length`` ids are kept).

For a LLaMA base with the official (SentencePiece) tokenizer these are exactly the official ids:
``tok.encode("system: " + input) + tok.encode(target + "</s>")[1:]`` (a test checks it on a SentencePiece
Llama tokenizer trained on the bundled data).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from umi_lib import prompts
from umi_lib.train.bases import ModelError, load_tokenizer, resolve_base

QUANTIZATIONS = ("auto", "none", "4bit")


@lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """True when the CPU runs bf16 matmuls natively (AVX512-BF16 or AMX); read from /proc/cpuinfo."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


@dataclass(frozen=True)
class Precision:
    """How a base is loaded and trained on this device."""

    device: str  # "cuda" or "cpu"
    quantize_4bit: bool
    compute: str  # "bf16", "fp16" or "fp32": autocast / bnb compute dtype
    reason: str  # one line for notebooks and logs

    @property
    def trainer_flags(self) -> dict[str, bool]:
        """``TrainingArguments`` mixed-precision flags."""
        return {"bf16": self.compute == "bf16", "fp16": self.compute == "fp16", "use_cpu": self.device == "cpu"}


def plan_precision(quantization: str = "auto", device: str | None = None) -> Precision:
    """Pick 4-bit / dtype for ``device`` (default: CUDA if available) following the module table."""
    import torch

    if quantization not in QUANTIZATIONS:
        raise ModelError(f"quantization must be one of {', '.join(QUANTIZATIONS)}, got {quantization!r}")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda":
        compute = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        q = quantization != "none"
        return Precision("cuda", q, compute, f"CUDA, {compute} compute" + (", 4-bit NF4" if q else ""))
    compute = "bf16" if cpu_has_bf16() else "fp32"
    why = "CPU with native bf16" if compute == "bf16" else "CPU without native bf16 (fp32 is faster)"
    return Precision("cpu", quantization == "4bit", compute, why + (", 4-bit NF4" if quantization == "4bit" else ""))


def _torch_dtype(name: str):
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[name]


def quantization_config(precision: Precision):
    """The bitsandbytes NF4 + double-quant config of ``precision`` (None when not quantizing)."""
    if not precision.quantize_4bit:
        return None
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as exc:
        raise ModelError("4-bit loading needs bitsandbytes: pip install 'umi-workbook[gpu]'") from exc
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=_torch_dtype(precision.compute),
    )


def count_parameters(path: str) -> int:
    """Parameter count of a base from its config alone (meta device: nothing is allocated)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(path)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters())


def available_bytes(device: str) -> int | None:
    """Free memory on ``device`` (CUDA: free GPU memory; CPU: available RAM), None if unknown."""
    import torch

    if device == "cuda":
        return torch.cuda.mem_get_info()[0]
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(n_params: int, precision: Precision, device_bytes: int | None, name: str = "model") -> int:
    """Weights' size in bytes under ``precision``; a ModelError when they cannot fit ``device_bytes``."""
    per_param = 0.5 + 0.06 if precision.quantize_4bit else (2 if precision.device == "cuda" else 4)
    need = int(n_params * per_param)
    if device_bytes is not None and need > device_bytes:
        raise ModelError(
            f"{name} has {n_params / 1e9:.2f}B parameters: about {need / 2**30:.1f} GiB of weights on "
            f"{precision.device}, but only {device_bytes / 2**30:.1f} GiB are free. Use a smaller base, "
            "quantization: 4bit, or a bigger machine (see the profiles in the README)."
        )
    return need


def load_base(name: str, quantization: str = "auto", device: str | None = None):
    """Model and tokenizer of base ``name`` with the device's precision; pad token set if missing."""
    from transformers import AutoModelForCausalLM

    from umi_lib.progress import quiet_known_noise, quiet_third_party

    quiet_third_party()
    quiet_known_noise()
    path = resolve_base(name)
    precision = plan_precision(quantization, device)
    check_fits(count_parameters(path), precision, available_bytes(precision.device), name)
    tok = load_tokenizer(name)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    kwargs: dict[str, Any] = {"quantization_config": quantization_config(precision)}
    if precision.quantize_4bit:
        kwargs["device_map"] = {"": 0} if precision.device == "cuda" else "cpu"
        kwargs["dtype"] = _torch_dtype(precision.compute) if precision.device == "cuda" else None
    else:
        # CUDA: weights in the compute dtype; CPU: fp32 master weights (autocast does the bf16 part)
        kwargs["dtype"] = _torch_dtype(precision.compute if precision.device == "cuda" else "fp32")
    model = AutoModelForCausalLM.from_pretrained(path, **{k: v for k, v in kwargs.items() if v is not None})
    if precision.device == "cuda" and not precision.quantize_4bit:
        model = model.to("cuda")
    return model, tok, precision


def map_separator(text: str, tok) -> str:
    """Replace the data's literal ``</s>`` by the tokenizer's EOS text (identity for LLaMA)."""
    eos = tok.eos_token
    if eos is None:
        raise ModelError("the tokenizer has no EOS token; the </s> separator cannot be mapped")
    return text if eos == prompts.EOS else text.replace(prompts.EOS, eos)


@dataclass
class Encoded:
    """Token ids of one training sample and which of them carry the loss."""

    input_ids: list[int]
    completion_mask: list[int]
    truncated: bool


def encode_sample(prompt: str, target: str, tok, max_length: int) -> Encoded:
    """``"system: " + prompt`` then ``target + EOS`` at token level; left-truncated to ``max_length``."""
    prompt_ids = tok(map_separator(prompts.TRAINING_SYSTEM_PREFIX + prompt, tok))["input_ids"]
    target_ids = tok(map_separator(target, tok), add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    ids = prompt_ids + target_ids
    mask = [0] * len(prompt_ids) + [1] * len(target_ids)
    truncated = len(ids) > max_length
    if truncated:
        ids, mask = ids[-max_length:], mask[-max_length:]
    return Encoded(ids, mask, truncated)
