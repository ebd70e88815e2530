"""Static evaluation of the trained systems (notebook 03, ``umi eval static``): build the agent, run, view.

Systems: the four of notebook 02 plus ``base`` (the untrained base, zero-shot, with the α-UMi role prompts).
All of them share one base in memory (:func:`umi_lib.glpft.load_all`); only the adapter per role differs.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

import pandas as pd

from umi_lib import glpft
from umi_lib.agent import AdapterBackend, Agent, GenParams, MultiLLMAgent, SingleLLMAgent
from umi_lib.config import ConfigError, Profile
from umi_lib.evaluate import EvalRun, run_static, select_steps
from umi_lib.metrics import parse_output, score_item
from umi_lib.paths import runs_dir
from umi_lib.results import evaluation_steps

SYSTEMS = ("base", "single-llm", "one-stage", "multi-task", "alpha-umi")


def eval_steps(profile: Profile) -> list[dict[str, Any]]:
    """The profile's fixed subset of the out-of-domain steps (``eval.limit`` / ``eval.per_trajectory``)."""
    return select_steps(evaluation_steps(profile), profile.eval.limit, profile.eval.per_trajectory, profile.seed)


ROLES = ("planner", "caller", "summarizer")


def _params(profile: Profile) -> dict[str, GenParams]:
    return {r: GenParams(max_new_tokens=profile.eval.max_new_tokens) for r in (*ROLES, "backbone")}


def _role_adapters(system: str, adapters: dict[str, Any] | None) -> dict[str, Any]:
    """Role → adapter for a backend: none for the bare base, the planner's (= global) as single-LLM backbone."""
    if system == "base" or adapters is None:
        return dict.fromkeys(ROLES)
    if system == "single-llm":
        return {"backbone": adapters["planner"]}
    return dict(adapters)


def _agent(system: str, backend: Any, params: dict[str, GenParams]) -> Agent:
    return SingleLLMAgent(backend, params) if system == "single-llm" else MultiLLMAgent(backend, params)


def make_agent(loaded: glpft.Loaded, profile: Profile, system: str) -> Agent:
    """The agent of ``system`` over the shared base (``base``: no adapter, α-UMi prompts)."""
    e, run = profile.eval, loaded.run
    adapters = _role_adapters(system, None if system == "base" else loaded.adapters[system])
    backend = AdapterBackend(run.model, run.tokenizer, adapters, e.batch_size, e.max_input_tokens)
    return _agent(system, backend, _params(profile))


def make_vllm_agent(profile: Profile, system: str) -> Agent:
    """The agent of ``system`` on vLLM with multi-LoRA (GPU; the adapters are the folders notebook 02 saved)."""
    from umi_lib import train
    from umi_lib.agent import VLLMBackend
    from umi_lib.models import resolve_base

    folders, rank = None, 64
    if system != "base":
        roles, folder = train.ROLE_ADAPTERS[system], train.system_dir(profile, system)
        configs = {a: folder / a / "adapter_config.json" for a in set(roles.values())}
        for adapter, config in configs.items():
            if not config.is_file():
                raise ConfigError(
                    f"{system}: no trained adapter at {folder / adapter}; run `umi train --system {system}`"
                )
        folders = {role: str(folder / a) for role, a in roles.items()}
        rank = max(json.loads(c.read_text())["r"] for c in configs.values())
    backend = VLLMBackend(resolve_base(profile.base_model), _role_adapters(system, folders),
                          profile.eval.max_input_tokens, rank)  # fmt: skip
    return _agent(system, backend, _params(profile))


def evaluate_system(
    loaded: glpft.Loaded | None,
    profile: Profile,
    system: str,
    steps: Sequence[dict[str, Any]],
    backend: str = "transformers",
) -> EvalRun:
    """Predictions and metrics of ``system`` on ``steps`` (``backend="vllm"``: no ``loaded`` base needed)."""
    agent = make_vllm_agent(profile, system) if backend == "vllm" else make_agent(loaded, profile, system)
    meta = {"system": system, "backend": backend, "limit": profile.eval.limit,
            "per_trajectory": profile.eval.per_trajectory,
            "decoding": "greedy", "max_input_tokens": profile.eval.max_input_tokens}  # fmt: skip
    base = runs_dir(profile.name)
    return run_static(agent, steps, f"static_{system}", base / "predictions", base / "metrics", seed=profile.seed,
                      meta=meta)  # fmt: skip


def summary(runs: Sequence[EvalRun]) -> pd.DataFrame:
    """Table-1 columns ×100 per system, with steps, seconds and the agent's counts."""
    rows = []
    for r in runs:
        m = r.metrics
        row = {"system": r.name.removeprefix("static_"), "steps": r.steps, "steps/s": round(r.steps / r.seconds, 2)}
        row.update({k: round(100 * m[k], 1) for k in ("plan_em", "action_em", "hallu_rate", "f1", "rouge")})
        row["unparseable"] = sum(v for k, v in r.counts.items() if "without" in k or "unparseable" in k)
        rows.append(row)
    return pd.DataFrame(rows).set_index("system")


def _cell(text: str, ok: bool | None) -> str:
    color = "" if ok is None else ("#e6f4e6" if ok else "#f8e0e0")
    return f'<td style="background:{color};vertical-align:top;font-size:80%">{html.escape(text[:160])}</td>'


def trajectory_view(runs: Sequence[EvalRun], steps: Sequence[dict[str, Any]], n: int = 4):
    """HTML: for ``n`` steps, the reference and each system's plan, action and answer; green right, red wrong."""
    from IPython.display import HTML

    from umi_lib.formats import load_json

    preds = {r.name.removeprefix("static_"): load_json(r.predictions) for r in runs}
    head = "<tr><th>step</th><th>reference</th>" + "".join(f"<th>{html.escape(s)}</th>" for s in preds) + "</tr>"
    rows = []
    for k, step in enumerate(steps[:n]):
        ref = parse_output(step["reference"])
        last = step["history"].rsplit("observation: ", 1)[-1][:120] if "observation: " in step["history"] else ""
        ref_text = f"{ref.plan}: {ref.action or ''} {ref.action_input or ''}{ref.answer or ''}"
        cells = [
            f"<td>#{step.get('trajectory')}.{step.get('step')}<br><i>{html.escape(last)}</i></td>",
            _cell(ref_text, None),
        ]
        for items in preds.values():
            item = items[k]
            p = parse_output(item["predictions"])
            s = score_item(item)
            ok = s.values["plan_em"] == 1.0 and s.values.get("action_em", 1.0) == 1.0
            thought = item["predictions"].split("</s>")[0].removeprefix("asssitant: ")
            text = f"{p.plan}: {p.action or ''} {p.action_input or ''}{p.answer or ''} | thought: {thought}"
            cells.append(_cell(text, ok))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return HTML(f"<table>{head}{''.join(rows)}</table>")


def evaluate_endpoint(profile: Profile, base_url: str, model: str | None, steps: Sequence[dict[str, Any]]) -> EvalRun:
    """Zero-shot evaluation of an OpenAI-compatible endpoint with the α-UMi role prompts (one model, 3 roles)."""
    import os

    from umi_lib.agent import OpenAIBackend

    if not model:
        raise ConfigError("--endpoint needs --model")
    backend = OpenAIBackend(base_url, model, os.environ.get("OPENAI_API_KEY", ""))
    agent = MultiLLMAgent(backend, _params(profile))
    base = runs_dir(profile.name)
    name = "static_endpoint_" + "".join(c if c.isalnum() or c in "-_." else "_" for c in model)
    run = run_static(agent, steps, name, base / "predictions", base / "metrics", seed=profile.seed,
                     meta={"endpoint": base_url, "model": model})  # fmt: skip
    run.counts.update({f"http_{k}": v for k, v in backend.errors.items()})
    return run


def evaluate_released(
    profile: Profile, steps: Sequence[dict[str, Any]], models: dict[str, str] | None = None
) -> EvalRun:
    """The released full α-UMi models (one per role, loaded one at a time; needs the Hub or local copies)."""
    from umi_lib import agent as A

    models = dict(models or A.RELEASED)
    e = profile.eval
    backend = A.ModelPerRoleBackend(models, e.batch_size, e.max_input_tokens)
    base = runs_dir(profile.name)
    return run_static(MultiLLMAgent(backend, _params(profile)), steps, "static_released", base / "predictions",
                      base / "metrics", seed=profile.seed, meta={"models": models})  # fmt: skip
