"""Stage-2 trajectories → the four role samples (backbone, planner, caller, summarizer), byte for byte as the
official scripts write them (``docs/formats.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from umi_lib import prompts as P
from umi_lib.data.records import Report, RoleSample, Trajectory, Turn


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
    """Merge an assistant step with its caller/conclusion turn into one single-LLM target.

    Rules: ``docs/formats.md#backbone-samples``.
    """
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
