"""GLPFT with TRL and PEFT: one base in memory, one named LoRA adapter per stage.

Systems (the paper's Table 1 rows, from the same code):

* ``single-llm``: GLPFT stage 1 only, adapter ``global`` on the backbone data;
* ``alpha-umi``: stage 1, then ``planner``/``caller``/``summarizer`` start as exact copies of ``global``
  (the paper copies the fine-tuned backbone three times) and each trains on its own role data;
* ``one-stage`` (multi-LLM one-stage): the three role adapters trained from the base, no global stage;
* ``multi-task`` (single-LLM multi-task): one adapter ``multitask`` on the union of the three role sets.

``single-llm`` and ``alpha-umi`` share ``runs/<profile>/models/glpft/``: the α-UMi run reuses a finished
``global`` adapter. A stage whose adapter folder exists is done; an unfinished stage resumes from its last
checkpoint (``checkpoints/<stage>/checkpoint-N``). Held-out trajectories (seeded) are never trained on in
any stage, so :func:`heldout_losses` measures generalisation to unseen queries.

Deviation from the paper, on purpose: it fully fine-tunes and keeps three full models; here the base stays
frozen (and 4-bit on GPUs), so "copying the backbone" is copying the ``global`` adapter.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from umi_lib import manifest
from umi_lib.config import Profile
from umi_lib.data.jsonio import atomic_write_text
from umi_lib.names import ROLES, STAGES
from umi_lib.paths import runs_dir
from umi_lib.progress import tqdm, trainer_bars
from umi_lib.train import logs as trainlog
from umi_lib.train.bases import resolve_base
from umi_lib.train.loading import Precision, load_base
from umi_lib.train.recipes import StageRecipe, load_recipe
from umi_lib.train.samples import data_digest, heldout_trajectories, stage_data

# system -> ordered (adapter, stage recipe, adapter it starts from)
SYSTEMS: dict[str, list[tuple[str, str, str | None]]] = {
    "single-llm": [("global", "global", None)],
    "alpha-umi": [("global", "global", None)] + [(r, r, "global") for r in ROLES],
    "one-stage": [(r, r, None) for r in ROLES],
    "multi-task": [("multitask", "multitask", None)],
}

SYSTEM_DIRS = {"single-llm": "glpft", "alpha-umi": "glpft", "one-stage": "one-stage", "multi-task": "multi-task"}

# which adapter plays each role in a system (notebooks, agent)
ROLE_ADAPTERS = {
    "single-llm": dict.fromkeys(ROLES, "global"),
    "alpha-umi": {r: r for r in ROLES},
    "one-stage": {r: r for r in ROLES},
    "multi-task": dict.fromkeys(ROLES, "multitask"),
}

KILL_ENV = "UMI_KILL_AFTER_SAVE"  # tests: "<stage>:<step>" kills the process (SIGKILL) right after that save


def system_dir(profile: Profile, system: str) -> Path:
    return runs_dir(profile.name) / "models" / SYSTEM_DIRS[system]


ADAPTER_FORMAT = 1  # bump when training changes what an adapter is for the same inputs


def profile_heldout(profile: Profile) -> set[str]:
    """The profile's held-out trajectories: one set for every stage and system (the largest recipe's need)."""
    return heldout_trajectories(profile, max(load_recipe(profile.name, s).eval_samples for s in STAGES))


def stage_inputs(
    profile: Profile, system: str, adapter: str, max_steps: int | None = None, heldout: set[str] | None = None
) -> dict[str, Any]:
    """Everything an adapter depends on; a stage whose stored inputs differ is retrained."""
    stage, init_from = {a: (s, i) for a, s, i in SYSTEMS[system]}[adapter]
    recipe = load_recipe(profile.name, stage)
    heldout = profile_heldout(profile) if heldout is None else heldout
    parent = manifest.stored_digest(system_dir(profile, system) / init_from) if init_from else None
    return {
        "format": ADAPTER_FORMAT,
        "base_model": profile.base_model,
        "base_weights": manifest.weights_fingerprint(resolve_base(profile.base_model)),
        "recipe": manifest.digest(asdict(recipe)),
        "data": data_digest(profile, (*recipe.data, *ROLES)),
        "heldout": manifest.digest(sorted(heldout)),
        "seed": profile.seed,
        "max_steps": max_steps,
        "init_from": None if init_from is None else {init_from: parent},
    }


def stage_reasons(profile: Profile, system: str, adapter: str, any_steps: bool = False) -> list[str]:
    """Why ``adapter`` of ``system`` must be (re)trained; empty when it is trained and current.

    ``any_steps``: accept an adapter trained with a step cap (``umi train --max-steps``) as current.
    """
    folder = system_dir(profile, system) / adapter
    if not (folder / "adapter_config.json").is_file():
        return ["not trained"]
    inputs = stage_inputs(profile, system, adapter)
    stored = manifest.read(folder)
    if any_steps and stored is not None:
        inputs["max_steps"] = stored["inputs"].get("max_steps")
    return manifest.stale_reasons(folder, inputs)


def stage_is_current(profile: Profile, system: str, adapter: str) -> bool:
    """Is ``adapter`` of ``system`` trained, from the inputs a run would use now?"""
    return not stage_reasons(profile, system, adapter, any_steps=True)


def peak_memory_mb(device: str) -> float:
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _callbacks(log_file: Path, stage: str, device: str) -> list:
    from transformers import TrainerCallback

    class LogToJsonl(TrainerCallback):
        """Append one :class:`trainlog.LogRecord` per Trainer log event (main process only)."""

        def __init__(self) -> None:
            self.t, self.tokens = time.perf_counter(), None

        def on_log(self, args, state, control, logs=None, **kw):
            if not state.is_world_process_zero or not logs:
                return
            now, seen = time.perf_counter(), state.num_input_tokens_seen
            rate = None
            if self.tokens is not None and seen and now > self.t:
                rate = (seen - self.tokens) / (now - self.t)
            self.t, self.tokens = now, seen
            kind, loss = ("eval", logs.get("eval_loss")) if "eval_loss" in logs else ("train", logs.get("loss"))
            if loss is None:
                return
            rec = trainlog.LogRecord(
                stage, state.global_step, float(loss), kind, logs.get("epoch"), logs.get("learning_rate"),
                rate, round(peak_memory_mb(device), 1),
            )  # fmt: skip
            trainlog.append(log_file, rec)

    class KillAfterSave(TrainerCallback):
        """Tests of resumption: die like a killed job right after a given checkpoint is written."""

        def on_save(self, args, state, control, **kw):
            if os.environ.get(KILL_ENV) == f"{stage}:{state.global_step}":
                os.kill(os.getpid(), signal.SIGKILL)

    return [LogToJsonl(), KillAfterSave()]


def last_checkpoint(folder: Path) -> str | None:
    points = sorted(folder.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return str(points[-1]) if points else None


def lora_config(recipe: StageRecipe):
    from peft import LoraConfig

    lora = recipe.lora
    return LoraConfig(
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=lora.target_modules,
        task_type="CAUSAL_LM",
    )  # fmt: skip


def add_adapter(model, name: str, recipe: StageRecipe, init_from: str | None, seed: int):
    """Add adapter ``name``: an exact copy of ``init_from``, or a fresh seeded LoRA init. Returns the PeftModel."""
    import torch
    from peft import PeftModel, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict

    if init_from is not None:
        model.add_adapter(name, model.peft_config[init_from])
        state = get_peft_model_state_dict(model, adapter_name=init_from)
        set_peft_model_state_dict(model, state, adapter_name=name)
        return model
    torch.manual_seed(seed)
    if isinstance(model, PeftModel):
        model.add_adapter(name, lora_config(recipe))
        return model
    return get_peft_model(model, lora_config(recipe), adapter_name=name)


def load_adapter(model, folder: Path, name: str):
    from peft import PeftModel

    if isinstance(model, PeftModel):
        model.load_adapter(str(folder), adapter_name=name, is_trainable=True)
        return model
    return PeftModel.from_pretrained(model, str(folder), adapter_name=name, is_trainable=True)


def sft_config(
    recipe: StageRecipe, out: Path, precision: Precision, seed: int, max_steps: int | None, progress: bool = False
):
    from trl import SFTConfig

    return SFTConfig(
        output_dir=str(out),
        num_train_epochs=recipe.epochs,
        max_steps=max_steps if max_steps is not None else recipe.max_steps,
        learning_rate=recipe.learning_rate,
        warmup_steps=recipe.warmup_ratio,  # transformers 5: a float in [0, 1) is a ratio of the steps
        lr_scheduler_type=recipe.lr_scheduler,
        weight_decay=recipe.weight_decay,
        per_device_train_batch_size=recipe.batch_size,
        gradient_accumulation_steps=recipe.grad_accum,
        **{_checkpointing_arg(): recipe.gradient_checkpointing},
        max_length=recipe.max_length,
        # loss on the target (docs/training.md#tokenization-and-loss-masking): labels from our completion_mask
        completion_only_loss=True,
        packing=False,
        logging_steps=recipe.logging_steps,
        save_strategy="steps",
        save_steps=recipe.save_steps,
        save_total_limit=1,
        include_num_input_tokens_seen="non_padding",
        report_to="none",
        seed=seed,
        data_seed=seed,
        ddp_find_unused_parameters=False,
        disable_tqdm=not (progress and trainer_bars()),
        **precision.trainer_flags,
    )


def _checkpointing_arg() -> str:
    """transformers renamed ``gradient_checkpointing`` to ``activation_checkpointing``; use the current name."""
    import dataclasses

    from trl import SFTConfig

    names = {f.name for f in dataclasses.fields(SFTConfig)}
    return "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"


@dataclass
class StageResult:
    """What one stage did: skipped (already trained) or trained, with its size and time."""

    adapter: str
    stage: str
    trained: bool
    samples: int = 0
    tokens: int = 0
    truncated: int = 0
    seconds: float = 0.0
    final_loss: float | None = None


@dataclass
class SystemRun:
    """A trained system: the model (base + adapters) in memory, where it is saved, and the stage results."""

    system: str
    folder: Path
    model: Any
    tokenizer: Any
    precision: Precision
    heldout: dict[str, list[dict[str, list[int]]]]
    stages: list[StageResult] = field(default_factory=list)


def _train_stage(model, tok, recipe, data, out: Path, precision, profile, log_file, max_steps, progress):
    from datasets import Dataset, disable_progress_bars
    from transformers import PrinterCallback
    from trl import SFTTrainer

    disable_progress_bars()  # the per-map bars of dataset preparation; the Trainer's step bar stays
    ckpt_dir = out / "checkpoints" / recipe.stage
    trainer = SFTTrainer(
        model=model,
        args=sft_config(recipe, ckpt_dir, precision, profile.seed, max_steps, progress),
        train_dataset=Dataset.from_list(data.train),
        processing_class=tok,
        callbacks=_callbacks(log_file, recipe.stage, precision.device),
    )
    trainer.remove_callback(PrinterCallback)
    result = trainer.train(resume_from_checkpoint=last_checkpoint(ckpt_dir))
    return trainer, result.training_loss


def train_system(
    profile: Profile,
    system: str,
    max_steps: int | None = None,
    progress: bool = True,
    keep_checkpoints: bool = False,
    force: bool = False,
) -> SystemRun:
    """Train (or resume, or load) every stage of ``system``; save adapters under :func:`system_dir`.

    A finished stage is reused only if its manifest matches the current inputs; otherwise it is retrained,
    and so is every stage that starts from it. ``force`` retrains every stage of ``system``.
    """
    if system not in SYSTEMS:
        raise ValueError(f"unknown system {system!r}; systems: {', '.join(SYSTEMS)}")
    stages = SYSTEMS[system]
    recipes = {stage: load_recipe(profile.name, stage) for _, stage, _ in stages}
    out = system_dir(profile, system)
    model, tok, precision = load_base(profile.base_model, recipes[stages[0][1]].quantization)
    if precision.quantize_4bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=recipes[stages[0][1]].gradient_checkpointing
        )
    heldout_keys = profile_heldout(profile)
    run = SystemRun(system, out, model, tok, precision, {})
    for adapter, stage, init_from in tqdm(stages, desc=f"train {system}", disable=not progress):
        recipe = recipes[stage]
        data = stage_data(profile, recipe, tok, heldout_keys)
        run.heldout = data.heldout
        final, ckpt = out / adapter, out / "checkpoints" / stage
        inputs = stage_inputs(profile, system, adapter, max_steps, heldout_keys)
        reasons = ["--force"] if force else manifest.stale_reasons(final, inputs)
        if (final / "adapter_config.json").is_file() and not reasons:
            run.model = load_adapter(run.model, final, adapter)
            run.stages.append(StageResult(adapter, stage, False))
            continue
        if (final / "adapter_config.json").is_file():
            print(f"{system}: retraining {adapter} ({'; '.join(reasons)})")
            if _main_process():  # under accelerate every rank decides the same; one of them cleans up
                shutil.rmtree(final, ignore_errors=True)
                trainlog.log_path(profile.name, stage, system=SYSTEM_DIRS[system]).unlink(missing_ok=True)
        if _main_process():
            _start_checkpoints(ckpt, inputs, force)
        if adapter not in getattr(run.model, "peft_config", {}):  # a resumed stage then loads its checkpoint
            run.model = add_adapter(run.model, adapter, recipe, init_from, profile.seed)
        run.model.set_adapter(adapter)
        start = time.perf_counter()
        log_file = trainlog.log_path(profile.name, stage, system=SYSTEM_DIRS[system])
        trainer, loss = _train_stage(
            run.model, tok, recipe, data, out, precision, profile, log_file, max_steps, progress
        )
        if trainer.is_world_process_zero():
            run.model.save_pretrained(str(out), selected_adapters=[adapter])
            manifest.write(final, "adapter", inputs, system=system, stage=stage, recipe=asdict(recipe))
            _write_manifest(out, profile, system)
            if not keep_checkpoints:
                shutil.rmtree(out / "checkpoints" / stage, ignore_errors=True)
        seconds = time.perf_counter() - start
        run.stages.append(
            StageResult(adapter, stage, True, len(data.train), data.tokens, data.truncated, seconds, loss)
        )
    return run


def _main_process() -> bool:
    """Rank 0 under ``accelerate launch``/torchrun (``RANK``), or a plain single process."""
    return int(os.environ.get("RANK", "0")) == 0


def _start_checkpoints(ckpt: Path, inputs: dict[str, Any], force: bool) -> None:
    """Keep an interrupted stage's checkpoints only if they were made from the same inputs."""
    if ckpt.is_dir():
        reasons = ["--force"] if force else manifest.stale_reasons(ckpt, inputs)
        if not reasons:
            return
        print(f"discarding checkpoints in {ckpt} ({'; '.join(reasons)})")
        shutil.rmtree(ckpt)
    ckpt.mkdir(parents=True, exist_ok=True)
    manifest.write(ckpt, "checkpoints", inputs)


def _write_manifest(out: Path, profile: Profile, system: str) -> None:
    """``base.json``: which base the adapters belong to (the adapters alone are useless without it)."""
    adapters = sorted(p.name for p in out.iterdir() if (p / "adapter_config.json").is_file())
    manifest = {"base_model": profile.base_model, "profile": profile.name, "system": system, "adapters": adapters}
    atomic_write_text(out / "base.json", json.dumps(manifest, indent=2) + "\n")
