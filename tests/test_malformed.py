"""Malformed input ends in a rejects report (file, record, reason), never in a traceback."""

from __future__ import annotations

import copy
import json

import pytest
from conftest import ANSWERS, TRAIN_EXAMPLE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from umi_lib.cli import main
from umi_lib.data import pipeline
from umi_lib.data.jsonio import load_json

GOOD_STAGE2 = load_json(TRAIN_EXAMPLE / "raw_data" / "raw_data_stage_2.json")[0]
GOOD_ANSWER = load_json(ANSWERS / "G1_answer" / "10_ChatGPT_DFS_woFilter_w2.json")


def mutate(obj, path, value):
    obj = copy.deepcopy(obj)
    target = obj
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return obj


BAD_STAGE2 = {
    "missing_key": mutate(GOOD_STAGE2, ["conversations"], KeyError),
    "bad_record": mutate(GOOD_STAGE2, ["instruction"], 7),
    "bad_tool": mutate(GOOD_STAGE2, ["tools", 0, "input"], "not a dict"),
    "empty_chain": mutate(GOOD_STAGE2, ["conversations"], []),
    "unknown_role": mutate(GOOD_STAGE2, ["conversations", 1, "from"], "robot"),
    "bad_turn": mutate(GOOD_STAGE2, ["conversations", 2, "value"], None),
}


def test_stage2_file_with_bad_records(tmp_path):
    huge = mutate(GOOD_STAGE2, ["conversations", 1, "value"], "x" * 2_000_000 + "\n Next: caller.")
    records = [GOOD_STAGE2, *BAD_STAGE2.values(), huge, "not an object"]
    src = tmp_path / "stage2.json"
    src.write_text(json.dumps(records))
    report = pipeline.convert_roles(src, tmp_path / "out")
    expected = {reason: 1 for reason in BAD_STAGE2}
    expected["bad_record"] += 1  # the bare string
    assert dict(report.rejected) == expected
    assert (report.read, report.converted) == (len(records), 2)  # the good one and the huge one
    lines = (tmp_path / "out" / "report_rejects.jsonl").read_text().splitlines()
    rejects = [json.loads(line) for line in lines]
    assert {r["reason"] for r in rejects} == set(expected)
    assert all(r["file"] == str(src) and r["record"].isdigit() for r in rejects)


def test_truncated_json_file_is_reported(tmp_path, capsys):
    src = tmp_path / "cut.json"
    src.write_text(json.dumps([GOOD_STAGE2])[:5000])
    assert main(["convert", "roles", "--stage2", str(src), "--out", str(tmp_path / "o")]) == 1
    out = capsys.readouterr()
    assert "rejected[bad_json] = 1" in out.out and "nothing could be converted" in out.err
    report = json.loads((tmp_path / "o" / "report_rejects.jsonl").read_text())
    assert report["reason"] == "bad_json" and "line 1 column" in report["detail"]


def test_missing_inputs_exit_with_a_message(tmp_path, capsys):
    assert main(["convert", "toolbench", "--answers", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "holds none of G1_answer" in capsys.readouterr().err


def _answers_dir(tmp_path, docs: dict[str, object]):
    root = tmp_path / "answers" / "G1_answer"
    root.mkdir(parents=True)
    for name, doc in docs.items():
        text = doc if isinstance(doc, str) else json.dumps(doc)
        (root / f"{name}_ChatGPT_DFS_woFilter_w2.json").write_text(text)
    return root.parent


BAD_ANSWERS = {
    "1": mutate(GOOD_ANSWER, ["answer_generation", "train_messages"], []),  # empty_chain
    "2": mutate(GOOD_ANSWER, ["answer_generation", "train_messages", -1, 2, "role"], "robot"),  # unknown_role
    "3": mutate(GOOD_ANSWER, ["answer_generation", "function"], "nope"),  # bad_functions
    "4": mutate(GOOD_ANSWER, ["answer_generation", "query"], None),  # missing_key
    "5": '{"answer_generation": {"train_messages": [[{"role": "sys',  # bad_json
    "6": mutate(GOOD_ANSWER, ["answer_generation", "train_messages", -1, 3, "function_call"], {"name": 5}),
    "7": [1, 2, 3],  # bad_record
    "8": GOOD_ANSWER,
}


def test_raw_answer_files_with_bad_records(tmp_path):
    report = pipeline.convert_toolbench(_answers_dir(tmp_path, BAD_ANSWERS), tmp_path / "out", progress=False)
    assert dict(report.rejected) == {
        "empty_chain": 1,
        "unknown_role": 1,
        "bad_functions": 1,
        "missing_key": 1,
        "bad_json": 1,
        "bad_function_call": 1,
        "bad_record": 1,
    }
    assert report.converted == 1
    stage1 = json.loads((tmp_path / "out" / "raw_data_stage_1.json").read_text())
    assert len(stage1) == 1
    ids = {r.record for r in report.rejects}
    assert ids == {str(i) for i in range(1, 8)}


leaf = st.none() | st.integers() | st.text(max_size=30) | st.lists(st.text(max_size=5), max_size=2)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(index=st.integers(0, 200), value=leaf, drop=st.booleans())
def test_fuzzed_stage2_records_never_raise(tmp_path, index, value, drop):
    rec = copy.deepcopy(GOOD_STAGE2)
    paths = []

    def walk(node, path):
        paths.append(path)
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
        for k, v in children:
            walk(v, [*path, k])

    walk(rec, [])
    path = paths[index % len(paths)]
    if path:
        rec = mutate(rec, path, KeyError if drop and isinstance(path[-1], str) else value)
    src = tmp_path / "f.json"
    src.write_text(json.dumps([rec]))
    report = pipeline.convert_roles(src, tmp_path / "o")
    assert report.read == 1 and report.converted + sum(report.rejected.values()) == 1


@pytest.mark.parametrize("reason, record", sorted(BAD_STAGE2.items()))
def test_each_bad_stage2_record_has_its_reason(tmp_path, reason, record):
    src = tmp_path / "f.json"
    src.write_text(json.dumps([record]))
    report = pipeline.convert_roles(src, tmp_path / "o")
    assert dict(report.rejected) == {reason: 1}
