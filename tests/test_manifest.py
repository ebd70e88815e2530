"""Every artifact records what made it; a changed recipe, base, data file or agent setting is never reused."""

from __future__ import annotations

import dataclasses
import json

import pytest
from conftest import TRAIN_EXAMPLE

from umi_lib import manifest
from umi_lib.agent.agents import Agent, GenParams
from umi_lib.config import load_profile
from umi_lib.data.jsonio import load_json
from umi_lib.evaluation import selection
from umi_lib.evaluation.static import run_static
from umi_lib.names import ROLES
from umi_lib.train import bases, loaded, stages
from umi_lib.train.recipes import load_recipe

# --- the manifest itself ------------------------------------------------------------------------------------


def test_write_read_and_stale_reasons(tmp_path):
    artifact = tmp_path / "preds.json"
    artifact.write_text("[]")
    assert manifest.stale_reasons(artifact, {"a": 1})[0].startswith("no manifest")
    written = manifest.write(artifact, "predictions", {"a": 1, "b": [1, 2]}, note="x")
    assert manifest.path_for(artifact) == tmp_path / "preds.manifest.json"
    assert manifest.read(artifact) == written and written["recorded"]["note"] == "x"
    assert written["recorded"]["package_version"] and written["recorded"]["command"]
    assert manifest.stale_reasons(artifact, {"b": (1, 2), "a": 1}) == []  # key order, tuple vs list
    assert manifest.stale_reasons(artifact, {"a": 2, "b": [1, 2]}) == ["a: 1 → 2"]
    assert manifest.stale_reasons(artifact, {"a": 1}) == ["b: [1, 2] → null"]
    folder = tmp_path / "adapter"
    folder.mkdir()
    manifest.write(folder, "adapter", {"x": 1})
    assert (folder / "manifest.json").is_file() and manifest.stored_digest(folder) == manifest.digest({"x": 1})


def test_weights_fingerprint_sees_changed_weights(tmp_path):
    folder = tmp_path / "base"
    folder.mkdir()
    (folder / "config.json").write_text('{"hidden_size": 64}')
    (folder / "model.safetensors").write_bytes(bytes(range(256)) * 4096)
    first = manifest.weights_fingerprint(str(folder))
    assert manifest.weights_fingerprint(str(folder)) == first  # deterministic
    (folder / "model.safetensors").write_bytes(bytes(reversed(range(256))) * 4096)
    second = manifest.weights_fingerprint(str(folder))
    assert second != first
    (folder / "config.json").write_text('{"hidden_size": 128}')
    assert manifest.weights_fingerprint(str(folder)) not in (first, second)
    assert manifest.weights_fingerprint("org/not-downloaded-model") == "hub:org/not-downloaded-model"


def test_the_cli_records_its_command(tmp_path, capsys):
    from umi_lib.cli import main

    out = tmp_path / "steps.json"
    assert main(["steps", "--test", str(TRAIN_EXAMPLE / "raw_data" / "raw_data_stage_2.json"), "--out", str(out)]) == 0
    stored = manifest.read(out)
    assert stored["kind"] == "test-steps" and stored["recorded"]["command"].startswith("umi steps --test ")


# --- adapters: only the affected stages retrain ------------------------------------------------------------


@pytest.fixture
def smoke(tmp_path, monkeypatch):
    monkeypatch.setenv("UMI_RUNS", str(tmp_path / "runs"))
    return load_profile("smoke")


def _trained(run) -> dict[str, bool]:
    return {s.adapter: s.trained for s in run.stages}


def _with_recipe_change(monkeypatch, stage: str, **changes):
    def patched(profile_name, name):
        recipe = load_recipe(profile_name, name)
        return dataclasses.replace(recipe, **changes) if name == stage else recipe

    monkeypatch.setattr(stages, "load_recipe", patched)


def test_changed_recipes_and_base_retrain_only_what_depends_on_them(smoke, monkeypatch, capsys):
    first = stages.train_system(smoke, "alpha-umi", max_steps=1, progress=False)
    assert _trained(first) == {"global": True, "planner": True, "caller": True, "summarizer": True}
    assert stages.train_system(smoke, "alpha-umi", max_steps=1, progress=False).stages[0].trained is False
    stored = manifest.read(stages.system_dir(smoke, "alpha-umi") / "planner")
    assert stored["inputs"]["init_from"] == {"global": manifest.stored_digest(first.folder / "global")}

    _with_recipe_change(monkeypatch, "planner", learning_rate=0.123)
    again = stages.train_system(smoke, "alpha-umi", max_steps=1, progress=False)
    assert _trained(again) == {"global": False, "planner": True, "caller": False, "summarizer": False}
    assert "retraining planner (recipe:" in capsys.readouterr().out

    _with_recipe_change(monkeypatch, "global", learning_rate=0.0456)  # the roles start from global: all retrain
    assert all(_trained(stages.train_system(smoke, "alpha-umi", max_steps=1, progress=False)).values())

    real = manifest.weights_fingerprint
    monkeypatch.setattr(manifest, "weights_fingerprint", lambda location: "other-" + real(location))
    assert loaded.missing_adapters(smoke, "single-llm") == ["global"]  # stale: load_all refuses, naming umi train
    with pytest.raises(bases.ModelError, match="umi train --profile smoke --system single-llm"):
        loaded.load_all(smoke, ("single-llm",))
    run = stages.train_system(smoke, "single-llm", max_steps=1, progress=False)
    assert _trained(run) == {"global": True} and "base_weights:" in capsys.readouterr().out


def test_a_changed_data_file_reconverts_and_retrains(smoke, tmp_path, monkeypatch, capsys):
    source = tmp_path / "stage1.json"
    source.write_text(json.dumps(load_json(TRAIN_EXAMPLE / "raw_data" / "raw_data_stage_1.json"), indent=2))
    smoke.data = dataclasses.replace(smoke.data, stage1_files=[str(source)])
    assert _trained(stages.train_system(smoke, "single-llm", max_steps=1, progress=False)) == {"global": True}
    assert stages.train_system(smoke, "single-llm", max_steps=1, progress=False).stages[0].trained is False
    capsys.readouterr()
    items = load_json(source)
    source.write_text(json.dumps(items[:-1], indent=2))  # one trajectory fewer
    run = stages.train_system(smoke, "single-llm", max_steps=1, progress=False)
    out = capsys.readouterr().out
    assert "converting smoke's data first (sources:" in out and "retraining global (data:" in out
    assert _trained(run) == {"global": True}


def test_force_and_step_caps(smoke, capsys):
    from umi_lib.cli import main

    args = ["train", "--profile", "smoke", "--system", "single-llm", "--max-steps", "1", "--quiet"]
    assert main(args) == 0
    assert main(args) == 0 and "global: already done" in capsys.readouterr().out
    assert main([*args, "--force"]) == 0 and "global: trained" in capsys.readouterr().out
    assert loaded.missing_adapters(smoke, "single-llm") == []  # a step-capped adapter still loads
    assert stages.stage_reasons(smoke, "single-llm", "global") == ["max_steps: 1 → null"]  # but training redoes it


# --- static evaluation, test steps, metrics -----------------------------------------------------------------


@dataclasses.dataclass
class Counting(Agent):
    """Predicts the reference; remembers how many steps it was asked, and fails on demand."""

    asked: int = 0
    fail_after: int | None = None

    def predict(self, steps):
        if self.fail_after is not None and self.asked >= self.fail_after:
            raise RuntimeError("interrupted")
        self.asked += len(steps)
        return [s["reference"] for s in steps]


def test_evaluation_chunks_are_reused_only_from_the_same_settings(smoke, tmp_path, capsys):
    steps = selection.eval_steps(smoke)[:8]
    out = dict(pred_dir=tmp_path / "p", metrics_dir=tmp_path / "m", chunk_size=4, resamples=0, progress=False)
    params = {r: GenParams(max_new_tokens=8) for r in ROLES}
    with pytest.raises(RuntimeError):
        run_static(Counting(None, params, fail_after=4), steps, "x", **out)
    resumed = Counting(None, params)
    run_static(resumed, steps, "x", **out)
    assert resumed.asked == 4  # the first chunk came from the interrupted run

    with pytest.raises(RuntimeError):
        run_static(Counting(None, params, fail_after=4), steps, "y", **out)
    changed = Counting(None, {r: GenParams(max_new_tokens=9) for r in ROLES})
    run_static(changed, steps, "y", **out)
    assert changed.asked == 8 and "discarding finished chunks" in capsys.readouterr().out
    pred = manifest.read(tmp_path / "p" / "y.json")
    assert pred["kind"] == "predictions" and pred["inputs"]["params"]["planner"]["max_new_tokens"] == 9
    metrics = manifest.read(tmp_path / "m" / "y.json")
    assert metrics["inputs"]["predictions"] == manifest.file_digest(tmp_path / "p" / "y.json")
    assert selection.load_metrics(smoke) == {}  # manifests beside metrics files are not metrics


def test_test_steps_are_reextracted_when_their_inputs_change(smoke, capsys):
    first = selection.evaluation_steps(smoke)
    assert "extracting the test steps" in capsys.readouterr().out
    assert selection.evaluation_steps(smoke) == first and capsys.readouterr().out == ""
    smoke.data = dataclasses.replace(smoke.data, compat=True)
    selection.evaluation_steps(smoke)
    assert "compat: false → true" in capsys.readouterr().out
