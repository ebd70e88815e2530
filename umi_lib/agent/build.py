"""A system's agent from its trained adapters: which adapter plays which role, with the profile's decoding.

Systems: the four trained ones plus ``base`` (the untrained base, zero-shot, with the α-UMi role prompts).
All share one base in memory (:func:`umi_lib.train.loaded.load_all`); only the adapter per role differs.
"""

from __future__ import annotations

import json
from typing import Any

from umi_lib.agent.agents import Agent, GenParams, MultiLLMAgent, SingleLLMAgent
from umi_lib.agent.backends import AdapterBackend
from umi_lib.config import ConfigError, Profile
from umi_lib.names import BACKBONE, ROLES
from umi_lib.train.loaded import Loaded


def role_params(profile: Profile) -> dict[str, GenParams]:
    return {r: GenParams(max_new_tokens=profile.eval.max_new_tokens) for r in (*ROLES, BACKBONE)}


def _role_adapters(system: str, adapters: dict[str, Any] | None) -> dict[str, Any]:
    """Role → adapter for a backend: none for the bare base, the planner's (= global) as single-LLM backbone."""
    if system == "base" or adapters is None:
        return dict.fromkeys(ROLES)
    if system == "single-llm":
        return {"backbone": adapters["planner"]}
    return dict(adapters)


def _agent(system: str, backend: Any, params: dict[str, GenParams], official_role_name: bool = False) -> Agent:
    if system == "single-llm":
        return SingleLLMAgent(backend, params)
    return MultiLLMAgent(backend, params, official_role_name=official_role_name)


def make_agent(loaded: Loaded, profile: Profile, system: str) -> Agent:
    """The agent of ``system`` over the shared base (``base``: no adapter, α-UMi prompts)."""
    e, run = profile.eval, loaded.run
    adapters = _role_adapters(system, None if system == "base" else loaded.adapters[system])
    backend = AdapterBackend(run.model, run.tokenizer, adapters, e.batch_size, e.max_input_tokens,
                             prefix_reuse=e.prefix_reuse, cache_tokens=e.prefix_cache_tokens)  # fmt: skip
    return _agent(system, backend, role_params(profile), e.official_role_name)


def make_vllm_agent(profile: Profile, system: str) -> Agent:
    """The agent of ``system`` on vLLM with multi-LoRA (GPU; the adapters are the folders notebook 02 saved)."""
    from umi_lib.agent.backends import VLLMBackend
    from umi_lib.train import stages
    from umi_lib.train.bases import resolve_base

    folders, rank = None, 64
    if system != "base":
        roles, folder = stages.ROLE_ADAPTERS[system], stages.system_dir(profile, system)
        configs = {a: folder / a / "adapter_config.json" for a in set(roles.values())}
        for adapter, config in configs.items():
            if not config.is_file():
                raise ConfigError(
                    f"{system}: no trained adapter at {folder / adapter}; run `umi train --system {system}`"
                )
        folders = {role: str(folder / a) for role, a in roles.items()}
        rank = max(json.loads(c.read_text())["r"] for c in configs.values())
    # vLLM's prefix cache is keyed by the LoRA too, so the roles never share cached blocks.
    backend = VLLMBackend(resolve_base(profile.base_model), _role_adapters(system, folders),
                          profile.eval.max_input_tokens, rank,
                          engine_args={"enable_prefix_caching": profile.eval.prefix_reuse})  # fmt: skip
    return _agent(system, backend, role_params(profile), profile.eval.official_role_name)


def endpoint_name(model: str) -> str:
    """``endpoint_<model>`` with the characters a file name cannot hold replaced."""
    return "endpoint_" + "".join(c if c.isalnum() or c in "-_." else "_" for c in model)


def make_endpoint_agent(
    profile: Profile,
    base_url: str,
    model: str | None,
    models: dict[str, str] | None = None,
    tokenizer: str | None = None,
) -> tuple[MultiLLMAgent, str]:
    """``(agent, model name)`` of an OpenAI-compatible endpoint with the α-UMi role prompts: one ``model`` for every
    role, or ``models`` per role. Prompts keep their last ``eval.max_input_tokens`` tokens as the official collator
    does, counted with ``tokenizer`` (default: the model's, if available locally), and every role output stops at
    ``</s>`` as the official models stop at their end-of-sequence token."""
    import dataclasses
    import os

    from umi_lib import prompts as P
    from umi_lib.agent.backends import OpenAIBackend, endpoint_tokenizer

    models = dict(models or {})
    model = model or models.get("planner")
    if not model:
        raise ConfigError("--endpoint needs --model NAME (every role) or --models planner=A,caller=B,summarizer=C")
    backend = OpenAIBackend(base_url, model, os.environ.get("OPENAI_API_KEY", ""), models=models,
                            tokenizer=endpoint_tokenizer(tokenizer or model),
                            max_input_tokens=profile.eval.max_input_tokens)  # fmt: skip
    params = {r: dataclasses.replace(p, stop=(P.EOS,)) for r, p in role_params(profile).items()}
    return MultiLLMAgent(backend, params, official_role_name=profile.eval.official_role_name), model
