"""Notebook 02 in library calls: train the four systems, then compare them on one base in memory.

Each function is one cell. Training runs go through :func:`umi_lib.train.stages.train_system` (resumable, saved under
``runs/<profile>/models/``); :func:`load_all` then loads the base once and attaches every trained adapter
under a system-qualified name, which is also how the agent keeps three roles on one base.
"""

from __future__ import annotations

import gc
from typing import Any

import pandas as pd

from umi_lib.config import Profile
from umi_lib.names import ROLES, STAGES, SYSTEM_LABELS, TRAINED_SYSTEMS
from umi_lib.train import loaded as loading_all
from umi_lib.train import logs, probe, stages
from umi_lib.train.loaded import Loaded
from umi_lib.train.recipes import load_recipe
from umi_lib.workbook import estimates, plots


def training_plan(profile: Profile) -> pd.DataFrame:
    """Per stage: what it trains on and how much (the profile's recipes)."""
    rows = []
    for stage in STAGES:
        r = load_recipe(profile.name, stage)
        rows.append(
            {
                "stage": stage,
                "data": " + ".join(r.data),
                "samples": r.max_samples or "all",
                "held-out per role": r.eval_samples,
                "max tokens": r.max_length,
                "epochs": r.epochs,
                "lr": r.learning_rate,
                "batch": f"{r.batch_size} x {r.grad_accum}",
                "LoRA r": r.lora.r,
                "quantization": r.quantization,
            }
        )
    return pd.DataFrame(rows).set_index("stage")


def run_system(profile: Profile, system: str) -> pd.DataFrame:
    """Train (or resume, or find done) one system; returns what each stage did and frees the model."""
    if loading_all.missing_adapters(profile, system):
        estimates.announce(profile, f"train {system}")
    run = stages.train_system(profile, system)
    table = stage_table(run)
    del run
    gc.collect()
    return table


def stage_table(run: stages.SystemRun) -> pd.DataFrame:
    rows = [
        {
            "adapter": s.adapter,
            "trained now": s.trained,
            "samples": s.samples,
            "tokens": s.tokens,
            "left-truncated": s.truncated,
            "seconds": round(s.seconds, 1),
            "final train loss": None if s.final_loss is None else round(s.final_loss, 3),
        }
        for s in run.stages
    ]
    return pd.DataFrame(rows).set_index("adapter")


def heldout_table(loaded: Loaded, profile: Profile | None = None) -> pd.DataFrame:
    """Loss per target token on held-out trajectories: the bare base, then every system (rows: roles)."""
    if profile is not None:
        estimates.announce(profile, "held-out losses")
    choices: dict[str, Any] = {"base (no training)": None}
    choices.update({SYSTEM_LABELS[s]: m for s, m in loaded.adapters.items()})
    losses = probe.heldout_losses(loaded.run, choices)
    table = pd.DataFrame(losses).round(3)
    table.index.name = "held-out role"
    return table


def lowered_for_every_role(table: pd.DataFrame, system: str = "α-UMi (GLPFT)") -> bool:
    """Did ``system`` lower the held-out loss of every role relative to the bare base?"""
    return bool((table[system] < table["base (no training)"]).all())


def _bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def memory_table(loaded: Loaded) -> pd.DataFrame:
    """Weights in memory: one base + named adapters (ours) against three full copies (the paper's α-UMi)."""
    model = loaded.run.model
    base = _bytes(p for n, p in model.named_parameters() if "lora_" not in n)
    roles = [loaded.adapters["alpha-umi"][r] for r in ROLES]
    per_adapter = {a: _bytes(p for n, p in model.named_parameters() if "lora_" in n and f".{a}." in n) for a in roles}
    mib = 2**20
    rows = [
        {"setup": "one base + 3 role adapters (here)", "MiB": (base + sum(per_adapter.values())) / mib},
        {"setup": "three full role models (paper)", "MiB": 3 * base / mib},
        {"setup": "one base alone", "MiB": base / mib},
        {"setup": "one role adapter", "MiB": max(per_adapter.values()) / mib},
    ]
    table = pd.DataFrame(rows).set_index("setup").round(1)
    table["vs three copies"] = (table["MiB"] / table.loc["three full role models (paper)", "MiB"]).round(3)
    return table


def generations(loaded: Loaded, max_new_tokens: int = 24) -> pd.DataFrame:
    """One held-out sample per role: the reference target, the bare base's and α-UMi's greedy outputs."""
    tok = loaded.run.tokenizer
    rows = []
    for role in ROLES:
        sample = loaded.run.heldout[role][0]
        split = sample["completion_mask"].index(1)
        prompt_ids, target_ids = sample["input_ids"][:split], sample["input_ids"][split:]
        prompt = tok.decode(prompt_ids, skip_special_tokens=False)
        adapter = loaded.adapters["alpha-umi"][role]
        rows.append(
            {
                "role": role,
                "reference": tok.decode(target_ids, skip_special_tokens=True)[:120],
                "base, before": probe.generate_ids(loaded.run.model, tok, prompt_ids, None, max_new_tokens),
                "α-UMi, after": probe.generate_ids(loaded.run.model, tok, prompt_ids, adapter, max_new_tokens),
                "prompt ends with": "…" + prompt[-60:].replace("\n", "\\n"),
            }
        )
    return pd.DataFrame(rows).set_index("role")


LOSS_TITLES = {"glpft": "α-UMi (GLPFT); its global stage is the Single-LLM system"}
"""Loss-figure titles per log folder; folders that one system owns use its label (names.SYSTEM_LABELS)."""


def system_of(name: str) -> str:
    """A system name from a system or its log folder (``glpft`` → ``alpha-umi``)."""
    if name in stages.SYSTEM_DIRS:
        return name
    owners = [s for s in ("alpha-umi", *stages.SYSTEM_DIRS) if stages.SYSTEM_DIRS[s] == name]
    if not owners:
        raise KeyError(f"unknown system or log folder {name!r}: one of {', '.join(stages.SYSTEM_DIRS)}")
    return owners[0]


def loss_figure_name(profile: Profile, system: str) -> str:
    """The one file name of a system's loss figure: ``02_loss_<log folder>_<profile>`` (notebooks 02 and 04)."""
    return f"02_loss_{stages.SYSTEM_DIRS[system_of(system)]}_{profile.name}"


def loss_plot(profile: Profile, system: str = "alpha-umi"):
    """Training-loss curves of a system's stages, saved as ``02_loss_<folder>_<profile>`` once there are logs.

    Systems that share a log folder (α-UMi and Single-LLM: ``glpft``) share the figure, byte for byte.
    """
    folder = stages.SYSTEM_DIRS[system_of(system)]
    curves = logs.read_run(profile.name, folder)
    name = LOSS_TITLES.get(folder, SYSTEM_LABELS[system_of(folder)])
    fig = plots.loss_figure(curves, f"Training loss: {name}, {profile.name} profile")
    if any(curves.values()):
        plots.save(fig, loss_figure_name(profile, system))
    return fig


def diagram():
    """The GLPFT picture: stage 1 on the whole task, stage 2 copies into three roles (``02_glpft``)."""
    fig = plots.glpft_figure()
    plots.save(fig, "02_glpft")
    return fig


def load_all(profile: Profile, systems: tuple[str, ...] = TRAINED_SYSTEMS) -> Loaded:
    """Train what is missing or out of date (saying so), then load one base with every system's adapters."""
    for system in systems:
        missing = loading_all.missing_adapters(profile, system)
        if missing:
            print(f"{system}: training {', '.join(missing)} first (missing or out of date)")
            run_system(profile, system)
    return loading_all.load_all(profile, systems)
