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
import random
import resource
import shutil
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from umi_lib import trainlog
from umi_lib.config import Profile
from umi_lib.convert import ROLE_FILES
from umi_lib.formats import atomic_write_text, load_json
from umi_lib.modeling import Precision, encode_sample, load_base
from umi_lib.paths import runs_dir
from umi_lib.recipes import ROLES, StageRecipe, load_recipe

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


# ---------------------------------------------------------------------------------------------------
# Data: role files -> held-out split by trajectory -> token ids
# ---------------------------------------------------------------------------------------------------


def trajectory_key(sample: dict[str, Any]) -> str:
    """Samples of one trajectory share their first history turn (the user query; truncation keeps it)."""
    history = sample.get("history") or []
    return json.dumps(history[0], sort_keys=True) if history else sample["input"][:500]


def role_samples(profile: Profile, name: str) -> list[dict[str, Any]]:
    path = runs_dir(profile.name) / "data" / ROLE_FILES[name]
    if not path.exists():
        from umi_lib.prepare import prepare_data

        prepare_data(profile, progress=False)
    return load_json(path)


def heldout_trajectories(profile: Profile, per_role: int) -> set[str]:
    """Seeded trajectories to hold out: added until every role has ``per_role`` held-out samples."""
    by_role = {r: [trajectory_key(s) for s in role_samples(profile, r)] for r in ROLES}
    keys = sorted({k for ks in by_role.values() for k in ks})
    random.Random(profile.seed).shuffle(keys)
    chosen: set[str] = set()
    for key in keys:
        if all(sum(k in chosen for k in ks) >= min(per_role, len(set(ks))) for ks in by_role.values()):
            break
        if any(key in ks for ks in by_role.values()):
            chosen.add(key)
    return chosen


@dataclass
class StageData:
    """Training and held-out samples of one stage, as token ids, plus what truncation did."""

    train: list[dict[str, list[int]]]
    heldout: dict[str, list[dict[str, list[int]]]]  # role -> samples
    truncated: int = 0
    tokens: int = 0


def _encode(samples: Sequence[dict[str, Any]], tok, max_length: int) -> tuple[list[dict[str, list[int]]], int]:
    out, truncated = [], 0
    for s in samples:
        enc = encode_sample(s["input"], s["target"], tok, max_length)
        truncated += enc.truncated
        out.append({"input_ids": enc.input_ids, "completion_mask": enc.completion_mask})
    return out, truncated


def split_samples(
    profile: Profile, recipe: StageRecipe, heldout: set[str]
) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """Raw samples of a stage: a seeded training subset outside ``heldout``, and held-out samples per role."""
    train = [s for name in recipe.data for s in role_samples(profile, name) if trajectory_key(s) not in heldout]
    random.Random(profile.seed).shuffle(train)
    train = train[: recipe.max_samples] if recipe.max_samples else train
    held = {
        role: [s for s in role_samples(profile, role) if trajectory_key(s) in heldout][: recipe.eval_samples]
        for role in ROLES
    }
    return train, held


def stage_data(profile: Profile, recipe: StageRecipe, tok, heldout: set[str]) -> StageData:
    """:func:`split_samples`, encoded for the base."""
    train, held = split_samples(profile, recipe, heldout)
    encoded, truncated = _encode(train, tok, recipe.max_length)
    held_ids = {role: _encode(samples, tok, recipe.max_length)[0] for role, samples in held.items()}
    return StageData(encoded, held_ids, truncated, sum(len(e["input_ids"]) for e in encoded))


# ---------------------------------------------------------------------------------------------------
# Logging, kill switch (tests), memory
# ---------------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------------
# Adapters on one base
# ---------------------------------------------------------------------------------------------------


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
        gradient_checkpointing=recipe.gradient_checkpointing,
        max_length=recipe.max_length,
        completion_only_loss=True,  # loss on the target (spec 2.3): labels from our completion_mask
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
        disable_tqdm=not progress,
        **precision.trainer_flags,
    )


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
) -> SystemRun:
    """Train (or resume, or load) every stage of ``system``; save adapters under :func:`system_dir`."""
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
    heldout_keys = heldout_trajectories(profile, max(r.eval_samples for r in recipes.values()))
    run = SystemRun(system, out, model, tok, precision, {})
    for adapter, stage, init_from in tqdm(stages, desc=f"train {system}", disable=not progress):
        recipe = recipes[stage]
        data = stage_data(profile, recipe, tok, heldout_keys)
        run.heldout = data.heldout
        final = out / adapter
        if (final / "adapter_config.json").is_file():
            run.model = load_adapter(run.model, final, adapter)
            run.stages.append(StageResult(adapter, stage, False))
            continue
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
            _write_manifest(out, profile, system)
            if not keep_checkpoints:
                shutil.rmtree(out / "checkpoints" / stage, ignore_errors=True)
        seconds = time.perf_counter() - start
        run.stages.append(
            StageResult(adapter, stage, True, len(data.train), data.tokens, data.truncated, seconds, loss)
        )
    return run


def _write_manifest(out: Path, profile: Profile, system: str) -> None:
    """``base.json``: which base the adapters belong to (the adapters alone are useless without it)."""
    adapters = sorted(p.name for p in out.iterdir() if (p / "adapter_config.json").is_file())
    manifest = {"base_model": profile.base_model, "profile": profile.name, "system": system, "adapters": adapters}
    atomic_write_text(out / "base.json", json.dumps(manifest, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------------
# Evaluation helpers for notebook 02
# ---------------------------------------------------------------------------------------------------


def heldout_loss(model, samples: Sequence[dict[str, list[int]]], adapter: str | None) -> float:
    """Mean loss per target token on held-out samples, with ``adapter`` active (None: the bare base)."""
    import contextlib

    import torch

    device = next(model.parameters()).device
    total, count = 0.0, 0
    ctx = model.disable_adapter() if adapter is None else contextlib.nullcontext()
    if adapter is not None:
        model.set_adapter(adapter)
    was_training = model.training
    model.eval()
    with ctx, torch.no_grad():
        for s in samples:
            ids = torch.tensor([s["input_ids"]], device=device)
            labels = ids.clone()
            labels[0, torch.tensor(s["completion_mask"]) == 0] = -100
            n = int((labels[0, 1:] != -100).sum())
            total += float(model(input_ids=ids, labels=labels).loss) * n
            count += n
    model.train(was_training)
    return total / max(count, 1)


def heldout_losses(run: SystemRun, adapters: dict[str, str | None]) -> dict[str, dict[str, float]]:
    """``{label: {role: loss}}`` for labelled adapter choices, e.g. ``{"base": None, "α-UMi": "planner"}``.

    A value may also be a role -> adapter mapping (:data:`ROLE_ADAPTERS`).
    """
    out: dict[str, dict[str, float]] = {}
    for label, choice in adapters.items():
        out[label] = {}
        for role in ROLES:
            adapter = choice.get(role) if isinstance(choice, dict) else choice
            out[label][role] = heldout_loss(run.model, run.heldout[role], adapter)
    return out


def adapter_tensors(model, adapter: str) -> dict[str, Any]:
    """A detached copy of one adapter's LoRA weights (for equality tests)."""
    from peft import get_peft_model_state_dict

    return {k: v.detach().clone() for k, v in get_peft_model_state_dict(model, adapter_name=adapter).items()}


def generate_ids(model, tok, prompt_ids: Sequence[int], adapter: str | None, max_new_tokens: int = 24) -> str:
    """Greedy continuation of encoded prompt ids with one adapter (None: the bare base), decoded."""
    import contextlib

    import torch

    ids = torch.tensor([list(prompt_ids)], device=next(model.parameters()).device)
    ctx = model.disable_adapter() if adapter is None else contextlib.nullcontext()
    if adapter is not None:
        model.set_adapter(adapter)
    model.eval()
    with ctx, torch.no_grad():
        out = model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens, do_sample=False,
            pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
        )  # fmt: skip
    return tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
