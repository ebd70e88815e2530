"""Model layer: precision per device, fit checks, clear errors, and the official token ids
(``docs/training.md#token-ids``)."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from conftest import TRAIN_EXAMPLE

from umi_lib.data.jsonio import load_json
from umi_lib.train import bases, loading


@pytest.fixture(scope="module")
def llama_tokenizer():
    """A LLaMA-style tokenizer (Metaspace BPE with byte fallback, BOS added, </s> special) trained on the data."""
    from tokenizers import Tokenizer, pre_tokenizers, trainers
    from tokenizers import models as tok_models
    from transformers import LlamaTokenizer

    text = [s["input"] + s["target"] for s in load_json(TRAIN_EXAMPLE / "train_planner.json")]
    t = Tokenizer(tok_models.BPE(unk_token="<unk>", byte_fallback=True))
    t.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    alphabet = [f"<0x{b:02X}>" for b in range(256)]
    trainer = trainers.BpeTrainer(
        vocab_size=800, special_tokens=["<unk>", "<s>", "</s>"], initial_alphabet=alphabet, show_progress=False
    )
    t.train_from_iterator(text, trainer)
    model = json.loads(t.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return LlamaTokenizer(vocab=model["vocab"], merges=merges, add_bos_token=True)


def test_official_llama_token_ids(llama_tokenizer):
    """encode("system: " + input) + encode(target + "</s>")[1:], the official preprocess, on real samples."""
    tok = llama_tokenizer
    for s in load_json(TRAIN_EXAMPLE / "train_planner.json")[:20]:
        enc = loading.encode_sample(s["input"], s["target"], tok, 100_000)
        official = tok.encode("system: " + s["input"]) + tok.encode(s["target"] + "</s>")[1:]
        assert enc.input_ids == official
        n_target = len(tok.encode(s["target"] + "</s>")) - 1
        assert enc.completion_mask == [0] * (len(official) - n_target) + [1] * n_target
        assert enc.input_ids[0] == tok.bos_token_id and enc.input_ids[-1] == tok.eos_token_id


def test_separator_maps_to_the_base_eos():
    class Tok:
        eos_token = "<|im_end|>"

    assert loading.map_separator("a</s>b</s>", Tok()) == "a<|im_end|>b<|im_end|>"
    tiny = bases.load_tokenizer("tiny-random")
    enc = loading.encode_sample("user: hi</s>", "Next: caller.", tiny, 10_000)
    assert enc.input_ids.count(tiny.eos_token_id) == 2  # the history's </s> and the end of the target


def test_left_truncation_keeps_the_target():
    tok = bases.load_tokenizer("tiny-random")
    full = loading.encode_sample("word " * 300, "Next: give up.", tok, 100_000)
    cut = loading.encode_sample("word " * 300, "Next: give up.", tok, 64)
    assert cut.truncated and len(cut.input_ids) == 64
    assert cut.input_ids == full.input_ids[-64:] and cut.completion_mask == full.completion_mask[-64:]


@pytest.mark.parametrize(
    ("cuda", "bf16", "cpu_bf16", "quant", "expected"),
    [
        (True, True, False, "auto", (True, "bf16")),  # Ampere+
        (True, False, False, "auto", (True, "fp16")),  # T4
        (True, True, False, "none", (False, "bf16")),
        (False, False, True, "auto", (False, "bf16")),  # AVX512-BF16 CPU
        (False, False, False, "auto", (False, "fp32")),  # AVX2 CPU
        (False, False, False, "4bit", (True, "fp32")),
    ],
)
def test_precision_follows_the_device(monkeypatch, cuda, bf16, cpu_bf16, quant, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    monkeypatch.setattr(loading, "cpu_has_bf16", lambda: cpu_bf16)
    p = loading.plan_precision(quant)
    assert (p.quantize_4bit, p.compute) == expected
    assert p.trainer_flags["use_cpu"] == (not cuda)


def test_nf4_config():
    cfg = loading.quantization_config(loading.Precision("cuda", True, "fp16", ""))
    assert cfg.bnb_4bit_quant_type == "nf4" and cfg.bnb_4bit_use_double_quant
    assert cfg.bnb_4bit_compute_dtype == torch.float16
    assert loading.quantization_config(loading.Precision("cpu", False, "fp32", "")) is None


def test_model_that_does_not_fit_is_a_clear_error():
    p = loading.Precision("cuda", True, "bf16", "")
    assert loading.check_fits(7_000_000_000, p, 16 * 2**30) < 14 * 2**30  # 7B in 4-bit fits a 16 GB T4
    with pytest.raises(bases.ModelError, match=r"7\.00B parameters.*only 2\.0 GiB"):
        loading.check_fits(7_000_000_000, p, 2 * 2**30, "llama-7b")
    assert loading.count_parameters(bases.resolve_base("tiny-random")) == 213_312


def test_unknown_base_offline_is_a_clear_error():
    with pytest.raises(bases.ModelError, match="unknown base 'org/missing'"):
        bases.resolve_base("org/missing")
    with pytest.raises(bases.ModelError, match="quantization must be one of"):
        loading.plan_precision("8bit")


def test_missing_gguf_package_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "gguf", None)  # import gguf -> ImportError
    with pytest.raises(bases.ModelError, match="needs the `gguf` package"):
        bases.smollm2_from_wheel(tmp_path / "smollm2")


def test_tiny_random_is_a_loadable_llama():
    model, tok, precision = loading.load_base("tiny-random", "none", device="cpu")
    assert model.config.model_type == "llama" and model.config.hidden_size == 64
    assert precision.device == "cpu" and tok.pad_token is not None
    out = model(input_ids=torch.tensor([[tok.bos_token_id, 5, 6]]))
    assert out.logits.shape == (1, 3, bases.TINY_VOCAB)
