"""Static evaluation (Table 1): every selected test step, gold history, agent prediction, official scoring.

Steps are processed in chunks; within a chunk the agent batches all planner prompts, then all caller
prompts, then all summarizer prompts. Finished chunks are appended to ``<predictions>.partial.jsonl``, so a
crashed run restarts at the first unfinished chunk. The final prediction file is in the official format
(``umi score`` reads it) and its metrics go to ``runs/<profile>/metrics/<name>.json``.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from umi_lib import manifest
from umi_lib.agent.agents import Agent, MultiLLMAgent, prefill_stats, release_streams, stream_of
from umi_lib.agent.build import endpoint_name, make_agent, make_endpoint_agent, make_vllm_agent, role_params
from umi_lib.config import Profile
from umi_lib.data.jsonio import atomic_write_text, dump_json_list
from umi_lib.evaluation.score import score_file
from umi_lib.paths import runs_dir
from umi_lib.progress import tqdm
from umi_lib.train.loaded import Loaded

KEEP = ("tools", "reference", "trajectory", "step", "plan")
EVAL_FORMAT = 1  # bump when predictions change for the same inputs


def select_steps(
    steps: Sequence[dict[str, Any]], limit: int | None = None, per_trajectory: int | None = None, seed: int = 0
) -> list[dict[str, Any]]:
    """Sub-sample: at most ``per_trajectory`` seeded steps of each trajectory, then the first ``limit``
    trajectories' worth in a seeded order (whole trajectories, so the bootstrap stays meaningful)."""
    by_traj: dict[Any, list[dict[str, Any]]] = {}
    for s in steps:
        by_traj.setdefault(s.get("trajectory"), []).append(s)
    rng = random.Random(seed)
    keys = list(by_traj)
    rng.shuffle(keys)
    chosen: list[dict[str, Any]] = []
    for key in keys:
        group = by_traj[key]
        if per_trajectory is not None and len(group) > per_trajectory:
            group = sorted(rng.sample(group, per_trajectory), key=lambda s: s.get("step", 0))
        chosen.extend(group)
        if limit is not None and len(chosen) >= limit:
            return chosen[:limit]
    return chosen


@dataclass
class EvalRun:
    """Where a static evaluation wrote its files, and what happened."""

    name: str
    predictions: Path
    metrics_file: Path
    metrics: dict[str, Any]
    steps: int
    seconds: float
    counts: Counter = field(default_factory=Counter)
    prefill: dict[str, float] = field(default_factory=dict)
    """The backend's tallies (:func:`umi_lib.agent.prefix_cache.count_prompt`): prompts, prompt tokens, tokens
    prefilled and reused, cut prompts; empty for backends that keep none (endpoints, vLLM)."""


def _done_chunks(partial: Path) -> dict[int, list[str]]:
    done: dict[int, list[str]] = {}
    if not partial.exists():
        return done
    for line in partial.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
            done[int(rec["chunk"])] = [str(p) for p in rec["predictions"]]
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line after a crash: that chunk runs again
    return done


def run_static(
    agent: Agent,
    steps: Sequence[dict[str, Any]],
    name: str,
    pred_dir: Path,
    metrics_dir: Path,
    chunk_size: int = 64,
    seed: int = 0,
    resamples: int = 1000,
    meta: dict[str, Any] | None = None,
    progress: bool = True,
    inputs: dict[str, Any] | None = None,
) -> EvalRun:
    """Predict every step (resuming finished chunks), write the prediction file and its metrics.

    Finished chunks are reused only if they were made from the same ``inputs`` (the agent's settings, the
    steps, and whatever the caller adds, e.g. the adapters' manifests); otherwise they are discarded, saying why.
    """
    pred_path = Path(pred_dir) / f"{name}.json"
    partial = pred_path.with_suffix(".partial.jsonl")
    partial.parent.mkdir(parents=True, exist_ok=True)
    run_inputs = {"format": EVAL_FORMAT, "steps": manifest.digest([{k: s.get(k) for k in (*KEEP, "input", "history")}
                                                                    for s in steps]),
                  "chunk_size": chunk_size, **agent.settings(), **(inputs or {})}  # fmt: skip
    if partial.exists():
        reasons = manifest.stale_reasons(partial, run_inputs)
        if reasons:
            print(f"{name}: discarding finished chunks of an earlier run ({'; '.join(reasons)})")
            partial.unlink()
    if not partial.exists():
        manifest.write(partial, "evaluation-chunks", run_inputs)
    done = _done_chunks(partial)
    chunks = [steps[k : k + chunk_size] for k in range(0, len(steps), chunk_size)]
    last_chunk = {stream_of(s): c for c, chunk in enumerate(chunks) for s in chunk}
    start = time.perf_counter()
    bar = tqdm(total=len(steps), desc=f"static {name}", unit="step", disable=not progress)
    predictions: list[str] = []
    try:
        for c, chunk in enumerate(chunks):
            if c not in done or len(done[c]) != len(chunk):
                done[c] = agent.predict(chunk)
                with partial.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"chunk": c, "predictions": done[c]}) + "\n")
            release_streams(agent, [t for t, last in last_chunk.items() if last == c])  # no steps left
            predictions.extend(done[c])
            bar.update(len(chunk))
    finally:
        release_streams(agent, None)  # also after a crash: no cached prefix outlives the run
        bar.close()
    items = [{**{k: s[k] for k in KEEP if k in s}, "predictions": p} for s, p in zip(steps, predictions, strict=True)]
    dump_json_list(pred_path, items)
    manifest.write(pred_path, "predictions", run_inputs, **(meta or {}))
    metrics_path = Path(metrics_dir) / f"{name}.json"
    metrics = score_file(pred_path, metrics_path, seed, resamples)
    seconds = time.perf_counter() - start
    prefill = prefill_stats(agent)
    info = {"name": name, "steps": len(steps), "seconds": round(seconds, 1), "agent": dict(agent.counts),
            "prefill": prefill}  # fmt: skip
    atomic_write_text(pred_path.with_suffix(".meta.json"), json.dumps({**info, **(meta or {})}, indent=2) + "\n")
    os.remove(partial)
    manifest.path_for(partial).unlink(missing_ok=True)
    return EvalRun(name, pred_path, metrics_path, metrics, len(steps), seconds, Counter(agent.counts), prefill)


def evaluate_system(
    loaded: Loaded | None,
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
                      meta=meta, inputs=system_inputs(profile, system))  # fmt: skip


def system_inputs(profile: Profile, system: str) -> dict[str, Any]:
    """The base and the trained adapters (their manifests' digests) a system's predictions depend on."""
    from umi_lib.train import stages
    from umi_lib.train.bases import resolve_base

    out: dict[str, Any] = {"base_model": profile.base_model,
                           "base_weights": manifest.weights_fingerprint(resolve_base(profile.base_model))}  # fmt: skip
    if system != "base":
        folder = stages.system_dir(profile, system)
        out["adapters"] = {
            a: manifest.stored_digest(folder / a) for a in sorted(set(stages.ROLE_ADAPTERS[system].values()))
        }
    return out


def evaluate_endpoint(
    profile: Profile,
    base_url: str,
    model: str | None,
    steps: Sequence[dict[str, Any]],
    models: dict[str, str] | None = None,
    tokenizer: str | None = None,
) -> EvalRun:
    """An OpenAI-compatible endpoint with the α-UMi role prompts: one ``model`` for every role, or ``models``
    per role (e.g. the released planner, caller and summarizer served by vLLM).

    Prompts keep their last ``eval.max_input_tokens`` tokens as the official collator does, counted with
    ``tokenizer`` (default: the endpoint's model name, if its tokenizer is available locally), and every role
    output stops at ``</s>`` as the official models stop at their end-of-sequence token.
    """
    agent, model = make_endpoint_agent(profile, base_url, model, models, tokenizer)
    backend = agent.backend
    base = runs_dir(profile.name)
    name = "static_" + endpoint_name(model)
    run = run_static(agent, steps, name, base / "predictions", base / "metrics", seed=profile.seed,
                     meta={"endpoint": base_url, "model": model, "models": dict(models or {}),
                           "tokenizer": getattr(backend.tokenizer, "name_or_path", None)})  # fmt: skip
    run.counts.update({f"http_{k}": v for k, v in backend.errors.items()})
    return run


def evaluate_released(
    profile: Profile, steps: Sequence[dict[str, Any]], models: dict[str, str] | None = None
) -> EvalRun:
    """The released full α-UMi models (one per role, loaded one at a time; needs the Hub or local copies)."""
    from umi_lib.agent import backends

    models = dict(models or backends.RELEASED)
    e = profile.eval
    backend = backends.ModelPerRoleBackend(models, e.batch_size, e.max_input_tokens)
    base = runs_dir(profile.name)
    agent = MultiLLMAgent(backend, role_params(profile), official_role_name=profile.eval.official_role_name)
    return run_static(agent, steps, "static_released", base / "predictions",
                      base / "metrics", seed=profile.seed, meta={"models": models})  # fmt: skip
