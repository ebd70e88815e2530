"""Stage-2 and role-builder rules on hand-built chains, one small case per branch.

Rules: ``docs/formats.md#stage-2-labelled-conversations`` and ``docs/formats.md#role-sample-files``.
"""

from __future__ import annotations

import json

import pytest

from umi_lib import prompts
from umi_lib.data import pipeline, roles, stage2
from umi_lib.data.records import FormatError, RawChain, Report, Tool

TOOLS = [Tool("search_for_x", "Search.", {"q": "string, query"})]
HEAD = [{"role": "system", "content": "sys"}, {"role": "user", "content": "\nq\nBegin!\n"}]


def call(content, name, arguments):
    return {"role": "assistant", "content": content, "function_call": {"name": name, "arguments": arguments}}


def run(messages, compat=False):
    report = Report()
    traj = stage2.stage2(RawChain(TOOLS, "q", HEAD + messages), report, compat)
    return [(t.role, t.value) for t in traj.conversations], report


@pytest.mark.parametrize(
    "arguments, content, expected",
    [
        ('{"return_type": "give_answer", "final_answer": "42"}', "t", ("conclusion", "42")),
        ('{"return_type": "give_answer"}', "t", ("conclusion", "none")),
        ('{"return_type": "give_up_and_restart"}', "t", None),
        ('{"final_answer": "no return type"}', "t", ("conclusion", "no return type")),
        ("{broken give_up_and_restart", "t", None),
        ('{"return_type": "give_answer", "final_answer": "cut', "t", ("conclusion", "cut")),
        ("garbage", "thought text", ("conclusion", "thought text")),
        ("garbage", None, ("conclusion", "none")),
    ],
)
def test_finish_variants(arguments, content, expected):
    turns, _ = run([call(content, "Finish", arguments)])
    span = content + "\n" if content is not None else ""
    if expected is None:
        assert turns[1:] == [("assistant", span + " Next: give up.")]
    else:
        assert turns[1:] == [("assistant", span + " Next: conclusion."), expected]


def test_finish_with_raw_newline_is_parsed_in_default_and_salvaged_in_compat():
    args = '{"return_type": "give_answer", "final_answer": "a\nb \\"q\\""}'
    default, _ = run([call("t", "Finish", args)])
    compat, _ = run([call("t", "Finish", args)], compat=True)
    assert default[-1] == ("conclusion", 'a\nb "q"')
    assert compat[-1] == ("conclusion", 'a\nb \\"q\\')  # raw text: escapes kept, quotes stripped


def test_call_observation_and_reflection():
    envelope = json.dumps({"error": "", "response": "ok"})
    cut = '{"error": "", "response": "[{\'a\': 1, ...'
    turns, _ = run(
        [
            call(None, "search_for_x", '{\n  "q": "a"\n}'),
            {"role": "function", "name": "search_for_x", "content": envelope},
            {"role": "user", "content": "This is not the first time you try this task"},
            call("again", "search_for_x", "{}"),
            {"role": "function", "name": "search_for_x", "content": cut},
            {"role": "function", "name": "search_for_x", "content": "no envelope"},
        ]
    )
    assert turns == [
        ("user", "q"),
        ("assistant", " Next: caller."),
        ("caller", 'Action: search_for_x\nAction Input: {\n  "q": "a"\n}'),
        ("observation", "ok"),
        ("user", "This is not the first time you try this task"),
        ("assistant", "again\n Next: caller."),
        ("caller", "Action: search_for_x\nAction Input: {}"),
        ("observation", " \"[{'a': 1, ..."),
        ("observation", ""),
    ]


def test_observation_that_is_a_json_string_follows_the_official_branch_order():
    """A tool content that is a JSON *string*: indexing ["response"] fails after json.loads succeeded, so the
    official salvage searches the decoded text (escapes resolved), not the raw text."""
    envelope = json.dumps({"error": "", "response": 'a\nb "q" \u00e9'})
    contents = [
        json.dumps(envelope),  # a whole envelope encoded twice
        json.dumps(envelope[:35]),  # encoded twice, cut inside the response
        json.dumps("plain text, no envelope"),
    ]
    msgs = [{"role": "function", "name": "search_for_x", "content": c} for c in contents]
    compat, _ = run(msgs, compat=True)
    default, _ = run(msgs)
    # the official script: content = json.loads(content) is the decoded text; the text after "response": stays
    assert compat[1:] == [
        ("observation", ' "a\\nb \\"q\\" \\u00e9"}'),
        ("observation", ' "a\\nb \\"q'),
        ("observation", ""),
    ]
    # by default a complete inner envelope is read as one; a cut one gets the same salvage
    assert default[1:] == [
        ("observation", 'a\nb "q" \u00e9'),
        ("observation", ' "a\\nb \\"q'),
        ("observation", ""),
    ]


def test_thought_without_call_dropped_in_compat_kept_by_default():
    msgs = [
        {"role": "assistant", "content": "just thinking"},
        call("t", "Finish", '{"return_type": "give_up_and_restart"}'),
    ]
    default, rep = run(msgs)
    compat, _ = run(msgs, compat=True)
    assert default[1] == ("assistant", "just thinking\n")
    assert len(compat) == len(default) - 1
    assert rep.notes["thoughts_without_call"] == 1


def test_unknown_role_is_a_format_error():
    with pytest.raises(FormatError) as err:
        run([{"role": "tool", "content": "x"}])
    assert err.value.reason == "unknown_role"


def _traj(turns):
    from umi_lib.data.records import Trajectory, Turn

    return Trajectory(TOOLS, "q", [Turn(r, v) for r, v in turns])


HALLU = [
    ("user", "q"),
    ("assistant", "a\n Next: caller."),
    ("caller", f"Action: {prompts.HALLUCINATED_NAME}\nAction Input: {{}}"),
    ("observation", "err"),
    ("assistant", "b\n Next: caller."),
    ("caller", "Action: search_for_x\nAction Input: {}"),
    ("observation", "ok"),
    ("assistant", "c\n Next: conclusion."),
    ("conclusion", "none"),
]


def test_hallucinated_calls_filtered_for_planner_and_caller_not_backbone():
    state = roles.BuildState()
    samples = pipeline.role_samples(_traj(HALLU), state)
    assert [s.target for s in samples["planner"]] == ["b\n Next: caller.", "c\n Next: conclusion."]
    assert len(samples["caller"]) == 1
    assert prompts.HALLUCINATED_NAME not in samples["caller"][0].input  # skipped turn not in history
    assert prompts.HALLUCINATED_NAME in samples["planner"][0].input  # planner history keeps it
    assert len(samples["backbone"]) == 3
    assert samples["summarizer"] == []  # a "none" answer is not a summarizer sample
    assert state.report.notes["summarizer_none_answers_skipped"] == 1


def test_role_prompts_and_targets():
    turns = HALLU[:1] + HALLU[4:7] + [("assistant", "c\n Next: conclusion."), ("conclusion", "done")]
    s = pipeline.role_samples(_traj(turns), roles.BuildState())
    caller = s["caller"][0]
    assert caller.input.endswith("Action Input: the api call request. caller: ")
    assert "The thought of this step is:\nb\n Next: caller.\n" in caller.input
    assert caller.input.count("b\n Next: caller.") == 2
    summ = s["summarizer"][0]
    assert summ.input.startswith("Make a conclusion based on the conversation history:\nuser: q</s>")
    assert summ.input.endswith("assistant: c\n Next: conclusion.</s> conclusion: ")
    assert summ.target == "done"
    bb = s["backbone"]
    assert [x.target for x in bb] == ["b\nAction: search_for_x\nAction Input: {}", "c\nconclusion: done"]
    assert "assistant: b\nAction: search_for_x\nAction Input: {}</s>observation: ok" in bb[1].input
    assert "caller: " not in bb[1].input.split("The conversation history is:")[1].split("You should")[0]


def test_placeholder_inside_data_is_not_refilled_by_default():
    tools = [{"Name": "t", "function": "uses {history} literally", "input": {}}]
    default = prompts.fill("planner", tools, "H")
    compat = prompts.fill("planner", tools, "H", compat=True)
    assert "uses {history} literally" in default
    assert "uses H literally" in compat
