"""ToolBench's three name forms and the alpha-UMi tool documentation built from a query's ``api_list``.

Display names (query files) → standardized names (files, server) → function names the agent calls
(``<api>_for_<tool>``, last 64 characters). Rules: ``docs/toolbench.md#test-groups-and-name-rules`` and
``docs/toolbench.md#function-calling-schema``. Checked against the
bundled test set: the tool lists built here equal the tool entries of the 277 out-of-domain trajectories whose
query is a StableToolBench G1/G2_category query (``tests/test_envs.py``), 1,369 of 1,372; the exceptions are three
API names that start with a digit, which the test set writes sometimes with and sometimes without the ``get_``
prefix the rule gives (our catalog also answers to the test set's spelling). Two details come from that check
rather than from those rules: the API description has the API name replaced by the function name, and the test set
cuts each description at 150 characters and lists inputs only for APIs that have a required parameter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from umi_lib.data.stage1 import rewrite_tool

RESERVED = frozenset({"from", "class", "return", "false", "true", "id", "and"})

PARAM_TYPES = {"NUMBER": "integer", "STRING": "string", "BOOLEAN": "boolean"}  # anything else: "string"

NAME_CHARS = 64  # function names keep their last 64 characters

DOC_CHARS = 150  # the test set's tool descriptions are cut here

API_DOC_CHARS = 256  # ToolBench keeps the first 256 characters of an API description

_OUTSIDE = re.compile(r"[^\u4e00-\u9fa5a-zA-Z0-9_]")


def standardize(name: str, digit_prefix: bool = True) -> str:
    """Non-word characters (CJK kept) → ``_``, runs collapsed, lower case, outer ``_`` stripped."""
    s = re.sub(r"_+", "_", _OUTSIDE.sub("_", name)).lower().strip("_")
    return "get_" + s if digit_prefix and s[:1].isdigit() else s


DIGIT_PREFIX = "get_"  # standardize() puts it before a name that starts with a digit


def spellings(name: str) -> list[str]:
    """A standardized name and, if it starts with a digit or with ``get_`` + digit, its other spelling.

    ToolBench's ``standardize`` writes ``get_1_shoot_thumbnail`` where the alpha-UMi data (and older clients) write
    ``1_shoot_thumbnail``; both name the same API.
    """
    if name[:1].isdigit():
        return [name, DIGIT_PREFIX + name]
    if name.startswith(DIGIT_PREFIX) and name[len(DIGIT_PREFIX) : len(DIGIT_PREFIX) + 1].isdigit():
        return [name, name[len(DIGIT_PREFIX) :]]
    return [name]


def function_spellings(function: str) -> list[str]:
    """:func:`spellings` of a function name, which keeps its last 64 characters: with the prefix added a name of
    61-63 characters loses its head (``t_1_...``), and a name of 64 or more reads the same both ways."""
    if function[:1].isdigit():
        other = (DIGIT_PREFIX + function)[-NAME_CHARS:]
        return [function, other] if other != function else [function]
    for cut in range(len(DIGIT_PREFIX)):  # the whole prefix, or what a 64-character cut left of it
        head = DIGIT_PREFIX[cut:]
        rest = function[len(head) :]
        if function.startswith(head) and rest[:1].isdigit() and (cut == 0 or len(function) == NAME_CHARS):
            return [function, rest]
    return [function]


def change_name(name: str) -> str:
    """Python keywords and a few reserved words become ``is_<word>`` (API and parameter names)."""
    return "is_" + name if name in RESERVED else name


def api_function(api_name: str) -> str:
    """The Python function of an API in ``api.py``, and its ``api_name`` in ``/virtual`` requests."""
    return change_name(standardize(api_name))


def function_name(api_name: str, tool_name: str) -> str:
    return (api_function(api_name) + "_for_" + standardize(tool_name))[-NAME_CHARS:]


def param_name(name: str) -> str:
    return change_name(standardize(name, digit_prefix=False))


def openai_function(api: Mapping[str, Any]) -> dict[str, Any]:
    """The function-calling schema ToolBench builds for one ``api_list`` entry.

    Rules: ``docs/toolbench.md#function-calling-schema``.
    """
    tool, name = standardize(api["tool_name"]), function_name(api["api_name"], api["tool_name"])
    description = f'This is the subfunction for tool "{tool}", you can use this tool.'
    text = str(api.get("api_description") or "").strip()
    if text:
        text = text.replace(api["api_name"], name)[:API_DOC_CHARS]
        description += f'The description of this function is: "{text}"'
    props, required, optional = {}, [], []
    for kind, names in (("required_parameters", required), ("optional_parameters", optional)):
        for p in api.get(kind) or []:
            key = param_name(str(p["name"]))
            props[key] = {"type": PARAM_TYPES.get(str(p.get("type", "")), "string"),
                          "description": str(p.get("description") or "")[:API_DOC_CHARS]}  # fmt: skip
            names.append(key)
    params = {"type": "object", "properties": props, "required": required, "optional": optional}
    return {"name": name, "description": description, "parameters": params}


def tool_doc(api: Mapping[str, Any]) -> dict[str, Any]:
    """The alpha-UMi tool entry (``Name``/``function``/``input``) the test set shows for this API."""
    tool = rewrite_tool(openai_function(api)).to_json()
    tool["function"] = tool["function"][:DOC_CHARS]
    if not api.get("required_parameters"):
        tool["input"] = {}
    return tool
