"""Training recipes: one YAML per GLPFT stage and profile, ``configs/recipes/<profile>/<stage>.yaml``.

Stages: ``global`` (GLPFT stage 1, backbone data), ``planner`` / ``caller`` / ``summarizer`` (stage 2, one
role each; the "multi-LLM one-stage" system trains them from the base instead of ``global``), and
``multitask`` (one adapter on the union of the three role sets). The ``gpu-7b`` recipes carry the paper's
hyper-parameters (``docs/training.md#hyper-parameters``) adapted to LoRA/QLoRA; each file's header says how.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from umi_lib.config import PROFILES, ConfigError, from_dict, load_yaml
from umi_lib.names import STAGES  # noqa: E402
from umi_lib.paths import repo_root
from umi_lib.train.loading import QUANTIZATIONS

DATASETS = ("backbone", "planner", "caller", "summarizer")


@dataclass
class LoraRecipe:
    """The LoRA adapter trained in a stage (PEFT ``LoraConfig``)."""

    r: int = 16
    """Rank of the update matrices."""
    alpha: int = 32
    """Scaling numerator: the update is scaled by ``alpha / r``."""
    dropout: float = 0.05
    """Dropout on the adapter input (0 on CPU: it costs 14-28% speed there, ``docs/training.md#lora-dropout``)."""
    target_modules: str | list[str] = "all-linear"
    """Layers that get an adapter: ``all-linear`` (QLoRA practice) or a list of module names."""


@dataclass
class StageRecipe:
    """Data, optimisation and precision of one GLPFT stage."""

    stage: str
    """One of ``global``, ``planner``, ``caller``, ``summarizer``, ``multitask``."""
    data: list[str]
    """Role files trained on: ``backbone``, ``planner``, ``caller``, ``summarizer`` (several = their union)."""
    epochs: float
    """Passes over the training samples."""
    learning_rate: float
    """Peak learning rate (AdamW)."""
    warmup_ratio: float
    """Share of the steps spent warming the learning rate up from 0."""
    max_length: int
    """Tokens per sample; longer samples keep their last ``max_length`` tokens (the official left truncation)."""
    lr_scheduler: str = "cosine"
    """Transformers scheduler name after warm-up."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    batch_size: int = 1
    """Samples per device and step."""
    grad_accum: int = 1
    """Steps accumulated before an optimizer update (effective batch = batch_size × grad_accum × devices)."""
    max_samples: int | None = None
    """Train on a seeded subset of this many samples (small profiles); None = all."""
    eval_samples: int = 8
    """Held out (seeded, never trained on) to measure the loss before and after training."""
    max_steps: int = -1
    """Stop after this many optimizer steps (-1: run all epochs)."""
    quantization: str = "auto"
    """``auto`` (4-bit NF4 on CUDA, none on CPU), ``4bit`` or ``none``; see umi_lib/modeling.py."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: less memory, ~30% more time."""
    logging_steps: int = 1
    """Optimizer steps between two log records."""
    save_steps: int = 50
    """Optimizer steps between two checkpoints (a restarted run resumes from the last one)."""
    lora: LoraRecipe = field(default_factory=LoraRecipe)
    """The adapter's shape."""

    def __post_init__(self) -> None:
        where = f"recipe {self.stage!r}"
        if self.stage not in STAGES:
            raise ConfigError(f"{where}: stage must be one of {', '.join(STAGES)}")
        if not self.data or any(d not in DATASETS for d in self.data):
            raise ConfigError(f"{where}: data must name role files among {', '.join(DATASETS)}, got {self.data}")
        if self.quantization not in QUANTIZATIONS:
            raise ConfigError(f"{where}: quantization must be one of {', '.join(QUANTIZATIONS)}")
        for name in ("epochs", "learning_rate", "max_length", "batch_size", "grad_accum"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{where}: {name} must be positive")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"{where}: warmup_ratio must be in [0, 1)")


def recipe_path(profile: str, stage: str) -> Path:
    return repo_root() / "configs" / "recipes" / profile / f"{stage}.yaml"


def load_recipe(profile: str, stage: str, path: str | os.PathLike | None = None) -> StageRecipe:
    """Recipe of ``stage`` for ``profile`` (or from an explicit YAML ``path``)."""
    path = Path(path) if path else recipe_path(profile, stage)
    data = load_yaml(path, f"profiles: {', '.join(PROFILES)}; stages: {', '.join(STAGES)}")
    recipe = from_dict(StageRecipe, data, str(path))
    if recipe.stage != stage:
        raise ConfigError(f"{path}: says stage {recipe.stage!r}, expected {stage!r}")
    return recipe
