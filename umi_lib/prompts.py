"""Every interface string of alpha-UMi, byte for byte, and nothing else.

Released checkpoints (``shenwzh3/alpha-umi-*``) were trained on exactly these strings, so they are quoted
verbatim (``docs/formats.md#prompt-templates``), typos included ("You have assess",
"Base on the thought", "asssitant"). No other module may spell one of them out: import them from here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

# --- separators and role names ------------------------------------------------------------------------
EOS = "</s>"  # literal four characters in the data; the model layer maps it to the tokenizer's EOS
"""End-of-turn marker rendered after user/assistant/caller/conclusion turns (never after observations)."""

ROLE_USER = "user"
ROLE_ASSISTANT = "assistant"
ROLE_CALLER = "caller"
ROLE_CONCLUSION = "conclusion"
ROLE_OBSERVATION = "observation"
STAGE2_ROLES = (ROLE_USER, ROLE_ASSISTANT, ROLE_CALLER, ROLE_CONCLUSION, ROLE_OBSERVATION)
ROLE_PLANNER_STATIC = "planner"  # the official static pipeline's name for the current step (never in training)
TURN_CALLER = ROLE_CALLER + ": "  # a role turn as rendered in histories and prediction strings
TURN_CONCLUSION = ROLE_CONCLUSION + ": "
TURN_OBSERVATION = ROLE_OBSERVATION + ": "

# Suffix appended after a filled template: a leading and a trailing space (docs/formats.md#role-suffixes).
SUFFIX_ASSISTANT = " assistant: "
SUFFIX_CALLER = " caller: "
SUFFIX_CONCLUSION = " conclusion: "

# --- planner labels -----------------------------------------------------------------------------------
NEXT_CALLER = "Next: caller."
NEXT_CONCLUSION = "Next: conclusion."
NEXT_GIVE_UP = "Next: give up."
NEXT_LABELS = (NEXT_CALLER, NEXT_CONCLUSION, NEXT_GIVE_UP)
LABEL_NAMES = {NEXT_CALLER: "caller", NEXT_CONCLUSION: "conclusion", NEXT_GIVE_UP: "give up"}
# Released stage-2 code writes "<thought>\n Next: caller." (content + "\n" + " " + label); the official
# test file has "<thought> Next: caller.". Both are read; stage 2 writes the former.
LABEL_PREFIX = " "

# Static-evaluation plan names (docs/metrics.md#official-parse-rules)
PLAN_CALL = "call"
PLAN_FINISH = "finish"
PLAN_GIVE_UP = "give up"

# Substring markers of the official evaluator's parse_output
# (docs/metrics.md#official-parse-rules): no trailing period, and the
# answer marker has a trailing space (the official rindex needs it).
MARK_GIVE_UP = "Next: give up"
MARK_CONCLUSION = "Next: conclusion"
MARK_ANSWER = "conclusion: "
MARK_ANSWER_BARE = "conclusion:"
MARK_BACKBONE_GIVE_UP = "conclusion: give up"  # the single-LLM backbone's give-up (its target ends in "give up.")
MARK_ACTION = "Action:"
MARK_ACTION_INPUT = "Action Input:"

# --- caller / backbone output markers -----------------------------------------------------------------
ACTION = "Action: "
ACTION_INPUT = "\nAction Input: "
CONCLUSION_PREFIX = "\nconclusion: "  # backbone target: "<thought>\nconclusion: <answer>"
BACKBONE_GIVE_UP = "\nconclusion: give up."
NO_ANSWER = "none"  # final answer placeholder when Finish carried none
HALLUCINATED_NAME = "invalid_hallucination_function_name"  # ToolBench's mark for calls to unknown APIs
FINISH = "Finish"
GIVE_UP_RETURN = "give_up_and_restart"
# substring fallback of stage 2 (docs/formats.md#finish-final-answer-or-give-up)
FINAL_ANSWER_KEY_QUOTED = '"final_answer": '
RESPONSE_KEY_QUOTED = '"response":'
# Final prediction strings of the static pipeline keep the official typo
# (docs/formats.md#official-prediction-strings).
PREDICTION_ASSISTANT = "asssitant: "
# prepended at training time only (docs/training.md#tokenization-and-loss-masking)
TRAINING_SYSTEM_PREFIX = "system: "

# --- ToolBench's DFSDT diversity message (inside the training and test trajectories; a data format) -------
CANDIDATES_HEAD = "Here are some previous actions candidates:\n"
CANDIDATES_TAIL = "\nagain, your former observation:"  # how the training data continues after the candidates
DIVERSITY_HEAD = (
    "This is not the first time you try this task, all previous trails failed.\n"
    "Before you generate my thought for this state, I will first show you your previous actions for this state, "
    "and then you must generate actions that is different from all of them. " + CANDIDATES_HEAD
)
DIVERSITY_TAIL = (
    "\n\nRemember you are now in the intermediate state of a trail, you will first analyze the now state and "
    "previous action candidates, then make actions that is different from all the previous."
)

# --- templates (verbatim, docs/formats.md#prompt-templates) -------------------------------------------
_HEAD = "You have assess to the following apis:\n{doc}\nThe conversation history is:\n{history}\n"

BACKBONE = (
    _HEAD + "You should answer the action of next step in the following format:\n"
    "The thought to solve the question,\n"
    "Action: the name of api that should be called in this step, should be exactly in [{tool_names}],\n"
    "Action Input: the api call request.\n"
    "Once you think the question is finished, output conclusion: the final answer of the question or give up"
    " if you think you cannot answer this question.\n"
)
PLANNER = (
    _HEAD + "You are the assistant to plan what to do next and whether is caller's or conclusion's turn to answer.\n"
    "Answer with a following format:\n"
    "The thought of the next step, followed by Next: caller or conclusion or give up."
)
CALLER = (
    _HEAD + "The thought of this step is:\n{thought}\n"
    "Base on the thought make an api call in the following format:\n"
    "Action: the name of api that should be called in this step, should be exactly in [{tool_names}],\n"
    "Action Input: the api call request."
)
SUMMARIZER = "Make a conclusion based on the conversation history:\n{history}"

TEMPLATES = {"backbone": BACKBONE, "planner": PLANNER, "caller": CALLER, "summarizer": SUMMARIZER}
SUFFIXES = {
    "backbone": SUFFIX_ASSISTANT,
    "planner": SUFFIX_ASSISTANT,
    "caller": SUFFIX_CALLER,
    "summarizer": SUFFIX_CONCLUSION,
}

_PLACEHOLDER = re.compile(r"\{(doc|tool_names|history|thought)\}")


def tool_docs(tools: Sequence[Mapping]) -> str:
    """One ``json.dumps`` line per tool (default separators, ASCII escapes, key order kept)."""
    return "".join(json.dumps(dict(t)) + "\n" for t in tools)


def tool_names(tools: Sequence[Mapping]) -> str:
    return ", ".join(t["Name"] for t in tools)


def fill(role: str, tools: Sequence[Mapping], history: str, thought: str = "", compat: bool = False) -> str:
    """Render a role's full prompt: template with placeholders filled, plus the role suffix.

    ``compat`` reproduces the official order of plain ``str.replace`` calls (doc, tool_names, history,
    thought), under which a literal ``{history}`` inside a tool description or the history is itself
    replaced. The default substitutes each placeholder of the template exactly once.
    """
    template = TEMPLATES[role]
    values = {
        "doc": tool_docs(tools),
        "tool_names": tool_names(tools),
        "history": history,
        "thought": thought,
    }
    if compat:
        text = template.replace("{doc}", values["doc"]).replace("{tool_names}", values["tool_names"])
        text = text.replace("{history}", history)
        if role == "caller":
            text = text.replace("{thought}", thought)
    else:
        text = _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
    return text + SUFFIXES[role]


def render_turn(role: str, value: str) -> str:
    """History rendering of one turn: ``"<role>: <value></s>"``; observations get no ``</s>``."""
    if role == ROLE_OBSERVATION:
        return f"{role}: {value}"
    return f"{role}: {value}{EOS}"


def label_of(value: str) -> str | None:
    """The planner label contained in an assistant value, or None (give-up checked first, as officially)."""
    for label in (NEXT_GIVE_UP, NEXT_CONCLUSION, NEXT_CALLER):
        if label in value:
            return label
    return None


def assistant_value(content: str | None, label: str | None) -> str:
    """Stage-2 assistant value: ``content + "\n"`` (empty when content is null), then `` Next: ...``.

    Without a label (a thought with no function call, kept in default mode) the value is just
    ``content + "\n"``, the form the official test file uses for such turns.
    """
    span = content + "\n" if content is not None else ""
    return span if label is None else span + LABEL_PREFIX + label


def caller_value(name: str, arguments: str) -> str:
    return ACTION + name + ACTION_INPUT + arguments
