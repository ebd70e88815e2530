"""One base in memory with every trained adapter attached: how three roles (and four systems) share a model.

:func:`load_all` loads the base once and attaches each trained adapter under a system-qualified name
(``glpft:planner``, ``one-stage:caller``, …). Switching a role is then ``set_adapter``, never a second copy of
the base. It never trains: a missing adapter is an error that names the command which trains it.
"""

from __future__ import annotations

from dataclasses import dataclass

from umi_lib.config import Profile
from umi_lib.names import TRAINED_SYSTEMS
from umi_lib.train import samples, stages
from umi_lib.train.bases import ModelError
from umi_lib.train.recipes import load_recipe


@dataclass
class Loaded:
    """One base in memory with every trained adapter as ``<system folder>:<adapter>``."""

    run: stages.SystemRun
    adapters: dict[str, dict[str, str]]  # system -> role -> adapter name in the model


def missing_adapters(profile: Profile, system: str) -> list[str]:
    """Adapters of ``system`` that have not been trained (or whose inputs changed since), sorted."""
    adapters = set(stages.ROLE_ADAPTERS[system].values())
    return sorted(a for a in adapters if not stages.stage_is_current(profile, system, a))


def load_all(profile: Profile, systems: tuple[str, ...] = TRAINED_SYSTEMS) -> Loaded:
    """Load the base once and attach the trained adapters of ``systems``.

    Raises :class:`ModelError` naming ``umi train`` when an adapter is missing or out of date.
    """
    from umi_lib.train.loading import load_base

    for system in systems:
        missing = missing_adapters(profile, system)
        if missing:
            folder = stages.system_dir(profile, system)
            raise ModelError(
                f"{system}: adapter {', '.join(missing)} missing or out of date in {folder};"
                f" run `umi train --profile {profile.name} --system {system}` (or notebook 02)"
            )
    model, tok, precision = load_base(profile.base_model, load_recipe(profile.name, "global").quantization)
    heldout_keys = stages.profile_heldout(profile)
    data = samples.stage_data(profile, load_recipe(profile.name, "planner"), tok, heldout_keys)
    run = stages.SystemRun("all", stages.system_dir(profile, "alpha-umi").parent, model, tok, precision, data.heldout)
    adapters: dict[str, dict[str, str]] = {}
    for system in systems:
        folder = stages.system_dir(profile, system)
        adapters[system] = {}
        for role, adapter in stages.ROLE_ADAPTERS[system].items():
            name = f"{stages.SYSTEM_DIRS[system]}:{adapter}"
            if name not in getattr(run.model, "peft_config", {}):
                run.model = stages.load_adapter(run.model, folder / adapter, name)
            adapters[system][role] = name
    return Loaded(run, adapters)
