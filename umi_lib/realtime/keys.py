"""Keys and envelopes: canonical JSON keys of call arguments (plus StableToolBench's ``str(dict)`` key),
ToolBench's ``{"error", "response"}`` envelope, and the observation text an agent sees.
Arguments are data: parsed as JSON and compared, never run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from umi_lib import prompts as P
from umi_lib.data.records import FormatError
from umi_lib.realtime.catalog import EnvError

MAX_OBSERVATION = 1024  # the agent sees at most this many characters, then "..."


def parse_arguments(text: Any) -> dict[str, Any]:
    """Tool input → dict, as the server does (``""`` → ``{}``); anything else is a :class:`FormatError`."""
    if isinstance(text, dict):
        return text
    if not isinstance(text, str):
        raise FormatError("bad_arguments", f"arguments are {type(text).__name__}")
    if not text.strip():
        return {}
    try:
        value = json.loads(text, strict=False)
    except json.JSONDecodeError as exc:
        raise FormatError("bad_arguments", f"not JSON: {exc.msg}") from exc
    except RecursionError as exc:  # "[[[[..." from a looping model: not an input anyone can call with
        raise FormatError("bad_arguments", "nested too deeply") from exc
    if not isinstance(value, dict):
        raise FormatError("bad_arguments", f"JSON {type(value).__name__}, not an object")
    return value


def canonical_key(args: Mapping[str, Any]) -> str:
    """Sorted keys, compact separators, strings kept as strings: whitespace and key order do not matter."""
    return json.dumps(args, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def stb_key(args: Mapping[str, Any]) -> str:
    """StableToolBench's cache key: Python's ``str()`` of the parsed dict (key order matters there)."""
    return str(dict(args))


def envelope_from_text(text: str) -> tuple[dict[str, Any], bool]:
    """A recorded observation string → ``(envelope, reconstructed)``.

    ToolBench records the JSON envelope, cut at 1024 characters; an envelope that no longer parses keeps the
    text after ``"response": `` as its response and is flagged reconstructed.
    """
    try:
        value = json.loads(text, strict=False)
        if isinstance(value, dict) and "response" in value:
            return {"error": str(value.get("error", "")), "response": value["response"]}, False
    except (json.JSONDecodeError, RecursionError):
        pass
    if P.RESPONSE_KEY_QUOTED in text:
        return {"error": "", "response": text.split(P.RESPONSE_KEY_QUOTED, 1)[1].strip()}, True
    return {"error": "", "response": text}, True


def truncate(text: str, limit: int = MAX_OBSERVATION) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def observation_text(envelope: Mapping[str, Any], style: str = "training") -> str:
    """What the agent reads after a call.

    ``training``: the response text only, the error dropped (how GLPFT's data shows observations);
    ``official``: the released real-time agent's ``json.dumps(response)``, or ``{"message": error}`` when empty;
    ``envelope``: the whole JSON envelope (ToolBench answer files).
    """
    response, error = envelope.get("response", ""), str(envelope.get("error", ""))
    if style == "envelope":
        text = json.dumps({"error": error, "response": response})
    elif style == "official":
        text = json.dumps(response) if response not in ("", None) else json.dumps({"message": error})
    elif style == "training":
        text = response if isinstance(response, str) else json.dumps(response)
    else:
        raise EnvError(f"unknown observation style {style!r} (training, official, envelope)")
    return truncate(text)
