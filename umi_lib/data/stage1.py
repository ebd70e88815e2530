"""Stage 1: a ToolBench DFS answer → ``{"tools", "instruction", "chains"}`` (the successful chain, tools
rewritten into α-UMi's tool documentation).
"""

from __future__ import annotations

from typing import Any

from umi_lib import prompts as P
from umi_lib.data.readers import (
    query_id_of,
    validate_chain,
    validate_functions,
)
from umi_lib.data.records import FormatError, RawChain, Tool

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
    (
        "Tool output that is a JSON *string* (an envelope encoded twice)",
        '`json.loads` returns a string, `["response"]` fails, and the `"response":` search runs on the decoded text',
        "the decoded text is read as an envelope again; a cut one gets the same search",
        "search on the decoded text",
    ),
]


def rewrite_tool(function: dict[str, Any]) -> Tool:
    """Last 64 chars of the name, first 256 of the description, last 256 of arg docs.

    Rule 1 of ``docs/formats.md#stage-1-tool-documentation``.
    """
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
