"""ToolBench trajectories -> alpha-UMi stage 1, stage 2, role samples and static-evaluation steps.

Rules follow spec/alpha_umi_spec.md sections 1.2-1.4 and 4.1. ``compat=True`` reproduces the official scripts
byte for byte (quirks included, except the ``data[:20]`` debug slice); the default fixes the bugs listed in
``BUG_FIXES`` (also rendered in the README). Everything here is streaming: one trajectory in memory at a time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from umi_lib import prompts
from umi_lib.formats import (
    FormatError,
    JsonListWriter,
    RawChain,
    Report,
    RoleSample,
    Tool,
    Trajectory,
    Turn,
    iter_answer_files,
    load_json,
    load_records,
    query_id_of,
    read_trajectories,
    validate_chain,
    validate_functions,
)

P = prompts

# bug, official behaviour, ours (default), how --compat behaves
BUG_FIXES: list[tuple[str, str, str, str]] = [
    (
        "Stage 1 debug slice",
        "`prepro_raw_stage_1.py` writes only `data[:20]`",
        "every item is written",
        "never reproduced (also in --compat)",
    ),
    (
        "Input file order",
        "`os.listdir` order, differs between file systems",
        "G1, G2, G3; files sorted by numeric query id, then name",
        "same sorted order",
    ),
    (
        "Test-id exclusion across groups",
        "a training file is dropped if its id is a test id of *any* group (ids repeat across G1/G2/G3)",
        "ids are excluded within their own group (`G1_*.json` test ids exclude `G1_answer` files)",
        "union over all groups",
    ),
    (
        "Backbone give-up samples",
        "reuse the `input` of the previous sample (stale history; crash if first)",
        "get their own prompt with the full history",
        "stale input reproduced",
    ),
    (
        "Thoughts without a function call",
        "silently dropped by stage 2",
        "kept as unlabeled assistant turns (`<thought>\\n`), as in the official test file; counted",
        "dropped, counted",
    ),
    (
        "Placeholders inside data",
        "chained `str.replace` also fills `{history}`/`{thought}` found in tool docs or history",
        "each template placeholder is filled once",
        "chained replace",
    ),
    (
        "Finish arguments with raw control characters",
        "strict `json.loads` fails; a substring salvage keeps JSON escapes such as `\\n` literally",
        "parsed with `strict=False` (as ToolBench's environment does)",
        "substring salvage",
    ),
]


# ---------------------------------------------------------------------------------------------------
# Stage 1: ToolBench answer -> {"tools", "instruction", "chains"}
# ---------------------------------------------------------------------------------------------------


def rewrite_tool(function: dict[str, Any]) -> Tool:
    """Spec 1.2 step 3: last 64 chars of the name, first 256 of the description, last 256 of arg docs."""
    props = (function.get("parameters") or {}).get("properties", {}) or {}
    inputs = {}
    for arg, spec in props.items():
        kind = str(spec.get("type", ""))
        inputs[arg] = kind + ", " + str(spec["description"])[-256:] if "description" in spec else kind
    return Tool(function["name"][-64:], str(function.get("description", ""))[:256], inputs)


def stage1_item(answer: Any, source: str = "") -> RawChain:
    """Rewrite one ToolBench DFS answer file; raise :class:`FormatError` if it cannot be used."""
    if not isinstance(answer, dict):
        raise FormatError("bad_record", "answer file is not a JSON object")
    gen = answer.get("answer_generation")
    if not isinstance(gen, dict):
        raise FormatError("no_train_messages", "no 'answer_generation' object")
    if "train_messages" not in gen:  # failed annotations (valid_data false) have none: official skip
        raise FormatError("no_train_messages", "answer_generation has no 'train_messages'")
    messages = gen["train_messages"]
    if not isinstance(messages, list) or not messages:
        raise FormatError("empty_chain", "train_messages is empty")
    if not isinstance(gen.get("query"), str):
        raise FormatError("missing_key", "answer_generation.query is not a string")
    functions = validate_functions(gen.get("function"))
    chain = validate_chain(messages[-1])
    tools = [rewrite_tool(f) for f in functions if f["name"] != P.FINISH]
    return RawChain(tools, gen["query"], chain, source, query_id_of(source) if source else "")


def raw_chain_from_json(obj: Any, source: str = "", record_id: str = "") -> RawChain:
    """Read back a stage-1 item (``raw_data_stage_1.json``)."""
    if not isinstance(obj, dict) or not all(k in obj for k in ("tools", "instruction", "chains")):
        raise FormatError("missing_key", "stage-1 item needs tools, instruction, chains")
    if not isinstance(obj["tools"], list) or not isinstance(obj["instruction"], str):
        raise FormatError("bad_record", "tools must be a list and instruction a string")
    tools = [Tool.from_json(t) for t in obj["tools"]]
    return RawChain(tools, obj["instruction"], validate_chain(obj["chains"]), source, record_id)


# ---------------------------------------------------------------------------------------------------
# Stage 2: chain -> labelled conversation
# ---------------------------------------------------------------------------------------------------


def _as_text(value: Any, report: Report, what: str) -> str:
    if isinstance(value, str):
        return value
    report.note(f"{what}_not_a_string")
    return json.dumps(value, ensure_ascii=False)


def _finish_outcome(args: Any, content: str | None, compat: bool) -> str | None:
    """Final answer of a Finish call, or None for a give-up (spec 1.3, including its salvage rules)."""
    text = args if isinstance(args, str) else json.dumps(args)
    try:
        obj = args if isinstance(args, dict) else json.loads(args, strict=compat)
        if obj["return_type"] == P.GIVE_UP_RETURN:
            return None
        return obj.get("final_answer", P.NO_ANSWER)
    except Exception:  # any failure takes the official substring path (spec 1.3)
        if P.GIVE_UP_RETURN in text:
            return None
        if P.FINAL_ANSWER_KEY_QUOTED in text:
            tail = text[text.index(P.FINAL_ANSWER_KEY_QUOTED) + len(P.FINAL_ANSWER_KEY_QUOTED) :]
            return tail.strip().strip("}").strip('"')
        return content if content is not None else P.NO_ANSWER


def _observation(content: str) -> Any:
    try:
        return json.loads(content)["response"]
    except Exception:  # truncated envelopes are not JSON: take the raw text after "response": (spec 1.3)
        if P.RESPONSE_KEY_QUOTED in content:
            return content[content.index(P.RESPONSE_KEY_QUOTED) + len(P.RESPONSE_KEY_QUOTED) :]
        return ""


def stage2(item: RawChain, report: Report, compat: bool = False) -> Trajectory:
    """Spec 1.3: messages after the system prompt and the wrapped query become labelled turns."""
    turns = [Turn(P.ROLE_USER, item.instruction)]
    for msg in item.chains[2:]:
        role, content = msg["role"], msg.get("content")
        if role == "user":
            turns.append(Turn(P.ROLE_USER, content or ""))
        elif role == "function":
            turns.append(Turn(P.ROLE_OBSERVATION, _as_text(_observation(content), report, "observation")))
        elif role == "assistant":
            turns.extend(_assistant_turns(msg, report, compat))
        else:
            raise FormatError("unknown_role", f"{role!r} message after the query")
    return Trajectory(item.tools, item.instruction, turns, item.source, item.record_id)


def _assistant_turns(msg: dict[str, Any], report: Report, compat: bool) -> list[Turn]:
    content, call = msg.get("content"), msg.get("function_call")
    if not call:
        report.note("thoughts_without_call")
        if compat or content is None:
            return []
        return [Turn(P.ROLE_ASSISTANT, P.assistant_value(content, None))]
    name, args = call["name"], call["arguments"]
    if name == P.FINISH:
        answer = _finish_outcome(args, content, compat)
        if answer is None:
            return [Turn(P.ROLE_ASSISTANT, P.assistant_value(content, P.NEXT_GIVE_UP))]
        return [
            Turn(P.ROLE_ASSISTANT, P.assistant_value(content, P.NEXT_CONCLUSION)),
            Turn(P.ROLE_CONCLUSION, _as_text(answer, report, "final_answer")),
        ]
    if not isinstance(args, str):
        report.note("arguments_not_a_string")
        args = json.dumps(args, indent=2)
    return [
        Turn(P.ROLE_ASSISTANT, P.assistant_value(content, P.NEXT_CALLER)),
        Turn(P.ROLE_CALLER, P.caller_value(name, args)),
    ]


# ---------------------------------------------------------------------------------------------------
# Role samples (spec 1.4)
# ---------------------------------------------------------------------------------------------------


@dataclass
class BuildState:
    """State carried across trajectories: the backbone's stale-input quirk needs the previous input."""

    compat: bool = False
    last_backbone_input: str | None = None
    report: Report = field(default_factory=Report)


def _sample(role: str, traj: Trajectory, i: int, segments: list[str], target: str, state: BuildState, thought=""):
    text = P.fill(role, [t.to_json() for t in traj.tools], "".join(segments), thought, compat=state.compat)
    return RoleSample(
        role,
        traj.tools,
        traj.conversations[:i],
        text,
        target,
        list(segments),
        thought,
        f"{traj.source}#{traj.record_id}",
    )


def _is_hallucinated_call(turn: Turn | None) -> bool:
    return turn is not None and turn.role == P.ROLE_CALLER and P.HALLUCINATED_NAME in turn.value


def planner_samples(traj: Trajectory, state: BuildState) -> list[RoleSample]:
    out, segs, conv = [], [], traj.conversations
    for i, turn in enumerate(conv):
        nxt = conv[i + 1] if i + 1 < len(conv) else None
        if turn.role == P.ROLE_ASSISTANT:
            wanted = P.NEXT_GIVE_UP in turn.value or (
                nxt is not None and nxt.role in (P.ROLE_CALLER, P.ROLE_CONCLUSION)
            )
            if wanted and not _is_hallucinated_call(nxt):
                out.append(_sample("planner", traj, i, segs, turn.value, state))
            elif wanted:
                state.report.note("planner_hallucinated_steps_skipped")
        segs.append(P.render_turn(turn.role, turn.value))
    return out


def caller_samples(traj: Trajectory, state: BuildState) -> list[RoleSample]:
    out, segs, conv = [], [], traj.conversations
    for i, turn in enumerate(conv):
        if turn.role == P.ROLE_CALLER:
            if P.HALLUCINATED_NAME in turn.value:
                state.report.note("caller_hallucinated_steps_skipped")
                continue  # skipped and not added to the history (official behaviour)
            if i == 0 or conv[i - 1].role != P.ROLE_ASSISTANT:
                state.report.note("caller_without_thought_skipped")
            else:
                out.append(_sample("caller", traj, i, segs, turn.value, state, thought=conv[i - 1].value))
        segs.append(P.render_turn(turn.role, turn.value))
    return out


def summarizer_samples(traj: Trajectory, state: BuildState) -> list[RoleSample]:
    out, segs = [], []
    for i, turn in enumerate(traj.conversations):
        if turn.role == P.ROLE_CONCLUSION:
            if turn.value != P.NO_ANSWER:
                out.append(_sample("summarizer", traj, i, segs, turn.value, state))
            else:
                state.report.note("summarizer_none_answers_skipped")
        segs.append(P.render_turn(turn.role, turn.value))
    return out


def backbone_target(turn: Turn, nxt: Turn | None) -> str | None:
    """Merge an assistant step with its caller/conclusion turn into one single-LLM target (spec 1.4)."""
    if nxt is not None and nxt.role == P.ROLE_CALLER:
        return turn.value.replace(P.NEXT_CALLER, "").strip() + "\n" + nxt.value
    if nxt is not None and nxt.role == P.ROLE_CONCLUSION:
        return turn.value.replace(P.NEXT_CONCLUSION, "").strip() + P.CONCLUSION_PREFIX + nxt.value
    if P.NEXT_GIVE_UP in turn.value:
        return turn.value.replace(P.NEXT_GIVE_UP, "").strip() + P.BACKBONE_GIVE_UP
    return None


def backbone_samples(traj: Trajectory, state: BuildState) -> list[RoleSample]:
    out, segs, conv = [], [], traj.conversations
    for i, turn in enumerate(conv):
        if turn.role in (P.ROLE_CALLER, P.ROLE_CONCLUSION):
            continue  # merged into the preceding assistant turn
        nxt = conv[i + 1] if i + 1 < len(conv) else None
        target = backbone_target(turn, nxt) if turn.role == P.ROLE_ASSISTANT else None
        if target is None:
            segs.append(P.render_turn(turn.role, turn.value))
            continue
        sample = _sample("backbone", traj, i, segs, target, state)
        is_give_up = nxt is None or nxt.role not in (P.ROLE_CALLER, P.ROLE_CONCLUSION)
        if state.compat and is_give_up:
            if state.last_backbone_input is None:
                state.report.note("backbone_give_up_without_previous_input")  # the official script crashes
            else:
                sample.input = state.last_backbone_input
                state.report.note("backbone_give_up_stale_input_reproduced")
        state.last_backbone_input = sample.input
        out.append(sample)
        segs.append(P.render_turn(P.ROLE_ASSISTANT, target))
    return out


BUILDERS: dict[str, Callable[[Trajectory, BuildState], list[RoleSample]]] = {
    "backbone": backbone_samples,
    "planner": planner_samples,
    "caller": caller_samples,
    "summarizer": summarizer_samples,
}
ROLE_FILES = {role: f"train_{role}.json" for role in BUILDERS}


# ---------------------------------------------------------------------------------------------------
# Token-budget truncation (drop the oldest history turns, keep the query and the target)
# ---------------------------------------------------------------------------------------------------


def rerender(sample: RoleSample, drop: int, compat: bool = False) -> str:
    """The sample's prompt with history turns 1..drop removed (turn 0, the user query, is kept)."""
    segs = sample.segments[:1] + sample.segments[1 + drop :]
    tools = [t.to_json() for t in sample.tools]
    return P.fill(sample.role, tools, "".join(segs), sample.thought, compat=compat)


def fit_sample(
    sample: RoleSample, count_tokens: Callable[[str], int], max_tokens: int, reserve: int = 1
) -> RoleSample | None:
    """Shorten ``sample`` to ``max_tokens`` (prompt + target + ``reserve`` for EOS), or None if impossible.

    The official trainer kept the *last* 4096 tokens (losing the start of the prompt); TRL keeps the start
    and would cut the target. Here the target always survives and the oldest turns go first, found by
    binary search over how many turns to drop (token counts grow with the history).
    """
    budget = max_tokens - count_tokens(sample.target) - reserve
    if count_tokens(sample.input) <= budget:
        return sample
    lo, hi = 1, max(len(sample.segments) - 1, 0)
    if hi < 1 or count_tokens(rerender(sample, hi)) > budget:
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if count_tokens(rerender(sample, mid)) <= budget:
            hi = mid
        else:
            lo = mid + 1
    sample.input, sample.dropped_turns = rerender(sample, lo), lo
    return sample


@dataclass(frozen=True)
class Budget:
    """A token budget for role samples: ``count`` tokenizes, ``reserve`` covers EOS/BOS/prefixes."""

    count: Callable[[str], int]
    max_tokens: int
    reserve: int = 1


def fit_samples(
    samples: Iterable[RoleSample],
    count_tokens: Callable[[str], int],
    max_tokens: int,
    report: Report,
    reserve: int = 1,
) -> Iterator[RoleSample]:
    """Apply :func:`fit_sample`; shortened and rejected samples are counted per role in ``report``."""
    for s in samples:
        fitted = fit_sample(s, count_tokens, max_tokens, reserve)
        if fitted is None:
            report.reject(s.source, s.role, "too_long", f"{s.role} sample exceeds {max_tokens} tokens")
            continue
        if fitted.dropped_turns:
            report.note(f"shortened_{s.role}")
        yield fitted


# ---------------------------------------------------------------------------------------------------
# Static evaluation steps (spec 4.1)
# ---------------------------------------------------------------------------------------------------


def plan_of(label: str) -> str:
    return {P.NEXT_CALLER: P.PLAN_CALL, P.NEXT_CONCLUSION: P.PLAN_FINISH, P.NEXT_GIVE_UP: P.PLAN_GIVE_UP}[label]


def trajectory_steps(traj: Trajectory, index: int, report: Report, compat: bool = False) -> list[dict[str, Any]]:
    """One item per labelled assistant step, with the gold history (teacher forcing)."""
    steps, segs, conv = [], [], traj.conversations
    tools = [t.to_json() for t in traj.tools]
    for i, turn in enumerate(conv):
        label = P.label_of(turn.value) if turn.role == P.ROLE_ASSISTANT else None
        if label is not None:
            nxt = conv[i + 1] if i + 1 < len(conv) else None
            expected = {P.NEXT_CALLER: P.ROLE_CALLER, P.NEXT_CONCLUSION: P.ROLE_CONCLUSION}.get(label)
            if expected is None:
                reference = turn.value
            elif nxt is not None and nxt.role == expected:
                reference = P.render_turn(P.ROLE_ASSISTANT, turn.value) + P.render_turn(nxt.role, nxt.value)
            else:
                report.reject(traj.source, f"{index}:{i}", "label_without_turn", f"{label} not followed by {expected}")
                segs.append(P.render_turn(turn.role, turn.value))
                continue
            steps.append(
                {
                    "tools": tools,
                    "reference": reference,
                    "input": P.fill("planner", tools, "".join(segs), compat=compat),
                    "history": "".join(segs),  # the gold history ("dispatch"), for caller/summarizer prompts
                    "trajectory": index,
                    "step": len(steps),
                    "plan": plan_of(label),
                }
            )
        segs.append(P.render_turn(turn.role, turn.value))
    return steps


def extract_steps(test_file: str | os.PathLike, out_file: str | os.PathLike, compat: bool = False) -> Report:
    """``umi steps``: write the static-evaluation items of a stage-2 test file."""
    report = Report()
    with JsonListWriter(out_file) as w:
        for k, traj in enumerate(read_trajectories(test_file, report)):
            items = trajectory_steps(traj, k, report, compat)
            report.converted += 1
            for item in items:
                report.samples[item["plan"]] += 1
                w.write(item)
    return report


# ---------------------------------------------------------------------------------------------------
# Pipelines behind `umi convert`
# ---------------------------------------------------------------------------------------------------


class RoleWriters:
    """Output files (four role files, optionally stage 1 / stage 2), written as trajectories stream in."""

    def __init__(self, out_dir: str | os.PathLike, extra: tuple[str, ...] = ()):
        out = Path(out_dir)
        names = {key: out / STAGE_FILES[key] for key in extra}
        names.update({role: out / name for role, name in ROLE_FILES.items()})
        self.writers = {key: JsonListWriter(path) for key, path in names.items()}

    def write(self, key: str, item: Any) -> None:
        if key in self.writers:
            self.writers[key].write(item)

    def close(self, ok: bool) -> None:
        for w in self.writers.values():
            w.close() if ok else w.abort()


STAGE_FILES = {"stage1": "raw_data_stage_1.json", "stage2": "raw_data_stage_2.json"}


def role_samples(traj: Trajectory, state: BuildState) -> dict[str, list[RoleSample]]:
    return {role: build(traj, state) for role, build in BUILDERS.items()}


def load_exclusions(exclude_dir: str | os.PathLike | None, compat: bool) -> Callable[[str, str], bool]:
    """Test-id exclusion: ``excluded(group, query_id)``. See ``BUG_FIXES`` for the per-group rule."""
    if exclude_dir is None:
        return lambda group, qid: False
    by_group: dict[str, set[str]] = {}
    files = sorted(Path(exclude_dir).glob("*.json*"))
    if not files:
        raise FormatError("no_test_ids", f"no *.json test-id files in {exclude_dir}")
    for path in files:
        ids = load_json(path)
        prefix = path.name[:2] if path.name[:2] in ("G1", "G2", "G3") else "*"
        by_group.setdefault(prefix, set()).update(str(i) for i in list(ids))
    everything = set().union(*by_group.values())
    if compat:
        return lambda group, qid: qid in everything
    return lambda group, qid: qid in by_group.get(group[:2], set()) or qid in by_group.get("*", set())


def answers_trajectories(
    answers_dir: str | os.PathLike,
    state: BuildState,
    writers: RoleWriters,
    exclude_ids: str | os.PathLike | None = None,
    progress: bool = True,
) -> Iterator[Trajectory]:
    """Stream raw DFS answer files -> trajectories (stage-1/2 items go to ``writers`` on the way)."""
    report, excluded = state.report, load_exclusions(exclude_ids, state.compat)
    files = iter_answer_files(answers_dir, report)
    for group, path in tqdm(files, desc="convert answers", unit="file", disable=not progress):
        report.read += 1
        if excluded(group, query_id_of(path)):
            report.note("excluded_test_ids")
            continue
        try:
            item = stage1_item(load_json(path), str(path))
            traj = stage2(item, report, state.compat)
        except FormatError as exc:
            report.reject(path, query_id_of(path), exc.reason, exc.detail)
            continue
        writers.write("stage1", item.to_json())
        writers.write("stage2", traj.to_json())
        yield traj


def stage1_trajectories(
    stage1_file: str | os.PathLike, state: BuildState, writers: RoleWriters
) -> Iterator[Trajectory]:
    """Stage-1 file (``raw_data_stage_1.json``) -> trajectories (stage-2 items go to ``writers``)."""
    report = state.report
    for k, obj in enumerate(load_records(stage1_file, report) or []):
        report.read += 1
        try:
            traj = stage2(raw_chain_from_json(obj, str(stage1_file), str(k)), report, state.compat)
        except FormatError as exc:
            report.reject(stage1_file, str(k), exc.reason, exc.detail)
            continue
        writers.write("stage2", traj.to_json())
        yield traj


def stage2_trajectories(
    stage2_file: str | os.PathLike, state: BuildState, writers: RoleWriters
) -> Iterator[Trajectory]:
    for traj in read_trajectories(stage2_file, state.report):
        writers.write("stage2", traj.to_json())
        yield traj


def write_roles(
    trajectories: Iterable[Trajectory], state: BuildState, writers: RoleWriters, budget: Budget | None = None
) -> Report:
    """Build the four role sample sets of every trajectory and stream them into ``writers``.

    With a ``budget`` long samples are shortened (or rejected) and counted in ``state.report``.
    """
    ok = False
    try:
        for traj in trajectories:
            for role, samples in role_samples(traj, state).items():
                if budget is not None:
                    samples = list(fit_samples(samples, budget.count, budget.max_tokens, state.report, budget.reserve))
                state.report.samples[role] += len(samples)
                for s in samples:
                    writers.write(role, s.to_json())
            state.report.converted += 1
        ok = True
    finally:
        writers.close(ok)
    return state.report


def convert_toolbench(
    answers_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    exclude_ids: str | os.PathLike | None = None,
    compat: bool = False,
    budget: Budget | None = None,
    progress: bool = True,
) -> Report:
    """``umi convert toolbench``: raw DFS answers -> stage 1, stage 2 and the four role files (streamed)."""
    state = BuildState(compat=compat)
    writers = RoleWriters(out_dir, extra=("stage1", "stage2"))
    report = write_roles(
        answers_trajectories(answers_dir, state, writers, exclude_ids, progress), state, writers, budget
    )
    report.write(out_dir)
    return report


def convert_stage1_file(
    stage1_file: str | os.PathLike, out_dir: str | os.PathLike, compat: bool = False, budget: Budget | None = None
) -> Report:
    """``umi convert stage1``: a stage-1 file -> stage 2 and the four role files."""
    state = BuildState(compat=compat)
    writers = RoleWriters(out_dir, extra=("stage2",))
    report = write_roles(stage1_trajectories(stage1_file, state, writers), state, writers, budget)
    report.write(out_dir)
    return report


def convert_roles(
    stage2_file: str | os.PathLike, out_dir: str | os.PathLike, compat: bool = False, budget: Budget | None = None
) -> Report:
    """``umi convert roles``: stage-2 trajectories (either label format) -> the four role files."""
    state = BuildState(compat=compat)
    writers = RoleWriters(out_dir)
    report = write_roles(stage2_trajectories(stage2_file, state, writers), state, writers, budget)
    report.write(out_dir)
    return report
