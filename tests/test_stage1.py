"""Stage 1 on raw ToolBench DFS answer files and the test-id exclusion rules.

Rules: ``docs/formats.md#stage-1-tool-documentation``.
"""

from __future__ import annotations

import json

from conftest import ANSWERS, TEST_IDS

from umi_lib.data import pipeline, stage1
from umi_lib.data.jsonio import load_json
from umi_lib.data.readers import iter_answer_files


def test_tool_rewrite_rules():
    fn = {
        "name": "n" * 70 + "_for_tool",
        "description": "d" * 300,
        "parameters": {
            "properties": {
                "q": {"type": "string", "description": "x" * 10 + "y" * 256},
                "page": {"type": "integer"},
                "empty": {"type": "string", "description": ""},
            }
        },
    }
    tool = stage1.rewrite_tool(fn).to_json()
    assert list(tool) == ["Name", "function", "input"]
    assert tool["Name"] == ("n" * 70 + "_for_tool")[-64:]
    assert tool["function"] == "d" * 256
    assert tool["input"] == {"q": "string, " + "y" * 256, "page": "integer", "empty": "string, "}


def test_stage1_on_raw_answers_matches_the_official_rules(tmp_path):
    report = pipeline.convert_toolbench(ANSWERS, tmp_path, progress=False)
    items = json.loads((tmp_path / "raw_data_stage_1.json").read_text())
    # 15 files, the 2 with valid_data false have no train_messages (the official check skips them)
    assert (report.read, report.converted, dict(report.rejected)) == (15, 13, {"no_train_messages": 2})
    files = [p for _, p in iter_answer_files(ANSWERS)]
    usable = [p for p in files if "train_messages" in load_json(p)["answer_generation"]]
    assert len(items) == len(usable) == 13
    for item, path in zip(items, usable, strict=True):
        gen = load_json(path)["answer_generation"]
        assert item["instruction"] == gen["query"]
        assert item["chains"] == gen["train_messages"][-1]
        names = [f["name"][-64:] for f in gen["function"] if f["name"] != "Finish"]
        assert [t["Name"] for t in item["tools"]] == names


def test_answer_files_are_read_in_documented_order():
    order = [(g, p.name.split("_")[0]) for g, p in iter_answer_files(ANSWERS)]
    assert order[:5] == [("G1_answer", i) for i in ("10", "11", "57", "59", "69")]
    assert [g for g, _ in order] == sorted(g for g, _ in order)
    assert order[5:10] == [("G2_answer", i) for i in ("10", "52", "102", "119", "127")]


def _ids_dir(tmp_path, files):
    d = tmp_path / "ids"
    d.mkdir()
    for name, ids in files.items():
        (d / name).write_text(json.dumps({i: 0 for i in ids}))
    return d


def test_exclusion_is_per_group_by_default_and_global_in_compat(tmp_path):
    ids = _ids_dir(tmp_path, {"G1_instruction.json": ["10"], "G2_category.json": ["52"]})
    default = pipeline.convert_toolbench(ANSWERS, tmp_path / "a", exclude_ids=ids, progress=False)
    compat = pipeline.convert_toolbench(ANSWERS, tmp_path / "b", exclude_ids=ids, compat=True, progress=False)
    # default: G1 #10 and G2 #52 only; compat: id 10 is dropped in G1 *and* G2 (ids repeat across groups)
    assert default.notes["excluded_test_ids"] == 2
    assert compat.notes["excluded_test_ids"] == 3
    assert default.converted == 11 and compat.converted == 10


def test_bundled_test_ids_exclude_nothing_from_the_sample(tmp_path):
    report = pipeline.convert_toolbench(ANSWERS, tmp_path, exclude_ids=TEST_IDS, progress=False)
    assert report.notes["excluded_test_ids"] == 0 and report.converted == 13
