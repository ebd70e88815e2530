"""Reader for ToolEval converted answers (answer_details chains with Python-repr tool messages)."""

from __future__ import annotations

import pytest
from conftest import DATA

from umi_lib.data.readers import parse_tool_message, read_tooleval_answers
from umi_lib.data.records import FormatError, Report

FILES = sorted((DATA / "toolbench" / "tooleval_cot").glob("*.json*"))


def test_reads_all_600_answers():
    report = Report()
    answers = [a for f in FILES for a in read_tooleval_answers(f, report)]
    assert len(FILES) == 6 and len(answers) == 600 and report.converted == 600 and not report.rejected
    first = answers[0]
    assert first.method == "chatgpt_CoT" and first.query
    calls = [s for a in answers for s in a.steps if s.role == "tool"]
    assert calls and all(s.name for s in calls)
    # the shipped messages are cut to 100 characters, so most calls are flagged as truncated
    assert report.notes["tool_messages_truncated"] == sum(s.truncated for s in calls) > 0
    finish = [a for a in answers if a.steps and a.steps[-1].name == "Finish"]
    assert finish and {a.finish_type for a in answers} <= {"give_answer", "give_up", "none"}


def test_full_and_cut_messages():
    full = "{'name': 'a_for_b', 'arguments': '{\\n  \"x\": 1\\n}', 'response': '{\"error\": \"\"}'}"
    call = parse_tool_message(full)
    assert (call.name, call.arguments, call.response, call.truncated) == (
        "a_for_b",
        '{\n  "x": 1\n}',
        '{"error": ""}',
        False,
    )
    cut = parse_tool_message("{'name': 'a_for_b', 'arguments': '{\\n  \"x\": 12")
    assert (cut.name, cut.arguments, cut.truncated) == ("a_for_b", '{\n  "x": 12', True)
    with pytest.raises(FormatError):
        parse_tool_message("{'nam")
    with pytest.raises(FormatError):
        parse_tool_message(42)


def test_never_executes_message_content():
    # literal_eval refuses calls: a malicious message is only data
    evil = "{'name': __import__('os').system('echo pwned'), 'arguments': ''}"
    with pytest.raises(FormatError):
        parse_tool_message(evil)
