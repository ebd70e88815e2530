"""BFCL's executable multi-turn tasks, read from the optional ``bfcl-eval`` package's data files.

The package is found with :func:`importlib.util.find_spec` and only its files are read here: nothing of
``bfcl_eval`` is imported (its declared dependencies are not installed and are not needed).

What a :class:`BfclTask` holds, and how it differs from the raw entry:

- ``functions`` are the function docs offered at the start: every function of the involved classes, in
  BFCL's order (class by class in ``involved_classes`` order, each class in its doc file's order), minus
  the task's ``excluded_function`` names and minus the ``missed_function`` ones held out in ``miss_func``.
  Removing ``excluded_function`` is this library's choice: BFCL 2026.3.23 never reads that field and
  offers those functions too. It concerns 18 tasks per category, and no ground-truth call uses an
  excluded function, so no task becomes unsolvable.
- ``miss_func``: a held-out function (``missed_function``, turn index → names) is not offered until its
  turn; that turn has no user message (``turns[t] == []``) and its docs come back in ``added_functions[t]``,
  as BFCL's inference loop does. The turn before it (where the function was missing) has an empty ground
  truth, which the scorer never penalises. BFCL quirk kept as is: ``multi_turn_miss_func_49`` holds out
  ``tail`` at turn 3, but its ground truth calls ``tail`` in turn 1.
- ``long_context`` is switched on exactly as BFCL does: ``"long_context"`` (or ``"composite"``) in the
  task's category, the id without its trailing number.
"""

from __future__ import annotations

import copy
import importlib.metadata
import importlib.util
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

CATEGORIES = ("multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param", "multi_turn_long_context")
PINNED_VERSION = "2026.3.23"
INSTALL_HINT = f"pip install --no-deps bfcl-eval=={PINNED_VERSION} mpmath  (or: make bfcl)"
DATA_PREFIX = "BFCL_v4_"

# the eight multi-turn tool classes: class → (source module under func_source_code/, func-doc file)
CLASS_FILES = {
    "GorillaFileSystem": ("gorilla_file_system", "gorilla_file_system.json"),
    "MathAPI": ("math_api", "math_api.json"),
    "MessageAPI": ("message_api", "message_api.json"),
    "TwitterAPI": ("posting_api", "posting_api.json"),
    "TicketAPI": ("ticket_api", "ticket_api.json"),
    "TradingBot": ("trading_bot", "trading_bot.json"),
    "TravelAPI": ("travel_booking", "travel_booking.json"),
    "VehicleControlAPI": ("vehicle_control", "vehicle_control.json"),
}


class BfclUnavailable(RuntimeError):
    """The optional ``bfcl-eval`` package (or ``mpmath``) is not installed, or is not the pinned version."""


@dataclass
class BfclTask:
    """One multi-turn task: the user turns, the tools offered, the initial state and the ground truth."""

    id: str
    """Task id, e.g. ``multi_turn_base_0``."""
    category: str
    """One of :data:`CATEGORIES`."""
    turns: list[list[dict[str, Any]]]
    """Each user turn's messages; ``[]`` for a ``miss_func`` turn that only adds functions back."""
    initial_config: dict[str, Any]
    """Per class, the scenario its ``_load_scenario`` receives."""
    involved_classes: list[str]
    """The tool classes of this task (one instance each)."""
    functions: list[dict[str, Any]]
    """Function docs offered at the start (see the module docstring for what is left out)."""
    added_functions: dict[int, list[dict[str, Any]]]
    """Turn index → function docs added back at that turn (``miss_func`` only)."""
    ground_truth: list[list[str]]
    """Per turn, BFCL's ground-truth call strings."""
    long_context: bool
    """Whether the tool classes load their long-context scenario."""
    excluded: list[str] = field(default_factory=list)
    """The task's ``excluded_function`` names (not offered, see the module docstring)."""


def package_root() -> Path | None:
    """The installed ``bfcl_eval`` package folder, found without importing it; ``None`` when absent."""
    try:
        spec = importlib.util.find_spec("bfcl_eval")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def unavailable_reason() -> str | None:
    """Why the package cannot be used, or ``None`` when it can."""
    root = package_root()
    if root is None:
        return "the optional package bfcl-eval is not installed"
    try:
        version = importlib.metadata.version("bfcl-eval")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    if version != PINNED_VERSION:
        return f"bfcl-eval {version} is installed; the scorer and its tests are pinned to {PINNED_VERSION}"
    if importlib.util.find_spec("mpmath") is None:
        return "mpmath (needed by BFCL's MathAPI) is not installed"
    if not (root / "data" / f"{DATA_PREFIX}{CATEGORIES[0]}.json").is_file():
        return f"bfcl-eval at {root} has no multi-turn data files"
    return None


def available() -> bool:
    """True when the pinned ``bfcl-eval`` and ``mpmath`` are installed (nothing is imported)."""
    return unavailable_reason() is None


def require() -> Path:
    """The package folder, or :class:`BfclUnavailable` naming the install command."""
    problem = unavailable_reason()
    if problem is not None:
        raise BfclUnavailable(f"{problem}. Install it with: {INSTALL_HINT}")
    root = package_root()
    assert root is not None
    return root


def _jsonl(path: Path) -> list[dict[str, Any]]:
    """A JSON Lines file (BFCL's ``.json`` data files are JSON Lines)."""
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@cache
def _docs(class_name: str) -> tuple[str, ...]:
    """A class's function docs as JSON strings (cached; callers get fresh copies)."""
    if class_name not in CLASS_FILES:
        raise KeyError(f"not a multi-turn tool class: {class_name!r}; known: {sorted(CLASS_FILES)}")
    path = require() / "data" / "multi_turn_func_doc" / CLASS_FILES[class_name][1]
    return tuple(json.dumps(d) for d in _jsonl(path))


def function_docs(class_name: str) -> list[dict[str, Any]]:
    """Every function doc of one tool class, in its doc file's order (a fresh copy)."""
    return [json.loads(d) for d in _docs(class_name)]


def category_of(task_id: str) -> str:
    """BFCL's category of a task id: the id without its trailing ``_<number>``."""
    return task_id.rsplit("_", 1)[0]


def _build(entry: dict[str, Any], answer: dict[str, Any]) -> BfclTask:
    """One task from its data entry and its possible-answer entry."""
    task_id = str(entry["id"])
    if answer["id"] != task_id:
        raise ValueError(f"possible answer {answer['id']!r} does not match task {task_id!r}")
    category = category_of(task_id)
    excluded = list(entry.get("excluded_function") or [])
    functions = [d for c in entry["involved_classes"] for d in function_docs(c) if d["name"] not in excluded]
    added: dict[int, list[dict[str, Any]]] = {}
    for turn, names in (entry.get("missed_function") or {}).items():
        # held out from the start, added back (in the listed order) at its turn
        by_name = {d["name"]: d for d in functions}
        added[int(turn)] = [by_name[n] for n in names if n in by_name]
        functions = [d for d in functions if d["name"] not in names]
    ground_truth = [[str(c) for c in turn] for turn in answer["ground_truth"]]
    if len(ground_truth) != len(entry["question"]):
        raise ValueError(f"{task_id}: {len(entry['question'])} turns but {len(ground_truth)} ground-truth turns")
    return BfclTask(
        id=task_id,
        category=category,
        turns=copy.deepcopy(entry["question"]),
        initial_config=entry.get("initial_config") or {},
        involved_classes=list(entry["involved_classes"]),
        functions=functions,
        added_functions=dict(sorted(added.items())),
        ground_truth=ground_truth,
        long_context="long_context" in category or "composite" in category,
        excluded=excluded,
    )


def load_tasks(
    categories: Sequence[str] = CATEGORIES, limit: int | None = None, ids: Sequence[str] | None = None
) -> list[BfclTask]:
    """Tasks of ``categories`` in file order; ``limit`` keeps the first ``limit`` tasks *per category*.

    With ``ids``, only those tasks (in the order given; each must be in one of ``categories``).
    """
    root = require()
    unknown = [c for c in categories if c not in CATEGORIES]
    if unknown:
        raise ValueError(f"unknown BFCL categories {unknown}; known: {list(CATEGORIES)}")
    wanted = set(ids) if ids is not None else None
    if wanted is not None:
        categories = [c for c in categories if any(category_of(i) == c for i in wanted)]
    tasks: list[BfclTask] = []
    for category in categories:
        entries = _jsonl(root / "data" / f"{DATA_PREFIX}{category}.json")
        answers = _jsonl(root / "data" / "possible_answer" / f"{DATA_PREFIX}{category}.json")
        if len(entries) != len(answers):
            raise ValueError(f"{category}: {len(entries)} tasks but {len(answers)} possible answers")
        pairs = [(e, a) for e, a in zip(entries, answers, strict=True) if wanted is None or e["id"] in wanted]
        tasks.extend(_build(e, a) for e, a in pairs[:limit])
    if ids is not None:
        by_id = {t.id: t for t in tasks}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise KeyError(f"no such BFCL task in {list(categories) or 'the categories'}: {missing[:10]}")
        tasks = [by_id[i] for i in ids]
    return tasks
