"""Stage 2: a stage-1 chain → a labelled conversation (user, assistant thought, caller, observation,
conclusion), with the official rules for Finish, give-up and observations.
"""

from __future__ import annotations

import json
from typing import Any

from umi_lib import prompts as P
from umi_lib.data.records import FormatError, RawChain, Report, Trajectory, Turn


def _as_text(value: Any, report: Report, what: str) -> str:
    if isinstance(value, str):
        return value
    report.note(f"{what}_not_a_string")
    return json.dumps(value, ensure_ascii=False)


def _finish_outcome(args: Any, content: str | None, compat: bool) -> str | None:
    """Final answer of a Finish call, or None for a give-up.

    Rules, salvage included: ``docs/formats.md#finish-final-answer-or-give-up``.
    """
    text = args if isinstance(args, str) else json.dumps(args)
    try:
        obj = args if isinstance(args, dict) else json.loads(args, strict=compat)
        if obj["return_type"] == P.GIVE_UP_RETURN:
            return None
        return obj.get("final_answer", P.NO_ANSWER)
    except Exception:
        # any failure takes the official substring path (docs/formats.md#finish-final-answer-or-give-up)
        if P.GIVE_UP_RETURN in text:
            return None
        if P.FINAL_ANSWER_KEY_QUOTED in text:
            tail = text[text.index(P.FINAL_ANSWER_KEY_QUOTED) + len(P.FINAL_ANSWER_KEY_QUOTED) :]
            return tail.strip().strip("}").strip('"')
        return content if content is not None else P.NO_ANSWER


def _observation(content: str, compat: bool) -> Any:
    """The observation of a tool message (``docs/formats.md#observations``).

    The official code rebinds ``content = json.loads(content)`` and then takes ``content["response"]``; on any
    exception it searches ``"response":`` in whatever ``content`` is bound to by then: the raw text when parsing
    failed (truncated envelopes), the decoded text when the content was a JSON *string*. For a complete envelope
    encoded twice that salvage keeps the inner JSON quoting (`` "ok"}``); by default the decoded text is read as
    an envelope again (``ok``), with the same salvage when it is cut. Other parsed values without a
    ``response`` (the official script crashes on them) take the raw-text salvage.
    """
    try:
        parsed = json.loads(content)
    except Exception:
        # truncated envelopes are not JSON: take the raw text after "response": (docs/formats.md#observations)
        return _after_response_key(content)
    if isinstance(parsed, str):
        return _after_response_key(parsed) if compat else _observation(parsed, compat)
    try:
        return parsed["response"]
    except Exception:
        return _after_response_key(content)


def _after_response_key(text: str) -> str:
    if P.RESPONSE_KEY_QUOTED in text:
        return text[text.index(P.RESPONSE_KEY_QUOTED) + len(P.RESPONSE_KEY_QUOTED) :]
    return ""


def stage2(item: RawChain, report: Report, compat: bool = False) -> Trajectory:
    """Messages after the system prompt and the wrapped query become labelled turns.

    Rules: ``docs/formats.md#stage-2-labelled-conversations``.
    """
    turns = [Turn(P.ROLE_USER, item.instruction)]
    for msg in item.chains[2:]:
        role, content = msg["role"], msg.get("content")
        if role == "user":
            turns.append(Turn(P.ROLE_USER, content or ""))
        elif role == "function":
            turns.append(Turn(P.ROLE_OBSERVATION, _as_text(_observation(content, compat), report, "observation")))
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
