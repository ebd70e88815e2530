"""--compat reproduces the official scripts byte for byte on the shipped train example.

Rules: ``docs/formats.md#stage-2-labelled-conversations`` and ``docs/formats.md#role-sample-files``.
"""

from __future__ import annotations

import gzip
import json

import pytest
from conftest import TRAIN_EXAMPLE

from umi_lib.cli import main
from umi_lib.data import pipeline

OFFICIAL = {
    "raw_data_stage_2.json": TRAIN_EXAMPLE / "raw_data" / "raw_data_stage_2.json",
    "train_backbone.json": TRAIN_EXAMPLE / "train_backbone.json",
    "train_planner.json": TRAIN_EXAMPLE / "train_planner.json",
    "train_caller.json": TRAIN_EXAMPLE / "train_caller.json",
    "train_summarizer.json": TRAIN_EXAMPLE / "train_summarizer.json",
}
STAGE1 = TRAIN_EXAMPLE / "raw_data" / "raw_data_stage_1.json.gz"


def official_bytes(name: str) -> bytes:
    path = OFFICIAL[name]
    gz = path.with_name(path.name + ".gz")
    return gzip.decompress(gz.read_bytes()) if gz.exists() else path.read_bytes()


@pytest.fixture(scope="module")
def compat_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("compat")
    assert main(["convert", "stage1", "--stage1", str(STAGE1), "--out", str(out), "--compat"]) == 0
    return out


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_compat_output_is_byte_identical(compat_out, name):
    assert (compat_out / name).read_bytes() == official_bytes(name)


def test_compat_counts(compat_out):
    counts = {n: len(json.loads((compat_out / n).read_text())) for n in OFFICIAL}
    assert counts == {
        "raw_data_stage_2.json": 20,
        "train_backbone.json": 79,
        "train_planner.json": 79,
        "train_caller.json": 59,
        "train_summarizer.json": 14,
    }


def test_roles_from_official_stage2_are_identical_too(tmp_path):
    """`umi convert roles` on the shipped stage-2 file gives the shipped role files (compat)."""
    stage2 = tmp_path / "stage2.json"
    stage2.write_bytes(official_bytes("raw_data_stage_2.json"))
    pipeline.convert_roles(stage2, tmp_path / "out", compat=True)
    for name in ("train_planner.json", "train_caller.json", "train_summarizer.json", "train_backbone.json"):
        assert (tmp_path / "out" / name).read_bytes() == official_bytes(name), name


def test_default_mode_fixes_backbone_give_up_inputs(tmp_path, compat_out):
    """Default mode: the 6 give-up samples get their own prompt; all other backbone samples are unchanged."""
    pipeline.convert_stage1_file(STAGE1, tmp_path, compat=False)
    ours = json.loads((tmp_path / "train_backbone.json").read_text())
    theirs = json.loads((compat_out / "train_backbone.json").read_text())
    # default mode keeps thoughts without calls as history turns, so compare the trajectories without them
    give_ups = [s for s in ours if s["target"].endswith("\nconclusion: give up.")]
    assert len(give_ups) == 6
    for s in give_ups:
        last = s["history"][-1]
        assert s["input"].endswith(" assistant: ")
        # the fixed prompt renders the turn right before the give-up step (the official one misses it)
        assert last["value"][:40] in s["input"]
    stale = [s for s in theirs if s["target"].endswith("\nconclusion: give up.")]
    assert sum(s["history"][-1]["value"][:40] not in s["input"] for s in stale) > 0


def test_default_mode_keeps_thoughts_without_calls(tmp_path, compat_out):
    report = pipeline.convert_stage1_file(STAGE1, tmp_path, compat=False)
    ours = json.loads((tmp_path / "raw_data_stage_2.json").read_text())
    theirs = json.loads((compat_out / "raw_data_stage_2.json").read_text())
    unlabeled = [
        t for traj in ours for t in traj["conversations"] if t["from"] == "assistant" and "Next:" not in t["value"]
    ]
    assert len(unlabeled) == 9 == report.notes["thoughts_without_call"]
    n_ours = sum(len(t["conversations"]) for t in ours)
    n_theirs = sum(len(t["conversations"]) for t in theirs)
    assert n_ours == n_theirs + 9
