"""Every shipped training recipe loads; the gpu-7b recipes keep the paper's schedule; bad recipes fail clearly."""

from __future__ import annotations

import pytest
from conftest import assert_fields_documented

from umi_lib.config import PROFILES, ConfigError
from umi_lib.paths import repo_root
from umi_lib.train.recipes import STAGES, LoraRecipe, StageRecipe, load_recipe


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("stage", STAGES)
def test_shipped_recipe_loads(profile, stage):
    recipe = load_recipe(profile, stage)
    assert recipe.stage == stage and recipe.max_length > 0


def test_no_stray_recipe_files():
    found = {(p.parent.name, p.stem) for p in (repo_root() / "configs" / "recipes").glob("*/*.yaml")}
    assert found == {(p, s) for p in PROFILES for s in STAGES}


# docs/training.md#hyper-parameters (GLPFT/scripts/train_toolbench.sh): epochs, warmup ratio, weight decay per stage
PAPER = {"global": (2, 0.4, 0.0), "planner": (1, 0.2, 0.01), "caller": (1, 0.2, 0.01), "summarizer": (2, 0.4, 0.01)}


@pytest.mark.parametrize("stage", list(PAPER))
def test_gpu_7b_keeps_the_paper_schedule(stage):
    r = load_recipe("gpu-7b", stage)
    assert (r.epochs, r.warmup_ratio, r.weight_decay) == PAPER[stage]
    assert r.lr_scheduler == "cosine" and r.max_length == 4096
    assert r.batch_size * r.grad_accum == 48  # the paper's global batch: 8 GPUs x 6
    paper_lr = 5e-5 if stage == "global" else 1e-5
    assert r.learning_rate == pytest.approx(10 * paper_lr)  # LoRA: x10, stated in the file header


def test_every_recipe_field_has_a_docstring():
    assert_fields_documented(StageRecipe, LoraRecipe)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("stage: global\ndata: [backbone]\nepochs: 1\nlearning_rate: 1e-4\nwarmup_ratio: 0\nmax_length: 512\n"
         "lr: 3\n", "unknown key"),
        ("stage: global\ndata: [nope]\nepochs: 1\nlearning_rate: 0.1\nwarmup_ratio: 0\nmax_length: 512\n",
         "data must name role files"),
        ("stage: global\ndata: [backbone]\nepochs: 1\nlearning_rate: 0.1\nwarmup_ratio: 1.5\nmax_length: 512\n",
         "warmup_ratio"),
        ("stage: global\ndata: [backbone]\nepochs: 0\nlearning_rate: 0.1\nwarmup_ratio: 0\nmax_length: 512\n",
         "epochs must be positive"),
        ("stage: planner\ndata: [planner]\nepochs: 1\nlearning_rate: 0.1\nwarmup_ratio: 0\nmax_length: 512\n",
         "expected 'global'"),
        ("stage: global\ndata: [backbone]\nepochs: 1\nlearning_rate: 0.1\nwarmup_ratio: 0\nmax_length: 512\n"
         "quantization: 8bit\n", "quantization must be one of"),
        ("stage: [", "not valid YAML"),
    ],
)  # fmt: skip
def test_broken_recipe_is_a_clear_error(text, message, tmp_path):
    path = tmp_path / "global.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_recipe("smoke", "global", path)
