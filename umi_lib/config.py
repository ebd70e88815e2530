"""Profiles: one YAML file per profile under ``configs/profiles/``, parsed into documented dataclasses.

A profile says which base model to use and how much data and compute a run may take. Unknown keys and
wrong types are errors with the file name, never silently ignored.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from umi_lib.names import SYSTEMS
from umi_lib.paths import repo_root

PROFILES = ("smoke", "cpu", "colab-t4", "gpu-7b")
DEFAULT_PROFILE = "cpu"


class ConfigError(ValueError):
    """A recipe or profile file is malformed (message names the file and the key)."""


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each dataclass field (the litgpt style every config here follows)."""
    import ast
    import inspect
    import textwrap

    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
    docs = {}
    for node, nxt in zip(body, body[1:], strict=False):
        doc = nxt.value.value if isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) else None
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(doc, str):
            docs[node.target.id] = " ".join(doc.split()).replace("``", "")
    return docs


def settings_rows(obj: Any, prefix: str = "") -> list[tuple[str, str, str]]:
    """``(setting, value, meaning)`` for every field, nested configs as dotted names; None shows as "–"."""
    rows, docs = [], field_docs(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            rows.extend(settings_rows(value, f"{prefix}{f.name}."))
            continue
        text = "–" if value is None else ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        rows.append((prefix + f.name, text, docs.get(f.name, "")))
    return rows


class _ShownAsTable:
    """In Jupyter, a config renders as a table of its settings with what each one means."""

    def _repr_html_(self) -> str:
        import pandas as pd

        table = pd.DataFrame(settings_rows(self), columns=["setting", "value", "meaning"]).set_index("setting")
        return table.to_html()


@dataclass
class DataConfig(_ShownAsTable):
    """Which bundled (or downloaded) data a profile converts; paths are relative to ``data/`` or absolute."""

    answers_dir: str = "toolbench/data_example/answer"
    """Raw ToolBench DFS answer files: a folder holding ``G1_answer/``, ``G2_answer/``, ``G3_answer/``."""
    exclude_ids: str | None = "stabletoolbench/solvable_queries/test_query_ids"
    """Folder of ``G*_<set>.json`` test-id files; those queries never enter training data."""
    stage1_files: list[str] = field(default_factory=lambda: ["alpha_umi/train-example/raw_data/raw_data_stage_1.json"])
    """Extra stage-1 files (``{"tools","instruction","chains"}``) converted alongside the raw answers."""
    test_file: str = "alpha_umi/test/out_of_domain.json"
    """Stage-2 test file for static evaluation (the official out-of-domain set: 400 trajectories, 1547 steps)."""
    compat: bool = False
    """Reproduce the official scripts' quirks byte for byte instead of fixing them (see the README table)."""

    def resolve(self, relative: str) -> Path:
        from umi_lib.paths import data_path

        return Path(relative) if os.path.isabs(relative) else data_path(relative)


@dataclass
class EvalConfig(_ShownAsTable):
    """Static evaluation size and decoding (notebook 03, ``umi eval static``)."""

    limit: int | None = None
    """Evaluate at most this many steps (whole trajectories in a seeded order); None = all 1547."""
    per_trajectory: int | None = None
    """At most this many seeded steps per trajectory; None = every step."""
    max_input_tokens: int = 3750
    """Prompts keep their last this many tokens (the official inference script used 3750)."""
    max_new_tokens: int = 512
    """New tokens per role output (the official pipeline: 512)."""
    batch_size: int = 8
    """Prompts per generate call (length-sorted, left-padded)."""
    official_role_name: bool = False
    """Write the current step into the caller's and summarizer's history as ``planner: …``, as the official static
    pipeline does (a role name never seen in training); False writes ``assistant: …`` as in training."""
    prefix_reuse: bool = True
    """Reuse the key/value cache of a trajectory's (or rollout's) previous prompt to the same role, prefilling only
    the tokens after their common prefix (same greedy outputs, less prefill; vLLM: its automatic prefix caching).
    False prefills every prompt whole, in length-sorted padded batches."""
    prefix_cache_tokens: int = 32768
    """Cap on the prompt tokens whose keys and values are kept for reuse, least recently used dropped first. Memory
    per token = layers x 2 x kv_heads x head_dim x bytes: 46 KB for SmolLM2-135M in fp32 (1.5 GB at the cap),
    512 KB for a 7B Llama in bf16 (16 GB). A decoding batch holds its own stitched copy on top (``batch_size`` x
    its longest prompt), briefly twice while it is built."""


@dataclass
class RealtimeConfig(_ShownAsTable):
    """Real-time rollouts against the offline replay environment (notebook 03, ``umi eval realtime``)."""

    queries: int | None = None
    """Roll out at most this many queries (seeded order); None = every query of ``groups``."""
    groups: list[str] = field(default_factory=lambda: ["G1_category", "G2_category"])
    """StableToolBench test groups; the default two are the ones the bundled recordings cover
    (``docs/realtime.md#coverage-of-the-test-groups``)."""
    method: str = "dfsdt"
    """``dfsdt`` (depth-first, width 2, backtracking) or ``react`` (one chain)."""
    max_depth: int = 4
    """Agent steps per chain (ToolBench: 12 tree levels = 4 steps)."""
    max_model_steps: int = 200
    """Agent steps per query over all branches (ToolBench's max_query_count)."""
    max_seconds: float | None = None
    """Wall-time budget per query (batched queries share the clock); None = no limit."""
    max_tokens: int | None = None
    """Approximate tokens (characters / 4) of histories and outputs per query; None = no limit."""
    systems: list[str] = field(default_factory=lambda: [s for s in SYSTEMS if s != "base"])
    """Which trained systems notebook 03 rolls out."""
    max_new_tokens: int | None = None
    """New tokens per role output in rollouts; None = ``eval.max_new_tokens`` (calls need room for arguments)."""

    def __post_init__(self) -> None:
        if self.method not in ("dfsdt", "react"):
            raise ConfigError(f"realtime.method {self.method!r}: expected dfsdt or react")
        if self.max_depth < 1 or self.max_model_steps < 1:
            raise ConfigError("realtime.max_depth and realtime.max_model_steps must be at least 1")


BFCL_CATEGORIES = ["multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param", "multi_turn_long_context"]


@dataclass
class BfclConfig(_ShownAsTable):
    """The agents in BFCL's executable multi-turn world (``umi eval bfcl``, ``docs/bfcl.md``)."""

    categories: list[str] = field(default_factory=lambda: list(BFCL_CATEGORIES))
    """BFCL v4 multi-turn categories to run (200 tasks each): base, miss_func, miss_param, long_context."""
    limit: int | None = None
    """At most this many tasks per category, the first ones in BFCL's file order (a fixed subset); None = all."""
    max_steps_per_turn: int = 20
    """BFCL's step limit (``MAXIMUM_STEP_LIMIT``): a turn whose call steps exceed it ends the task, which then
    fails, as in BFCL; the model-free references run without it."""
    max_observation_chars: int | None = 1024
    """Execution results the agent reads are cut here, plus ``...`` (α-UMi's real-time agent: 1024); None = whole."""
    max_new_tokens: int | None = None
    """New tokens per role output; None = ``eval.max_new_tokens`` (calls need room for their arguments)."""
    systems: list[str] = field(default_factory=lambda: [s for s in SYSTEMS if s != "base"])
    """Which systems a notebook runs in BFCL's world (``umi eval bfcl --system`` takes any one)."""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.categories) - set(BFCL_CATEGORIES))
        if unknown or not self.categories:
            raise ConfigError(f"bfcl.categories: unknown {unknown}; known: {', '.join(BFCL_CATEGORIES)}")
        if self.max_steps_per_turn < 1 or (self.limit is not None and self.limit < 1):
            raise ConfigError("bfcl.max_steps_per_turn and bfcl.limit must be at least 1")


@dataclass
class Profile(_ShownAsTable):
    """A named run size: base model, token budget, data. See the README's profile table."""

    name: str
    """Profile name; runs are written under ``runs/<name>/``."""
    description: str
    """One line for humans: where this profile is meant to run and what it is for."""
    base_model: str
    """Registry name (``tiny-random``, ``smollm2-135m``), a Hugging Face id, or a local folder."""
    max_tokens: int
    """Token budget of one training sample (prompt + target + EOS); longer samples lose their oldest turns."""
    seed: int = 42
    """Seed for every random choice of the run."""
    data: DataConfig = field(default_factory=DataConfig)
    """What data to convert and evaluate on."""
    eval: EvalConfig = field(default_factory=EvalConfig)
    """How much of the test set static evaluation covers, and how it decodes."""
    realtime: RealtimeConfig = field(default_factory=RealtimeConfig)
    """Real-time rollouts: which queries, which search, which budgets (decoding as in ``eval``)."""
    bfcl: BfclConfig = field(default_factory=BfclConfig)
    """BFCL's multi-turn tasks: which categories, how many tasks, the step limit (decoding as in ``eval``)."""

    def __post_init__(self) -> None:
        if self.max_tokens < 64:
            raise ConfigError(f"profile {self.name!r}: max_tokens {self.max_tokens} is below 64")


def _check_type(value: Any, hint: Any, where: str) -> Any:
    """Validate a YAML value against a dataclass field type (enough typing for our fields)."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_type(value, arg, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} is not {hint}")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        (inner,) = typing.get_args(hint)
        return [_check_type(v, inner, f"{where}[{k}]") for k, v in enumerate(value)]
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and (type(value) is not hint):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {type(value).__name__} {value!r}")
    return value


def from_dict(cls: type, data: Any, where: str) -> Any:
    """Build dataclass ``cls`` from a mapping; unknown keys, missing keys and wrong types raise ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(names))}")
    kwargs = {k: _check_type(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def profile_path(name: str) -> Path:
    return repo_root() / "configs" / "profiles" / f"{name}.yaml"


def load_profile(name_or_path: str | os.PathLike | None = None) -> Profile:
    """Load a profile by name (``smoke``/``cpu``/``colab-t4``/``gpu-7b``) or from a YAML path.

    With no argument the ``UMI_PROFILE`` environment variable decides (default ``cpu``), which is how the
    test suite runs every notebook in ``smoke`` mode.
    """
    name_or_path = name_or_path or os.environ.get("UMI_PROFILE", DEFAULT_PROFILE)
    path = Path(name_or_path)
    if not path.suffix:
        path = profile_path(str(name_or_path))
    return from_dict(Profile, load_yaml(path, f"known profiles: {', '.join(PROFILES)}"), str(path))


def load_yaml(path: Path, known: str) -> Any:
    """A YAML file's content; a missing file or bad YAML is a ConfigError naming the file (and ``known``)."""
    if not path.is_file():
        raise ConfigError(f"no such file {path} ({known})")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
