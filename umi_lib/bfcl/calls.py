"""Function calls without ``eval``: ground-truth call strings parsed with :mod:`ast`, model actions validated.

- :func:`parse_call` reads one BFCL call string such as ``"cd(folder='document')"``: a single call of a plain
  name whose arguments are literals (each argument node goes through :func:`ast.literal_eval`). Anything
  else (attribute calls, nested calls, names, ``*args``/``**kwargs``) raises :class:`CallError`.
- :func:`check_action` is the gate between a model's action and the tools: the name must be an offered
  public function and the arguments a bounded JSON object with only that function's parameters. A refusal
  is a :class:`Rejection` of one of :data:`REJECTION_KINDS`; nothing is executed for it.
- :meth:`Call.render` writes a call back as BFCL's decoders do (``name(k=repr(v),...)``), the input format
  of BFCL's own checker.
"""

from __future__ import annotations

import ast
import json
import keyword
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_CALL_CHARS = 64 * 1024  # longest call string parse_call accepts
MAX_ARGS_BYTES = 16 * 1024  # largest arguments object, as compact UTF-8 JSON
MAX_DEPTH = 20  # deepest nesting of lists/objects inside the arguments object
MAX_NODES = 10_000  # most values (objects, lists and scalars) inside the arguments object
MAX_NAME_CHARS = 128
REJECTION_KINDS = ("rejected_name", "unknown_function", "bad_arguments", "too_large")


class CallError(ValueError):
    """A call string that is not one plain call with literal arguments."""


@dataclass
class Call:
    """One function call: a name and its arguments (keyword; ``positional`` only from parsed strings)."""

    name: str
    """The function (a public method of one of the task's tool classes)."""
    args: dict[str, Any]
    """Keyword arguments."""
    positional: tuple[Any, ...] = field(default=())
    """Positional arguments, in order (BFCL's ground truth has a few, e.g. ``sort('final_report.pdf')``)."""

    def render(self) -> str:
        """The call as BFCL's decoders write it: ``name(p,k=repr(v),...)``."""
        parts = [repr(v) for v in self.positional] + [f"{k}={v!r}" for k, v in self.args.items()]
        return f"{self.name}({','.join(parts)})"


@dataclass
class Rejection:
    """A model action refused before execution."""

    kind: str
    """One of :data:`REJECTION_KINDS`."""
    message: str
    """What was wrong, for the model's observation and the logs."""


def _literal(node: ast.AST, text: str) -> Any:
    """One argument node's value, only if it is a literal."""
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as e:
        segment = ast.get_source_segment(text, node) or ast.dump(node)[:80]
        raise CallError(f"argument {segment[:80]!r} is not a literal ({type(e).__name__})") from None


def parse_call(text: str) -> Call:
    """Parse ``f(k=literal, ...)`` (positional literals allowed) into a :class:`Call`; :class:`CallError` else."""
    if not isinstance(text, str):
        raise CallError(f"a call must be a string, not {type(text).__name__}")
    if len(text) > MAX_CALL_CHARS:
        raise CallError(f"call string of {len(text)} characters exceeds {MAX_CALL_CHARS}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as e:
        raise CallError(f"not a Python call expression: {text[:80]!r} ({type(e).__name__})") from None
    node = tree.body
    if not isinstance(node, ast.Call):
        raise CallError(f"not a single call: {text[:80]!r}")
    if not isinstance(node.func, ast.Name):
        raise CallError(f"the called object must be a plain function name: {text[:80]!r}")
    name = node.func.id
    if name.startswith("_"):
        raise CallError(f"private or special name {name!r} cannot be called")
    positional = []
    for arg in node.args:
        if isinstance(arg, ast.Starred):
            raise CallError(f"*arguments are not allowed: {text[:80]!r}")
        positional.append(_literal(arg, text))
    args: dict[str, Any] = {}
    for kw in node.keywords:
        if kw.arg is None:
            raise CallError(f"**arguments are not allowed: {text[:80]!r}")
        args[kw.arg] = _literal(kw.value, text)
    return Call(name, args, tuple(positional))


def name_problem(name: object) -> str | None:
    """Why ``name`` can never be a callable tool name (``None`` when it is a plain public identifier)."""
    if not isinstance(name, str):
        return f"function name must be a string, not {type(name).__name__}"
    if not name or len(name) > MAX_NAME_CHARS:
        return f"function name must have 1 to {MAX_NAME_CHARS} characters"
    if not (name.isascii() and name.isidentifier()) or keyword.iskeyword(name):
        return f"{name[:80]!r} is not a plain function name"
    if name.startswith("_"):
        return f"{name[:80]!r} is private or special"
    return None


def _shape_problem(value: Any) -> tuple[str, str] | None:
    """``(kind, message)`` when ``value`` is not plain, bounded JSON data; walked without recursion."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            return "too_large", f"arguments hold more than {MAX_NODES} values"
        if depth > MAX_DEPTH:
            return "too_large", f"arguments nest deeper than {MAX_DEPTH} levels"
        if isinstance(item, dict):
            if any(not isinstance(k, str) for k in item):
                return "bad_arguments", "object keys must be strings"
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "bad_arguments", "numbers must be finite"
        elif item is not None and not isinstance(item, (str, int)):  # bool is an int
            return "bad_arguments", f"{type(item).__name__} is not a JSON value"
    return None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in arguments")


def _as_object(args: object) -> tuple[dict[str, Any] | None, Rejection | None]:
    """The arguments as a fresh dict, or why not."""
    if args is None or (isinstance(args, str) and not args.strip()):
        return {}, None
    if isinstance(args, str):
        if len(args.encode("utf-8", "surrogatepass")) > MAX_ARGS_BYTES:
            return None, Rejection("too_large", f"arguments exceed {MAX_ARGS_BYTES} bytes")
        try:
            args = json.loads(args, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as e:
            return None, Rejection("bad_arguments", f"arguments are not a JSON object: {str(e)[:120]}")
    if not isinstance(args, dict):
        return None, Rejection("bad_arguments", f"arguments must be a JSON object, not {type(args).__name__}")
    problem = _shape_problem(args)
    if problem:
        return None, Rejection(*problem)
    text = json.dumps(args, ensure_ascii=False)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_ARGS_BYTES:
        return None, Rejection("too_large", f"arguments exceed {MAX_ARGS_BYTES} bytes")
    return json.loads(text), None  # a deep copy: the tools never share objects with the caller


def check_action(
    name: object, args: object, allowed: Mapping[str, dict[str, Any]], counts: Counter[str] | None = None
) -> Call | Rejection:
    """Validate a model action against the offered functions (``allowed``: name → BFCL function doc).

    ``args`` is a dict or a JSON object string (``None`` or ``""`` mean no arguments). On refusal the
    :class:`Rejection` is counted in ``counts`` (by kind) when given. Nothing is executed here.
    """
    rejection = _check(name, args, allowed)
    if isinstance(rejection, Rejection) and counts is not None:
        counts[rejection.kind] += 1
    return rejection


def _check(name: object, args: object, allowed: Mapping[str, dict[str, Any]]) -> Call | Rejection:
    problem = name_problem(name)
    if problem:
        return Rejection("rejected_name", problem)
    assert isinstance(name, str)
    if name not in allowed:
        return Rejection("unknown_function", f"{name!r} is not one of the offered functions")
    obj, rejection = _as_object(args)
    if rejection:
        return rejection
    assert obj is not None
    params = allowed[name].get("parameters") or {}
    known = params.get("properties") or {}
    extra = [k for k in obj if k not in known]
    if extra:
        return Rejection("bad_arguments", f"{name} has no parameter(s) {extra[:5]}; it takes {sorted(known)}")
    missing = [k for k in params.get("required") or [] if k not in obj]
    if missing:
        return Rejection("bad_arguments", f"{name} needs the parameter(s) {missing}")
    return Call(name, obj)


def allowed_functions(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Name → doc for the offered function docs, leaving out any name that could never be called."""
    return {d["name"]: d for d in docs if name_problem(d.get("name")) is None}
