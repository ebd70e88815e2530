"""Agent routing and output assembly, backends, batched = sequential decoding, resumable static evaluation."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import JsonHandler, running

from umi_lib import prompts as P
from umi_lib.agent.agents import GenParams, MultiLLMAgent, SingleLLMAgent, clean_output
from umi_lib.agent.backends import AdapterBackend, ModelPerRoleBackend, OpenAIBackend
from umi_lib.evaluation.metrics import parse_output
from umi_lib.evaluation.static import run_static, select_steps

TOOLS = [{"Name": "search", "function": "find things", "input": {}}]


def _step(k: int, history: str = "user: find a cat</s>") -> dict:
    reference = "assistant: t Next: caller.</s>caller: Action: search\nAction Input: {}</s>"
    prompt = P.fill("planner", TOOLS, history)
    return {
        "tools": TOOLS,
        "history": history,
        "input": prompt,
        "trajectory": k // 2,
        "step": k % 2,
        "reference": reference,
    }


class Scripted:
    """A backend that answers from a per-role script and records the prompts it saw."""

    def __init__(self, script: dict[str, list[str]]):
        self.script, self.seen = {r: list(v) for r, v in script.items()}, {}

    def generate(self, role, prompts, params, streams=None):
        self.seen.setdefault(role, []).extend(prompts)
        return [self.script[role].pop(0) for _ in prompts]


def test_routing_and_official_output_format():
    backend = Scripted(
        {
            "planner": ["I give up. Next: give up. extra", "Done. Next: conclusion. junk", "Search. Next: caller. x",
                        "no label here"],
            "caller": ["Action: search\nAction Input: {}", "Action: search\nAction Input: {\"q\": 1}"],
            "summarizer": ["The cat is here."],
        }
    )  # fmt: skip
    agent = MultiLLMAgent(backend)
    preds = agent.predict([_step(k) for k in range(4)])
    assert preds[0] == "I give up. Next: give up."
    assert preds[1] == "asssitant: Done. Next: conclusion.</s>conclusion: The cat is here."
    assert preds[2] == "asssitant: Search. Next: caller.</s>caller: Action: search\nAction Input: {}"
    assert preds[3].startswith("asssitant: no label hereNext: caller.</s>caller: ")  # official: no space
    assert agent.counts["planner_without_label"] == 1 and agent.counts["give up"] == 1
    # the caller sees the thought and the step written as the trained role name, then its suffix
    caller_prompt = backend.seen["caller"][0]
    assert "user: find a cat</s>assistant: Search. Next: caller.</s>" in caller_prompt
    assert (
        caller_prompt.endswith(P.SUFFIX_CALLER)
        and "The thought of this step is:\nSearch. Next: caller." in caller_prompt
    )
    assert backend.seen["summarizer"][0].endswith("assistant: Done. Next: conclusion.</s> conclusion: ")
    assert [parse_output(p).plan for p in preds] == ["give up", "finish", "call", "call"]


def test_official_role_name_option():
    backend = Scripted({"planner": ["a Next: caller."], "caller": ["Action: search"]})
    MultiLLMAgent(backend, official_role_name=True).predict([_step(0)])
    assert "planner: a Next: caller.</s>" in backend.seen["caller"][0]


def test_unparseable_outputs_become_scored_predictions():
    from umi_lib.evaluation.metrics import score_step

    garbage = ["", "\x00}{", "Next: caller", "conclusion:"]
    backend = Scripted({"planner": garbage, "caller": ["none"] * 4, "summarizer": ["x"] * 4})
    agent = MultiLLMAgent(backend)
    preds = agent.predict([_step(k) for k in range(4)])
    for p in preds:
        s = score_step(_step(0)["reference"], p, ["search"])
        assert s.values["action_em"] == 0.0
    assert agent.counts["caller_without_action"] == 4


@pytest.mark.parametrize(
    ("output", "plan", "action", "answer"),
    [
        ("I search.\nAction: search\nAction Input: {}", "call", "search", None),
        ("Found it.\nconclusion: a cat", "finish", None, "a cat"),
        ("Hopeless.\nconclusion: give up.", "give up", None, None),
        ("just words", "call", "none", None),
    ],
)
def test_single_llm_output_parsing(output, plan, action, answer):
    agent = SingleLLMAgent(Scripted({"backbone": [output]}))
    (pred,) = agent.predict([_step(0)])
    parsed = parse_output(pred)
    assert (parsed.plan, parsed.action, parsed.answer) == (plan, action, answer)


def test_clean_output_follows_the_official_post_processing():
    assert clean_output(": hello") == "hello"
    assert clean_output(" . ") == "none" and clean_output("") == "none"
    assert clean_output("a STOP b", ("STOP",)) == "a "


@pytest.fixture(scope="module")
def peaked_tiny():
    """tiny-random with a scaled output layer: logits far apart, so greedy choices are not float ties."""
    from umi_lib.train.loading import load_base

    model, tok, _ = load_base("tiny-random", "none", device="cpu")
    with torch.no_grad():
        model.lm_head.weight.mul_(200.0)
    return model, tok


def test_batched_equals_one_at_a_time(peaked_tiny):
    model, tok = peaked_tiny
    prompts = [f"user: item {k} " + "word " * (3 * k) + "</s>" for k in range(10)]
    params = GenParams(max_new_tokens=12)
    one = AdapterBackend(model, tok, {"planner": None}, batch_size=1, progress=False)
    many = AdapterBackend(model, tok, {"planner": None}, batch_size=4, progress=False)
    assert many.generate("planner", prompts, params) == one.generate("planner", prompts, params)


def test_model_per_role_backend_loads_each_role_once(monkeypatch):
    from umi_lib.train import loading

    calls = []
    real = loading.load_base
    monkeypatch.setattr(
        loading, "load_base", lambda name, q="auto", device=None: calls.append(name) or real(name, "none", "cpu")
    )
    backend = ModelPerRoleBackend(dict.fromkeys(("planner", "caller", "summarizer"), "tiny-random"), progress=False)
    agent = MultiLLMAgent(backend, {r: GenParams(max_new_tokens=4) for r in ("planner", "caller", "summarizer")})
    preds = agent.predict([_step(k) for k in range(3)])
    used = 1 + (agent.counts["caller"] > 0) + (agent.counts["summarizer"] > 0)
    assert len(preds) == 3 and len(calls) == used  # one load per role phase, not per prompt


def test_select_steps_keeps_whole_trajectories():
    steps = [{"trajectory": t, "step": s} for t in range(10) for s in range(4)]
    picked = select_steps(steps, limit=6, per_trajectory=2, seed=1)
    assert len(picked) == 6 and len({s["trajectory"] for s in picked}) == 3
    assert picked == select_steps(steps, limit=6, per_trajectory=2, seed=1)
    assert len(select_steps(steps)) == 40
    for t in {s["trajectory"] for s in picked}:  # the kept steps of a trajectory stay in order
        kept = [s["step"] for s in picked if s["trajectory"] == t]
        assert kept == sorted(kept) and len(kept) == 2


class Flaky(MultiLLMAgent):
    """Dies on its second chunk the first time (a crash mid-run), counts chunks predicted."""

    crashed = False
    chunks = 0

    def predict(self, steps):
        if Flaky.chunks == 1 and not Flaky.crashed:
            Flaky.crashed = True
            raise RuntimeError("killed")
        Flaky.chunks += 1
        return ["x Next: give up."] * len(steps)


def test_static_run_resumes_after_a_crash(tmp_path):
    steps = [_step(k) for k in range(10)]
    with pytest.raises(RuntimeError):
        run_static(
            Flaky(Scripted({})), steps, "flaky", tmp_path, tmp_path / "m", chunk_size=4, resamples=0, progress=False
        )
    assert (tmp_path / "flaky.partial.jsonl").read_text().count("\n") == 1  # chunk 0 kept
    run = run_static(Flaky(Scripted({})), steps, "flaky", tmp_path, tmp_path / "m", chunk_size=4, resamples=0,
                     progress=False)  # fmt: skip
    assert Flaky.chunks == 3  # chunk 0 once, then chunks 1 and 2 after the restart
    assert run.metrics["steps"]["total"] == 10 and not (tmp_path / "flaky.partial.jsonl").exists()
    assert json.loads((tmp_path / "flaky.meta.json").read_text())["steps"] == 10


class _Completions(JsonHandler):
    def answer(self, body):
        if "fail" in body["prompt"]:
            return 500, {}
        text = "Search. Next: caller." if body["prompt"].endswith(P.SUFFIX_ASSISTANT) else "Action: search"
        return 200, {"choices": [{"text": text}], "echo_temperature": body["temperature"]}


def test_openai_compatible_endpoint():
    with running(_Completions) as url:
        backend = OpenAIBackend(url, "m", timeout=5)
        agent = MultiLLMAgent(backend)
        (pred,) = agent.predict([_step(0)])
        assert pred == "asssitant: Search. Next: caller.</s>caller: Action: search"
        assert backend.generate("planner", ["please fail"], GenParams()) == ["none"]
        assert backend.errors == {"HttpError": 1}  # after the shared client's retries


def test_cli_static_eval_of_the_base(tmp_path, monkeypatch, capsys):
    from umi_lib.cli import main

    monkeypatch.setenv("UMI_RUNS", str(tmp_path))
    assert main(["eval", "static", "--profile", "smoke", "--system", "base", "--limit", "3"]) == 0
    preds = json.loads((tmp_path / "smoke" / "predictions" / "static_base.json").read_text())
    assert len(preds) == 3 and all(set(p) >= {"reference", "predictions", "tools", "trajectory"} for p in preds)
    metrics = json.loads((tmp_path / "smoke" / "metrics" / "static_base.json").read_text())
    assert metrics["steps"]["total"] == 3
    meta = json.loads((tmp_path / "smoke" / "predictions" / "static_base.meta.json").read_text())
    assert meta["limit"] == 3 and meta["decoding"] == "greedy"
    tally = meta["prefill"]  # the smoke profile reuses prefixes: tokens computed + reused = prompt tokens
    assert tally["prompts"] >= 3 and tally["prefill_tokens"] + tally["reused_tokens"] == tally["prompt_tokens"]
    assert f"prefill: {tally['prefill_tokens']} of {tally['prompt_tokens']} prompt tokens" in capsys.readouterr().out
    assert main(["eval", "static", "--profile", "smoke", "--endpoint", "http://127.0.0.1:9"]) == 2
    assert "--endpoint needs --model" in capsys.readouterr().err


def test_cli_released_models_path(tmp_path, monkeypatch):
    """--released runs one full model per role; here each role is a local tiny Llama instead of the 7B repos."""
    from umi_lib.cli import main

    monkeypatch.setenv("UMI_RUNS", str(tmp_path))
    from umi_lib.agent import backends

    monkeypatch.setattr(backends, "RELEASED", dict.fromkeys(("planner", "caller", "summarizer"), "tiny-random"))
    assert main(["eval", "static", "--profile", "smoke", "--released", "--limit", "2"]) == 0
    meta = json.loads((tmp_path / "smoke" / "predictions" / "static_released.meta.json").read_text())
    assert meta["models"]["planner"] == "tiny-random" and meta["steps"] == 2


# ---------------------------------------------------------------------------------------------------
# vLLM backend: the real package needs CUDA, so these tests drive our code against a recording fake of
# the three vLLM names it uses (LLM, SamplingParams, LoRARequest) and check what it would ask vLLM for.
# ---------------------------------------------------------------------------------------------------


def _fake_vllm(monkeypatch, tokenizer):
    import sys
    import types

    calls = {}

    class SamplingParams:
        def __init__(self, **kw):
            self.kw = kw

    class LoRARequest:
        def __init__(self, name, int_id, path):
            self.name, self.int_id, self.path = name, int_id, path

    class LLM:
        def __init__(self, **kw):
            calls["engine"] = kw

        def get_tokenizer(self):
            return tokenizer

        def generate(self, requests, sampling, lora_request=None, use_tqdm=True):
            calls.setdefault("generate", []).append((requests, sampling, lora_request))
            out = types.SimpleNamespace
            return [out(outputs=[out(text=": reply</s>junk")]) for _ in requests]

    vllm = types.ModuleType("vllm")
    vllm.LLM, vllm.SamplingParams = LLM, SamplingParams
    lora = types.ModuleType("vllm.lora")
    request = types.ModuleType("vllm.lora.request")
    request.LoRARequest = LoRARequest
    for name, mod in (("vllm", vllm), ("vllm.lora", lora), ("vllm.lora.request", request)):
        monkeypatch.setitem(sys.modules, name, mod)
    return calls


def test_vllm_backend_requests_one_lora_per_role_and_truncates_left(monkeypatch, peaked_tiny):
    from umi_lib.agent.backends import VLLMBackend

    tiny_tokenizer = peaked_tiny[1]

    calls = _fake_vllm(monkeypatch, tiny_tokenizer)
    adapters = {"planner": "/a/planner", "caller": "/a/caller", "summarizer": None}
    backend = VLLMBackend("base-path", adapters, max_input_tokens=5, max_lora_rank=8)
    long_prompt = "user: find a cat</s>assistant: " * 5
    out = backend.generate("caller", [long_prompt, "x"], GenParams(max_new_tokens=7, stop=("</s>",)))
    assert out == ["reply", "reply"]  # leading ": " stripped, cut at the stop string
    assert calls["engine"] == {"model": "base-path", "enable_lora": True, "max_lora_rank": 8, "max_loras": 2}
    requests, sampling, lora = calls["generate"][0]
    full = tiny_tokenizer(long_prompt.replace("</s>", tiny_tokenizer.eos_token))["input_ids"]
    assert requests[0]["prompt_token_ids"] == full[-5:]
    assert sampling.kw == {"max_tokens": 7, "temperature": 0.0, "seed": None, "stop": ["</s>"]}
    assert (lora.name, lora.int_id, lora.path) == ("caller", 1, "/a/caller")  # sorted folders: caller=1
    backend.generate("planner", ["x"], GenParams(do_sample=True, temperature=0.5, seed=3))
    _, sampling, lora = calls["generate"][1]
    assert (lora.int_id, lora.path) == (2, "/a/planner")
    assert sampling.kw["temperature"] == 0.5 and sampling.kw["seed"] == 3
    backend.generate("summarizer", ["x"], GenParams())
    assert calls["generate"][2][2] is None  # bare base: no LoRA request


def test_vllm_backend_without_vllm_names_the_install(monkeypatch):
    import sys

    from umi_lib.agent.backends import VLLMBackend
    from umi_lib.train.bases import ModelError

    monkeypatch.setitem(sys.modules, "vllm", None)  # import fails as if not installed
    with pytest.raises(ModelError, match="pip install vllm"):
        VLLMBackend("base", {"planner": None}).generate("planner", ["x"], GenParams())


def test_vllm_agent_points_at_the_trained_adapter_folders(tmp_path, monkeypatch):
    from umi_lib.agent import build
    from umi_lib.config import ConfigError, load_profile
    from umi_lib.train import stages

    monkeypatch.setenv("UMI_RUNS", str(tmp_path / "runs"))  # fake adapter folders must not reach other tests

    profile = load_profile("smoke")
    with pytest.raises(ConfigError, match="umi train --system alpha-umi"):
        build.make_vllm_agent(profile, "alpha-umi")
    folder = stages.system_dir(profile, "alpha-umi")
    for role, rank in (("planner", 4), ("caller", 8), ("summarizer", 4)):
        (folder / role).mkdir(parents=True)
        (folder / role / "adapter_config.json").write_text(json.dumps({"r": rank}))
    agent = build.make_vllm_agent(profile, "alpha-umi")
    assert agent.backend.adapters == {r: str(folder / r) for r in ("planner", "caller", "summarizer")}
    assert agent.backend.max_lora_rank == 8 and isinstance(agent, MultiLLMAgent)
    base = build.make_vllm_agent(profile, "base")
    assert set(base.backend.adapters.values()) == {None}
    assert agent.backend.engine_args == {"enable_prefix_caching": True}  # the profile's eval.prefix_reuse
    profile.eval.prefix_reuse = False
    assert build.make_vllm_agent(profile, "alpha-umi").backend.engine_args == {"enable_prefix_caching": False}
