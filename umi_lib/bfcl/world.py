"""One task's tool instances (BFCL's executable backends), driven by parsed calls instead of ``eval``.

The tool classes are loaded from the package's ``eval_checker/multi_turn_eval/func_source_code/*.py`` by
file path (they need only the standard library and ``mpmath``) and each involved class is instantiated
once per :class:`World`, with its scenario loaded as BFCL does: ``_load_scenario(deepcopy(config),
long_context=...)``, skipped for the stateless ``MathAPI``. A call reaches a tool only through a table of
the instances' public bound methods built at start; results and errors are rendered exactly as BFCL's
``execute_multi_turn_func_call`` renders them, because the scorer compares those strings.

Each World also deep-copies its instances' attributes after loading: in long-context tasks ``TravelAPI``
otherwise keeps the module's shared extension records, so a model's booking would also change the ground
truth's World (and later tasks). BFCL's checker shares them; two Worlds here never share state.
"""

from __future__ import annotations

import copy
import importlib.util
import inspect
import json
import sys
from functools import cache
from typing import Any

from umi_lib.bfcl.calls import Call
from umi_lib.bfcl.tasks import CLASS_FILES, BfclTask, require

STATELESS_CLASSES = frozenset({"MathAPI"})  # no scenario to load
# names BFCL refuses before executing (its checker's denylist), with its error text
DENYLIST = frozenset({"kill", "exit", "quit", "remove", "unlink", "popen", "Popen", "run"})
ERROR_PREFIX = "Error during execution: "
_MODULE_PREFIX = "_umi_bfcl_tools."  # private module names for the loaded source files


@cache
def tool_class(class_name: str) -> type:
    """A BFCL tool class, loaded once from its source file by path."""
    if class_name not in CLASS_FILES:
        raise KeyError(f"not a multi-turn tool class: {class_name!r}; known: {sorted(CLASS_FILES)}")
    stem = CLASS_FILES[class_name][0]
    path = require() / "eval_checker" / "multi_turn_eval" / "func_source_code" / f"{stem}.py"
    spec = importlib.util.spec_from_file_location(_MODULE_PREFIX + stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load BFCL tool source {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return getattr(module, class_name)


@cache
def public_methods(class_name: str) -> tuple[str, ...]:
    """The public method names of a tool class (what BFCL maps calls to)."""
    cls = tool_class(class_name)
    return tuple(n for n, _ in inspect.getmembers(cls, inspect.isfunction) if not n.startswith("_"))


@cache
def _signature(class_name: str, name: str) -> inspect.Signature:
    return inspect.signature(getattr(tool_class(class_name), name))


def keyword_form(call: Call, class_names: list[str]) -> Call:
    """``call`` with positional arguments moved to their parameter names (unchanged if it does not bind)."""
    if not call.positional:
        return call
    for class_name in class_names:
        if call.name in public_methods(class_name):
            try:
                bound = _signature(class_name, call.name).bind(None, *call.positional, **call.args)
            except TypeError:
                return call
            arguments = dict(bound.arguments)
            arguments.pop(next(iter(arguments)))  # self
            return Call(call.name, arguments)
    return call


def render_result(result: Any) -> str:
    """A tool's return value as BFCL renders it: str as is, dict as ``json.dumps`` (else ``str``), else ``str``."""
    if type(result) is str:  # noqa: E721 (exact type, as BFCL checks it)
        return result
    if type(result) is dict:  # noqa: E721
        try:
            return json.dumps(result)
        except Exception:  # BFCL falls back to str() on any failure
            return str(result)
    return str(result)


class World:
    """The tool instances of one task, in their initial state; :meth:`call` runs one parsed call."""

    def __init__(self, task: BfclTask) -> None:
        self.task_id = task.id
        self._instances: dict[str, Any] = {}
        self._methods: dict[str, Any] = {}  # public method name → bound method
        for class_name in task.involved_classes:
            instance = tool_class(class_name)()
            if class_name not in STATELESS_CLASSES:
                config = copy.deepcopy(task.initial_config.get(class_name, {}))
                instance._load_scenario(config, long_context=task.long_context)
                # cut any link to module-level objects the scenario kept (see the module docstring)
                vars(instance).update(copy.deepcopy(vars(instance)))
            self._instances[class_name] = instance
            for name in public_methods(class_name):
                self._methods[name] = getattr(instance, name)  # a later class wins, as in BFCL

    @property
    def classes(self) -> list[str]:
        """The involved classes, in task order."""
        return list(self._instances)

    @property
    def function_names(self) -> list[str]:
        """Every public method name this World can run."""
        return sorted(self._methods)

    def call(self, call: Call) -> str:
        """Run one call on the instance that owns it; the result, or BFCL's error string, as a str."""
        if call.name in DENYLIST:
            return f"{ERROR_PREFIX}Function call {call.name} is not allowed."
        method = self._methods.get(call.name)
        if method is None:
            return f"{ERROR_PREFIX}name '{call.name}' is not defined"
        try:
            # fresh argument objects per call, as evaluating a call string gives
            result = method(*copy.deepcopy(call.positional), **copy.deepcopy(call.args))
            return render_result(result)
        except Exception as e:  # BFCL turns every exception into a result string
            return f"{ERROR_PREFIX}{e}"

    def state(self) -> dict[str, dict[str, Any]]:
        """Class → public attributes (names not starting with ``_``), deep-copied."""
        return {
            c: {k: copy.deepcopy(v) for k, v in vars(inst).items() if not k.startswith("_")}
            for c, inst in self._instances.items()
        }

    def differences(self, reference: World) -> list[str]:
        """``Class.attribute`` names whose values differ from ``reference``'s, as BFCL's state check compares:
        every public attribute of the reference's instances, with ``!=``."""
        out = []
        missing = object()
        for class_name, ref in reference._instances.items():
            mine = self._instances.get(class_name)
            for attr, value in vars(ref).items():
                if attr.startswith("_"):
                    continue
                if mine is None or getattr(mine, attr, missing) != value:
                    out.append(f"{class_name}.{attr}")
        return out
