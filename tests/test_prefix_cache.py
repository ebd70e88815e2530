"""Prefix reuse gives the outputs of a full prefill (tiny model, fp32), also after left truncation and across
adapters; the cache is cut, capped and released as documented; agents and drivers hand streams to the backend."""

from __future__ import annotations

import pytest
import torch

from umi_lib.agent.agents import GenParams, MultiLLMAgent, stream_of
from umi_lib.agent.backends import AdapterBackend
from umi_lib.agent.prefix_cache import PrefixCache, common_prefix, supports_reuse


@pytest.fixture(scope="module")
def tiny():
    """tiny-random with a scaled output layer (greedy choices are not float ties) and two random LoRA adapters."""
    from peft import LoraConfig, get_peft_model

    from umi_lib.train.loading import load_base

    model, tok, _ = load_base("tiny-random", "none", device="cpu")
    with torch.no_grad():
        model.lm_head.weight.mul_(200.0)
    config = dict(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj"], init_lora_weights=False)
    torch.manual_seed(0)
    model = get_peft_model(model, LoraConfig(**config), adapter_name="planner")
    model.add_adapter("caller", LoraConfig(**config))
    return model, tok


def trajectories(n: int = 3, steps: int = 4) -> tuple[list[str], list[int]]:
    """Prompts that grow step by step per trajectory, with a tail that differs (as the role templates do)."""
    prompts, streams = [], []
    for t in range(n):
        history = f"system: tools A B C</s>user: query {t} about cats</s>"
        for s in range(steps):
            history += f"assistant: step {s} " + "word " * (2 * s + t) + "</s>"
            prompts.append(history + f"tail of step {s}")
            streams.append(t)
    return prompts, streams


def backends(model, tok, batch_size: int, max_input_tokens: int = 3750):
    adapters = {"planner": "planner", "caller": "caller"}
    full = AdapterBackend(model, tok, adapters, batch_size, max_input_tokens, progress=False)
    reuse = AdapterBackend(model, tok, adapters, batch_size, max_input_tokens, progress=False, prefix_reuse=True)
    return full, reuse


@pytest.mark.parametrize("batch_size", [1, 3])
def test_reuse_gives_the_outputs_of_a_full_prefill(tiny, batch_size):
    model, tok = tiny
    prompts, streams = trajectories()
    prompts.append("x")  # a one-token prompt: nothing to prefill before generate
    streams.append(7)
    params = GenParams(max_new_tokens=10)
    full, reuse = backends(model, tok, batch_size)
    expected = full.generate("planner", prompts, params, streams)
    assert reuse.generate("planner", prompts, params, streams) == expected
    s = reuse.stats
    assert s["prompts"] == len(prompts) and s["prompt_tokens"] == full.stats["prompt_tokens"]
    assert s["reused_tokens"] > s["prompt_tokens"] / 3  # later steps share most of their prompt
    assert s["prefill_tokens"] + s["reused_tokens"] == s["prompt_tokens"]
    assert full.stats["reused_tokens"] == 0 and full.stats["prefill_tokens"] >= full.stats["prompt_tokens"]


def test_each_role_keeps_its_own_cache(tiny):
    """Roles on different adapters compute different keys and values for the same tokens: sharing a cache
    between them would change the outputs."""
    model, tok = tiny
    prompts, streams = trajectories(2, 3)
    params = GenParams(max_new_tokens=8)
    full, reuse = backends(model, tok, 2)
    for role in ("planner", "caller", "planner", "caller"):
        assert reuse.generate(role, prompts, params, streams) == full.generate(role, prompts, params, streams)
    assert {key[0] for key in reuse.cache.entries} == {"planner", "caller"}


def test_left_truncation_shifts_the_prefix_and_is_counted(tiny):
    model, tok = tiny
    prompts, streams = trajectories(2, 5)
    params = GenParams(max_new_tokens=8)
    budget = sorted(len(tok(p.replace("</s>", tok.eos_token))["input_ids"]) for p in prompts)[len(prompts) // 2]
    full, reuse = backends(model, tok, 2, max_input_tokens=budget)
    assert reuse.generate("planner", prompts, params, streams) == full.generate("planner", prompts, params, streams)
    s = reuse.stats
    assert s["truncated"] > 0 and s["reuse_lost_to_truncation"] > 0
    assert s["reuse_lost_to_truncation"] <= s["truncated"]
    assert s["reused_tokens"] > 0  # the uncut early steps still reuse


def test_sampling_with_reuse_is_seeded(tiny):
    model, tok = tiny
    prompts, streams = trajectories(2, 2)
    params = GenParams(max_new_tokens=6, do_sample=True, temperature=5.0, seed=5)  # hot: the peaked logits spread

    def run(p: GenParams) -> list[str]:
        return backends(model, tok, 2)[1].generate("planner", prompts, p, streams)

    first = run(params)
    assert run(params) == first
    assert run(GenParams(max_new_tokens=6, do_sample=True, temperature=5.0, seed=6)) != first
    assert run(GenParams(max_new_tokens=6)) != first  # sampling really samples


def test_a_checkpoint_that_names_its_cache_kind_still_reuses(tiny):
    """generate refuses a ``cache_implementation`` next to a given cache; the backend lifts it for that call."""
    model, tok = tiny
    prompts, streams = trajectories(2, 2)
    params = GenParams(max_new_tokens=6)
    full, reuse = backends(model, tok, 2)
    expected = full.generate("planner", prompts, params, streams)
    model.generation_config.cache_implementation = "dynamic"
    try:
        assert reuse.generate("planner", prompts, params, streams) == expected
        assert reuse.stats["reused_tokens"] > 0 and model.generation_config.cache_implementation == "dynamic"
    finally:
        model.generation_config.cache_implementation = None


def test_an_empty_prompt_is_a_clear_error(tiny):
    model, tok = tiny
    with pytest.raises(ValueError, match="prompt 1 of 2 for planner has no tokens"):
        backends(model, tok, 2)[1].generate("planner", ["x", ""], GenParams(max_new_tokens=2), [0, 1])


def test_a_model_whose_cache_cannot_be_cut_prefills_whole_and_says_so(tiny, monkeypatch, capsys):
    from umi_lib.agent import backends as b

    model, tok = tiny
    prompts, streams = trajectories(2, 2)
    params = GenParams(max_new_tokens=6)
    full, reuse = backends(model, tok, 2)
    monkeypatch.setattr(b, "supports_reuse", lambda model: False)
    assert reuse.settings()["prefix_reuse"] is False  # manifests record what really runs
    assert "prefix reuse is off" in capsys.readouterr().out
    assert reuse.generate("planner", prompts, params, streams) == full.generate("planner", prompts, params, streams)
    assert reuse.stats["reused_tokens"] == 0 and reuse.cache is None


def test_prompts_without_a_stream_reuse_nothing(tiny):
    model, tok = tiny
    prompts, _ = trajectories(1, 3)
    _, reuse = backends(model, tok, 2)
    reuse.generate("planner", prompts, GenParams(max_new_tokens=4), [None] * len(prompts))
    assert reuse.stats["reused_tokens"] == 0 and not reuse.cache.entries


def test_common_prefix():
    assert common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2
    assert common_prefix([1, 2], [1, 2, 3]) == 2
    assert common_prefix([], [1]) == 0 and common_prefix([9], [1]) == 0


def _layers(n: int):
    return [(torch.arange(n, dtype=torch.float32).view(1, 1, n, 1), torch.zeros(1, 1, n, 1))]


def test_cache_cuts_to_the_common_prefix_caps_and_releases():
    cache = PrefixCache(max_tokens=10)
    cache.put(("planner", "a"), [1, 2, 3, 4], _layers(4))
    n, layers = cache.take(("planner", "a"), [1, 2, 9])
    assert n == 2 and layers[0][0].flatten().tolist() == [0.0, 1.0]
    assert cache.take(("caller", "a"), [1, 2, 3]) == (0, None)  # another role: nothing
    assert cache.take(("planner", "a"), [5]) == (0, None)
    cache.put(("caller", "a"), [1, 2, 3], _layers(3))
    cache.put(("planner", "b"), [1, 2, 3, 4, 5], _layers(5))  # 12 tokens > 10: the least recently used goes
    assert list(cache.entries) == [("caller", "a"), ("planner", "b")] and cache.tokens() == 8
    cache.put(("planner", "c"), list(range(11)), _layers(11))  # alone over the cap: never held
    assert ("planner", "c") not in cache
    cache.release(["a"])
    assert list(cache.entries) == [("planner", "b")]
    cache.release()
    assert cache.tokens() == 0


def test_only_plain_growing_caches_are_reused(tiny):
    from transformers import LlamaConfig, MistralConfig

    assert supports_reuse(tiny[0])

    class Stub:
        def __init__(self, config):
            self.config = config

    tiny_config = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                       num_key_value_heads=1, vocab_size=32)  # fmt: skip
    assert supports_reuse(Stub(LlamaConfig(**tiny_config)))
    assert not supports_reuse(Stub(MistralConfig(**tiny_config, sliding_window=8)))


class Recording:
    """A backend that records the streams it is given and the streams released."""

    def __init__(self):
        self.streams, self.released = {}, []

    def generate(self, role, prompts, params, streams=None):
        self.streams.setdefault(role, []).extend(streams)
        return ["t Next: caller." if role == "planner" else "Action: search\nAction Input: {}" for _ in prompts]

    def release(self, streams=None):
        self.released.append(None if streams is None else sorted(streams))


def test_agents_pass_each_steps_stream():
    steps = [{"tools": [], "history": "user: hi</s>", "input": "p", "trajectory": t, "step": s}
             for t in ("a", "b") for s in range(2)]  # fmt: skip
    backend = Recording()
    MultiLLMAgent(backend).predict(steps)
    assert backend.streams == {"planner": ["a", "a", "b", "b"], "caller": ["a", "a", "b", "b"]}
    assert stream_of({"stream": 3, "trajectory": "x"}) == 3 and stream_of({"task": "t"}) == "t"
    assert stream_of({"input": "p"}) is None


def test_static_evaluation_releases_each_trajectory_after_its_last_chunk(tmp_path):
    from umi_lib.evaluation.static import run_static

    reference = "assistant: t Next: caller.</s>caller: Action: search\nAction Input: {}</s>"
    steps = [{"tools": [], "history": "user: hi</s>", "input": "p", "trajectory": t, "step": s,
              "reference": reference} for t in ("a", "b", "c") for s in range(2)]  # fmt: skip
    backend = Recording()
    run_static(MultiLLMAgent(backend), steps, "x", tmp_path, tmp_path, chunk_size=3, resamples=10, progress=False)
    assert backend.released == [["a"], ["b", "c"], None]  # b's second step is in the second chunk; then all


def test_a_crashed_run_releases_every_cached_prefix(tmp_path):
    from umi_lib.evaluation.static import run_static

    class Crashing(Recording):
        def generate(self, role, prompts, params, streams=None):
            raise RuntimeError("out of memory")

    backend = Crashing()
    steps = [{"tools": [], "history": "h", "input": "p", "trajectory": "a", "step": 0, "reference": "r"}]
    with pytest.raises(RuntimeError):
        run_static(MultiLLMAgent(backend), steps, "x", tmp_path, tmp_path, resamples=10, progress=False)
    assert backend.released == [None]


def test_rollouts_release_a_query_when_its_search_ends():
    from umi_lib.realtime import dispatch
    from umi_lib.realtime.search import Budget, rollout

    env = dispatch.load_env()
    backend = Recording()
    rollout(MultiLLMAgent(backend), env, env.catalog.select()[:2], "react", Budget(max_depth=2), progress=False)
    assert sorted(x for r in backend.released for x in r) == [0, 1]  # each query once, when its search ended
    assert set(backend.streams["planner"]) == {0, 1}
