"""GLPFT training on the tiny random Llama: adapters, copies, resumption, 4-bit on CPU, 2-process DDP."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from conftest import ROOT

from umi_lib.config import load_profile
from umi_lib.names import ROLES
from umi_lib.train import logs, probe, samples, stages


@pytest.fixture(scope="module")
def module_runs(tmp_path_factory):
    return tmp_path_factory.mktemp("train_runs")


@pytest.fixture(autouse=True)
def _own_runs(module_runs, monkeypatch):
    """This module's runs folder: trained systems of other tests (notebook 02) must not count as done here."""
    monkeypatch.setenv("UMI_RUNS", str(module_runs))


@pytest.fixture
def smoke():
    """The smoke profile, its data converted once for this module."""
    profile = load_profile("smoke")
    samples.role_samples(profile, "planner")  # converts the bundled data if needed
    return profile


def _weights(run, adapter):
    return probe.adapter_tensors(run.model, adapter)


def _equal(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_roles_start_as_exact_copies_of_global_and_train_alone(smoke, tmp_path, monkeypatch):
    from umi_lib.train.loading import load_base
    from umi_lib.train.recipes import load_recipe

    model, tok, precision = load_base("tiny-random", "none")
    recipe = load_recipe("smoke", "global")
    model = stages.add_adapter(model, "global", recipe, None, seed=1)
    with torch.no_grad():  # make global non-trivial (LoRA B starts at zero)
        for name, p in model.named_parameters():
            if ".global." in name:
                p.add_(0.01 * torch.randn_like(p))
    for role in ROLES:
        model = stages.add_adapter(model, role, recipe, "global", seed=1)
    run = stages.SystemRun("alpha-umi", tmp_path, model, tok, precision, {})
    g = _weights(run, "global")
    for role in ROLES:  # the same LoRA tensors (PEFT's state dict keys carry no adapter name)
        r = _weights(run, role)
        assert _equal(r, g)
    before = {a: _weights(run, a) for a in ("global", *ROLES)}
    model.set_adapter("caller")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".caller." in n for n in trainable)
    profile = smoke
    data = samples.stage_data(profile, load_recipe("smoke", "caller"), tok, set())
    stages._train_stage(model, tok, load_recipe("smoke", "caller"), data, tmp_path, precision, profile,
                       tmp_path / "log.jsonl", 2, False)  # fmt: skip
    after = {a: _weights(run, a) for a in before}
    assert not _equal(after["caller"], before["caller"])
    for other in ("global", "planner", "summarizer"):
        assert _equal(after[other], before[other]), other


def test_alpha_umi_run_saves_named_adapters_and_logs(smoke):
    run = stages.train_system(smoke, "alpha-umi", progress=False)
    folder = stages.system_dir(smoke, "alpha-umi")
    assert {p.name for p in folder.iterdir() if p.is_dir()} >= {"global", *ROLES}
    assert (folder / "base.json").is_file() and not (folder / "checkpoints" / "global").exists()
    curves = logs.read_run(smoke.name, "glpft")
    assert set(curves) == {"global", *ROLES}
    rec = curves["global"][-1]
    assert rec.loss > 0 and rec.peak_memory_mb > 0 and rec.learning_rate is not None
    # held-out trajectories are never trained on, and every role has some
    assert all(run.heldout[r] for r in ROLES)
    again = stages.train_system(smoke, "single-llm", progress=False)  # reuses the finished global adapter
    assert [s.trained for s in again.stages] == [False]


def test_every_system_trains(smoke):
    for system in ("one-stage", "multi-task"):
        run = stages.train_system(smoke, system, max_steps=1, progress=False)
        assert all(s.trained for s in run.stages)
        adapters = set(stages.ROLE_ADAPTERS[system].values())
        assert all((stages.system_dir(smoke, system) / a / "adapter_config.json").is_file() for a in adapters)


def test_heldout_trajectories_are_disjoint_from_training(smoke):
    from umi_lib.train.recipes import load_recipe

    held = samples.heldout_trajectories(smoke, 4)
    assert held
    for stage in ("global", "planner", "multitask"):
        recipe = load_recipe("smoke", stage)
        trained, heldout = samples.split_samples(smoke, recipe, held)
        assert trained and not {samples.trajectory_key(s) for s in trained} & held
        assert all(0 < len(v) <= recipe.eval_samples for v in heldout.values())
        assert all(samples.trajectory_key(s) in held for v in heldout.values() for s in v)


def _cli(args, env, check=True):
    cmd = [sys.executable, "-m", "umi_lib.cli", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=check, timeout=600)


def test_killed_run_resumes_to_the_same_adapter(tmp_path):
    """SIGKILL right after the step-2 checkpoint, restart, and compare with an uninterrupted run."""
    base_env = {**os.environ, "UMI_PROFILE": "smoke", "HF_HUB_OFFLINE": "1"}
    results = {}
    for name, kill in (("killed", "global:2"), ("straight", "")):
        env = {**base_env, "UMI_RUNS": str(tmp_path / name), stages.KILL_ENV: kill}
        first = _cli(["train", "--profile", "smoke", "--system", "single-llm", "--quiet"], env, check=False)
        if kill:
            assert first.returncode == -9, first.stderr[-2000:]
            ckpt = tmp_path / name / "smoke" / "models" / "glpft" / "checkpoints" / "global" / "checkpoint-2"
            assert ckpt.is_dir()
            env[stages.KILL_ENV] = ""
            second = _cli(["train", "--profile", "smoke", "--system", "single-llm", "--quiet"], env, check=False)
            assert second.returncode == 0, second.stderr[-2000:]
        else:
            assert first.returncode == 0, first.stderr[-2000:]
        from safetensors.torch import load_file

        results[name] = load_file(
            tmp_path / name / "smoke" / "models" / "glpft" / "global" / "adapter_model.safetensors"
        )
    a, b = results["killed"], results["straight"]
    assert a.keys() == b.keys()
    # Same seed, same data order, optimizer and scheduler state restored: equal up to float reassociation.
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)


def test_two_cpu_processes_with_accelerate(tmp_path):
    env = {**os.environ, "UMI_RUNS": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file",
        str(ROOT / "configs" / "accelerate" / "cpu_2proc.yaml"),
        "-m", "umi_lib.cli", "train", "--profile", "smoke", "--system", "single-llm", "--max-steps", "2", "--quiet",
    ]  # fmt: skip
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "smoke" / "models" / "glpft" / "global" / "adapter_model.safetensors").is_file()
    assert out.stdout.count("global: trained") == 2  # both ranks ran the stage
    records = logs.read(tmp_path / "smoke" / "logs" / "glpft" / "global.jsonl")
    assert [r.step for r in records if r.kind == "train"] == [1, 2]  # written once, by the main process


def test_four_bit_training_runs_on_cpu(smoke, tmp_path):
    pytest.importorskip("bitsandbytes")
    from peft import prepare_model_for_kbit_training

    from umi_lib.train.loading import load_base
    from umi_lib.train.recipes import load_recipe

    model, tok, precision = load_base("tiny-random", "4bit", device="cpu")
    assert precision.quantize_4bit
    assert any(type(m).__name__ == "Linear4bit" for m in model.modules())
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    recipe = load_recipe("smoke", "planner")
    model = stages.add_adapter(model, "planner", recipe, None, seed=0)
    model.set_adapter("planner")
    before = _weights(stages.SystemRun("x", tmp_path, model, tok, precision, {}), "planner")
    data = samples.stage_data(smoke, recipe, tok, set())
    _, loss = stages._train_stage(model, tok, recipe, data, tmp_path, precision, smoke, tmp_path / "l.jsonl", 2, False)
    assert loss > 0
    after = _weights(stages.SystemRun("x", tmp_path, model, tok, precision, {}), "planner")
    assert not _equal(before, after)
