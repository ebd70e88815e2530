"""Training data of a stage: role files → held-out split by trajectory (seeded) → token ids."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from umi_lib import manifest
from umi_lib.config import Profile
from umi_lib.data.jsonio import load_json
from umi_lib.data.roles import ROLE_FILES
from umi_lib.names import ROLES
from umi_lib.train.loading import encode_sample
from umi_lib.train.recipes import StageRecipe


def trajectory_key(sample: dict[str, Any]) -> str:
    """Samples of one trajectory share their first history turn (the user query; truncation keeps it)."""
    history = sample.get("history") or []
    return json.dumps(history[0], sort_keys=True) if history else sample["input"][:500]


def role_samples(profile: Profile, name: str) -> list[dict[str, Any]]:
    """The profile's ``name`` samples; converts the bundled data first (and says so) when they are missing."""
    return load_json(role_file(profile, name))


def role_file(profile: Profile, name: str):
    """The profile's role file ``name``, converted first (saying why) when missing or out of date."""
    from umi_lib.data import profile_data

    reasons = profile_data.data_is_current(profile)
    if reasons:
        print(f"converting {profile.name}'s data first ({'; '.join(reasons)}): what notebook 01 does")
        profile_data.prepare_data(profile, progress=False)
    return profile_data.data_dir(profile) / ROLE_FILES[name]


def data_digest(profile: Profile, names) -> str:
    """Digest of the role files ``names`` (what a stage trains and is evaluated on)."""
    return manifest.digest({n: manifest.file_digest(role_file(profile, n)) for n in sorted(set(names))})


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
