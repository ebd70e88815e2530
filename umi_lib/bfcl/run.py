"""``umi eval bfcl``: an α-UMi system (or a model-free reference) in BFCL's multi-turn world, scored as BFCL does.

One task is a generator (:func:`play`) that yields the step it needs the agent for (``{"tools", "history",
"input", "task", "turn", "step"}``, what :meth:`~umi_lib.agent.agents.Agent.predict` reads) and receives the agent's
prediction string; :func:`drive` batches the pending steps of every task into one ``predict`` call per round, as the
real-time rollouts do (:func:`umi_lib.realtime.search.rollout`). Per user turn: planner → caller → execution → …
until the planner concludes (the summarizer answers) or gives up, or the turn makes more calls than BFCL's step
limit, which, as in BFCL, ends the whole task (``docs/bfcl.md#the-loop``). A call is parsed with the static
evaluator's rules, its arguments as JSON, and checked against the functions of the task's classes
(:func:`umi_lib.bfcl.calls.check_action`) before :class:`~umi_lib.bfcl.world.World` runs it; a rejected call is
shown to the agent as an error observation and never executed. Model output is data: nothing here evaluates it.

Outputs in ``runs/<profile>/bfcl/<system>/``: ``transcripts.jsonl`` (one finished task per line, appended as tasks
finish; a rerun with the same inputs skips them) and ``metrics.json`` (BFCL accuracy with 95% bootstrap intervals,
plus diagnostics), each with a manifest.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from umi_lib import manifest
from umi_lib import prompts as P
from umi_lib.agent.agents import release_streams, stream_of
from umi_lib.bfcl import calls, score, world
from umi_lib.bfcl import tasks as bfcl_tasks
from umi_lib.bfcl.agents import tool_list
from umi_lib.bfcl.tasks import BfclTask
from umi_lib.config import ConfigError, Profile
from umi_lib.data.jsonio import atomic_write_text
from umi_lib.evaluation.metrics import CALL, FINISH, parse_output
from umi_lib.progress import tqdm
from umi_lib.realtime.keys import truncate
from umi_lib.realtime.search import node_from_prediction

FORMAT = 1
"""Bump when transcripts change for the same inputs (finished tasks of an older format are run again)."""

CONCLUDED, GAVE_UP, STEP_LIMIT = "concluded", "gave up", "step limit"
"""How a turn ended: the summarizer answered, the planner gave up, or the turn exceeded BFCL's step limit."""

UNKNOWN_KINDS = ("unknown_function", "rejected_name")
"""Rejection kinds that mean "no such function offered" (the others, ``bad_arguments`` and ``too_large``, are
argument errors; :data:`umi_lib.bfcl.calls.REJECTION_KINDS`)."""


@dataclass(frozen=True)
class LoopSettings:
    """What the loop allows an agent, beyond the agent's own settings (recorded in every manifest)."""

    max_steps_per_turn: int | None = 20
    """BFCL's ``MAXIMUM_STEP_LIMIT``: a turn whose call steps exceed it ends the task; None: no limit."""
    max_observation_chars: int | None = 1024
    """An execution result longer than this is cut and ``...`` appended (α-UMi's real-time agent: 1024)."""


def additional_functions_message() -> str:
    """BFCL's user message of a turn that only adds functions back (``multi_turn_miss_func``)."""
    from bfcl_eval.constants.default_prompts import DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_FC

    return DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_FC


def rejection_text(kind: str, detail: str) -> str:
    """The observation the agent reads after a rejected call (a JSON error, like a tool's error envelope)."""
    return json.dumps({"error": f"{kind}: {detail}" if detail else kind})


def check(action: str, arguments: str, allowed: Mapping[str, dict]) -> tuple[calls.Call | None, str, str]:
    """``(call, "", "")`` for a valid call, else ``(None, kind, message)``: the name must be in ``allowed`` and the
    arguments a JSON object of its parameters (:func:`~umi_lib.bfcl.calls.check_action`)."""
    outcome = calls.check_action(action, arguments, allowed)
    if isinstance(outcome, calls.Call):
        return outcome, "", ""
    return None, outcome.kind, outcome.message


def play(task: BfclTask, settings: LoopSettings) -> Generator[dict[str, Any], str, dict[str, Any]]:
    """One task's conversation; returns its transcript (``docs/bfcl.md#transcripts``)."""
    env = world.World(task)
    functions = list(task.functions)
    # BFCL executes any public method of the task's classes, offered or not (docs/bfcl.md#functions-not-offered)
    allowed = calls.allowed_functions([d for c in task.involved_classes for d in bfcl_tasks.function_docs(c)])
    record: dict[str, Any] = {"id": task.id, "category": task.category, "turns": [], "forced_quit": False}
    history: list[tuple[str, str]] = []
    for t, messages in enumerate(task.turns):
        added = list(task.added_functions.get(t, []))
        functions += added
        if added and not messages:
            messages = [{"role": "user", "content": additional_functions_message()}]
        tools, offered = tool_list(functions), {f["name"] for f in functions}
        turn: dict[str, Any] = {"user": [m["content"] for m in messages],
                                "added_functions": [f["name"] for f in added], "steps": [], "ended": ""}  # fmt: skip
        record["turns"].append(turn)
        history += [(P.ROLE_USER, m["content"]) for m in messages]
        n_calls = 0
        while True:
            text = "".join(P.render_turn(role, value) for role, value in history)
            prediction = yield {"tools": tools, "history": text, "input": P.fill("planner", tools, text),
                                "task": task.id, "turn": t, "step": n_calls}  # fmt: skip
            node = node_from_prediction(prediction, n_calls)
            step: dict[str, Any] = {"prediction": prediction, "plan": node.plan}
            turn["steps"].append(step)
            if node.plan != CALL:
                history += node.turns()
                turn["ended"] = CONCLUDED if node.plan == FINISH else GAVE_UP
                if node.plan == FINISH:
                    turn["answer"] = (parse_output(prediction).answer or "").strip()
                break
            call, kind, detail = check(node.action, node.arguments, allowed)
            step.update(action=node.action, arguments=node.arguments)
            if call is not None:
                result = env.call(call)
                step["call"] = {"name": call.name, "args": call.args}
                if call.name not in offered:
                    step["not_offered"] = True
            else:
                result = rejection_text(kind, detail)
                step["rejection"] = kind
            step["result"] = result
            limit = settings.max_observation_chars
            node.observation = result if limit is None else truncate(result, limit)
            history += node.turns()
            n_calls += 1
            if settings.max_steps_per_turn is not None and n_calls > settings.max_steps_per_turn:
                turn["ended"], record["forced_quit"] = STEP_LIMIT, True
                return record
    return record


def drive(
    agent: Any,
    tasks: Sequence[BfclTask],
    settings: LoopSettings,
    on_done: Callable[[dict[str, Any]], None] | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Play every task at once: the pending steps of all tasks go to one ``agent.predict`` call per round."""
    gens = {k: play(task, settings) for k, task in enumerate(tasks)}
    pending: dict[int, dict[str, Any]] = {}
    done: dict[int, dict[str, Any]] = {}
    bar = tqdm(total=len(tasks), desc="bfcl", unit="task", disable=not progress)

    def advance(k: int, prediction: str | None) -> None:
        try:
            pending[k] = next(gens[k]) if prediction is None else gens[k].send(prediction)
        except StopIteration as stop:
            done[k] = stop.value
            if k in pending:  # its cached prompt prefixes are of no further use
                release_streams(agent, [stream_of(pending.pop(k))])
            if on_done is not None:
                on_done(stop.value)
            bar.update(1)

    for k in gens:
        advance(k, None)
    try:
        while pending:
            order = list(pending)
            for k, prediction in zip(order, agent.predict([pending[k] for k in order]), strict=True):
                advance(k, prediction)
    finally:
        release_streams(agent, [stream_of(step) for step in pending.values()])  # left only when a step raised
        bar.close()
    return [done[k] for k in sorted(done)]


def model_turns(record: Mapping[str, Any]) -> list[list[list[calls.Call]]]:
    """The executed calls of a transcript, as BFCL scores them: turns → steps → calls (one call per step here;
    rejected calls changed nothing and are left out; a force-quit task has fewer turns than the task)."""
    return [[[calls.Call(s["call"]["name"], s["call"]["args"])] for s in turn["steps"] if "call" in s]
            for turn in record["turns"]]  # fmt: skip


def diagnostics(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What the agent did, over every transcript: steps, calls, rejections by kind, how turns ended."""
    steps = [s for r in records for t in r["turns"] for s in t["steps"]]
    rejected = Counter(s["rejection"] for s in steps if "rejection" in s)
    unknown = sum(v for k, v in rejected.items() if k in UNKNOWN_KINDS)
    ended = Counter(t["ended"] for r in records for t in r["turns"])
    n_turns = sum(len(r["turns"]) for r in records)
    return {"tasks": len(records), "turns_played": n_turns, "model_steps": len(steps),
            "calls_executed": sum("call" in s for s in steps),
            "calls_not_offered": sum(bool(s.get("not_offered")) for s in steps),
            "invalid_calls": sum(rejected.values()), "unknown_functions": unknown,
            "argument_errors": sum(rejected.values()) - unknown, "rejections": dict(sorted(rejected.items())),
            "turns_ended": {k: ended.get(k, 0) for k in (CONCLUDED, GAVE_UP, STEP_LIMIT)},
            "tasks_force_quit": sum(bool(r["forced_quit"]) for r in records),
            "model_steps_per_turn": round(len(steps) / n_turns, 3) if n_turns else None}  # fmt: skip


@dataclass
class BfclRun:
    """Where a BFCL run wrote its files, and what happened."""

    system: str
    folder: Path
    transcripts: list[dict[str, Any]]
    results: list[score.TaskResult]
    metrics: dict[str, Any]
    resumed: int
    seconds: float


def _finished(path: Path) -> dict[str, dict[str, Any]]:
    """Transcripts already written, by task id (a torn last line after a crash is dropped: that task runs again)."""
    out: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("id"), str) and isinstance(rec.get("turns"), list):
            out[rec["id"]] = rec
    return out


def _line(record: Mapping[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, default=str) + "\n"


def run_tasks(agent: Any, tasks: Sequence[BfclTask], system: str, folder: Path, settings: LoopSettings | None = None,
              inputs: Mapping[str, Any] | None = None, seed: int = 0, progress: bool = True) -> BfclRun:  # fmt: skip
    """Play ``tasks`` (skipping those finished by an earlier run with the same inputs), score, write metrics."""
    from importlib.metadata import version

    settings = settings or LoopSettings()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "transcripts.jsonl"
    run_inputs = {"format": FORMAT, "bfcl_eval": version("bfcl-eval"), "loop": asdict(settings),
                  **agent.settings(), **dict(inputs or {})}  # fmt: skip
    if path.exists() and (reasons := manifest.stale_reasons(path, run_inputs)):
        print(f"bfcl {system}: discarding finished tasks of an earlier run ({'; '.join(reasons)})")
        path.unlink()
    if not path.exists():
        manifest.write(path, "bfcl-transcripts", run_inputs)
    done = _finished(path)  # every task finished with these inputs, also those this run does not select
    atomic_write_text(path, "".join(_line(r) for r in done.values()))  # without a torn last line
    todo = [t for t in tasks if t.id not in done]
    start = time.perf_counter()
    with path.open("a", encoding="utf-8") as fh:

        def keep(record: dict[str, Any]) -> None:
            fh.write(_line(record))
            fh.flush()
            done[record["id"]] = record

        drive(agent, todo, settings, keep, progress)
    records = [done[t.id] for t in tasks]
    results = [score.score_task(t, model_turns(r)) for t, r in zip(tasks, records, strict=True)]
    seconds = time.perf_counter() - start
    metrics = {"system": system, "tasks": len(tasks), "resumed": len(tasks) - len(todo),
               "accuracy": score.accuracy(results, seed=seed), "diagnostics": diagnostics(records),
               "loop": asdict(settings), "agent_counts": dict(getattr(agent, "counts", {})),
               "seconds": round(seconds, 1),
               "results": [_result_json(r) for r in results]}  # fmt: skip
    metrics_path = folder / "metrics.json"
    atomic_write_text(metrics_path, json.dumps(metrics, indent=2, default=str) + "\n")
    ids = [t.id for t in tasks]
    manifest.write(metrics_path, "bfcl-metrics", {**run_inputs, "tasks": len(ids), "task_ids": manifest.digest(ids)},
                   seed=seed)  # fmt: skip
    return BfclRun(system, folder, records, results, metrics, len(tasks) - len(todo), seconds)


def _result_json(result: score.TaskResult) -> dict[str, Any]:
    keys = ("task_id", "category", "passed", "failed_turn", "reason", "detail")
    return {k: getattr(result, k, None) for k in keys}


def select_tasks(profile: Profile) -> list[BfclTask]:
    """The profile's fixed subset: the first ``bfcl.limit`` tasks of each of ``bfcl.categories``."""
    bfcl_tasks.require()
    return bfcl_tasks.load_tasks(profile.bfcl.categories, limit=profile.bfcl.limit)


def evaluate(profile: Profile, system: str, agent: Any = None, inputs: Mapping[str, Any] | None = None,
             progress: bool = True) -> BfclRun:  # fmt: skip
    """Run ``system`` on the profile's tasks into ``runs/<profile>/bfcl/<system>/``.

    ``agent`` None builds it: a model-free reference (``ground-truth``, ``degraded-<kind>``; no model is loaded,
    no step limit) or a trained system on the profile's base (``base``: no adapter). Pass ``agent`` (and the
    ``inputs`` its outputs depend on, for the manifest) to run anything else, e.g. an endpoint.
    """
    from dataclasses import replace

    from umi_lib.bfcl.agents import is_reference, reference_agent
    from umi_lib.names import SYSTEMS
    from umi_lib.paths import runs_dir

    cfg, reference = profile.bfcl, agent is None and is_reference(system)
    if agent is None and not reference and system not in SYSTEMS:
        raise ConfigError(f"unknown system {system!r}: {', '.join(SYSTEMS)}, ground-truth or degraded-<kind>")
    todo = select_tasks(profile)
    if reference:
        try:
            agent = reference_agent(system, todo, profile.seed)
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"{system}: {exc}") from exc
        inputs = {"seed": profile.seed}
    elif agent is None:
        from umi_lib.agent.build import make_agent
        from umi_lib.evaluation.static import system_inputs
        from umi_lib.train.loaded import load_all

        agent = make_agent(load_all(profile, () if system == "base" else (system,)), profile, system)
        inputs = system_inputs(profile, system)
    if not reference and cfg.max_new_tokens is not None:
        agent.params = {r: replace(p, max_new_tokens=cfg.max_new_tokens) for r, p in agent.params.items()}
    settings = LoopSettings(None if reference else cfg.max_steps_per_turn, cfg.max_observation_chars)
    folder = runs_dir(profile.name) / "bfcl" / system
    return run_tasks(agent, todo, system, folder, settings, inputs, profile.seed, progress)


def summary(run: BfclRun) -> str:
    """Accuracy per category (percent, 95% interval) and the diagnostics, as text."""
    lines = [f"BFCL multi-turn, {run.system}: {run.metrics['tasks']} tasks ({run.resumed} resumed)"]
    for name, a in run.metrics["accuracy"].items():
        lines.append(f"  {name:<26} {a['accuracy']:6.2f} [{a['low']:.2f}, {a['high']:.2f}]  "
                     f"{a['passed']}/{a['n']}")  # fmt: skip
    d = run.metrics["diagnostics"]
    lines.append(f"  calls executed {d['calls_executed']}, invalid {d['invalid_calls']} (unknown function "
                 f"{d['unknown_functions']}, argument errors {d['argument_errors']}); turns ended: "
                 + ", ".join(f"{k} {v}" for k, v in d["turns_ended"].items()))  # fmt: skip
    return "\n".join(lines)
