"""umi_lib.bfcl: BFCL's 800 multi-turn tasks, the eval-free scorer, reference outputs and the action gate."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from umi_lib.bfcl import tasks
from umi_lib.bfcl.calls import MAX_ARGS_BYTES, Call, CallError, Rejection, allowed_functions, check_action, parse_call
from umi_lib.bfcl.reference import DEGRADATIONS, degraded_turns, ground_truth_turns
from umi_lib.bfcl.score import accuracy, score_task
from umi_lib.bfcl.world import World

pytestmark = pytest.mark.skipif(
    not tasks.available(),
    reason=f"BFCL tests need the optional package: {tasks.unavailable_reason()}; {tasks.INSTALL_HINT}",
)

# passes per category of each degraded kind (seed 0, all 800 tasks), and why the others fail
GOLDEN = {
    "wrong_argument": ({"base": 16, "miss_func": 12, "miss_param": 12, "long_context": 12},
                       {"state": 457, "response": 291}),
    "skipped_call": ({"base": 0, "miss_func": 0, "miss_param": 0, "long_context": 0},
                     {"empty_turn": 362, "state": 253, "response": 185}),
    "extra_call": ({"base": 162, "miss_func": 164, "miss_param": 165, "long_context": 168}, {"state": 141}),
    "wrong_function": ({"base": 2, "miss_func": 1, "miss_param": 0, "long_context": 0},
                       {"state": 426, "response": 371}),
}  # fmt: skip


@pytest.fixture(scope="module")
def all_tasks():
    return tasks.load_tasks()


@pytest.fixture(scope="module")
def by_id(all_tasks):
    return {t.id: t for t in all_tasks}


def test_all_800_tasks_load(all_tasks):
    assert Counter(t.category for t in all_tasks) == {c: 200 for c in tasks.CATEGORIES}
    for t in all_tasks:
        assert len(t.turns) == len(t.ground_truth) and t.turns
        assert t.long_context == (t.category == "multi_turn_long_context")
        offered = {d["name"] for d in t.functions}
        assert not offered & set(t.excluded)
        assert len(offered) == len(t.functions)  # no duplicates
    assert sum(bool(t.excluded) for t in all_tasks) == 4 * 18


def test_miss_func_holds_functions_out_until_their_turn(by_id):
    t = by_id["multi_turn_miss_func_0"]
    assert t.added_functions.keys() == {3} and [d["name"] for d in t.added_functions[3]] == ["sort"]
    assert "sort" not in {d["name"] for d in t.functions} and t.excluded == ["cp"]
    assert "cp" not in {d["name"] for d in t.functions}
    assert t.turns[3] == [] and t.ground_truth[2] == [] and t.ground_truth[3] == ["sort('final_report.pdf')"]
    for task in by_id.values():
        assert bool(task.added_functions) == (task.category == "multi_turn_miss_func")
        for turn in task.added_functions:
            assert task.turns[turn] == [] and task.ground_truth[turn - 1] == []


def test_load_tasks_selection():
    two = tasks.load_tasks(limit=2)
    assert [t.id for t in two[:2]] == ["multi_turn_base_0", "multi_turn_base_1"] and len(two) == 8
    picked = tasks.load_tasks(ids=["multi_turn_long_context_3", "multi_turn_base_7"])
    assert [t.id for t in picked] == ["multi_turn_long_context_3", "multi_turn_base_7"]
    with pytest.raises(KeyError, match="multi_turn_base_9999"):
        tasks.load_tasks(ids=["multi_turn_base_9999"])
    with pytest.raises(ValueError, match="unknown BFCL categories"):
        tasks.load_tasks(["simple"])


def test_unavailable_names_the_install_command(monkeypatch):
    monkeypatch.setattr(tasks, "package_root", lambda: None)
    assert not tasks.available()
    with pytest.raises(tasks.BfclUnavailable) as info:
        tasks.require()
    assert "pip install --no-deps bfcl-eval==2026.3.23 mpmath" in str(info.value)
    assert "make bfcl" in str(info.value)


def test_ground_truth_passes_all_800_tasks(all_tasks):
    start = time.perf_counter()
    results = [score_task(t, ground_truth_turns(t)) for t in all_tasks]
    elapsed = time.perf_counter() - start
    failed = [(r.task_id, r.failed_turn, r.reason, r.detail) for r in results if not r.passed]
    assert not failed, failed[:10]
    acc = accuracy(results)
    assert acc["overall"] == {"n": 800, "passed": 800, "accuracy": 100.0, "low": 100.0, "high": 100.0}
    assert elapsed < 60, f"ground truth on 800 tasks took {elapsed:.1f} s"


def test_raw_positional_ground_truth_passes_too(all_tasks):
    """The parsed call strings as they are (positional arguments kept) score the same."""
    positional = [t for t in all_tasks if any(parse_call(c).positional for turn in t.ground_truth for c in turn)]
    assert len(positional) == 96
    for t in positional:
        turns = [[[parse_call(c)] for c in turn] for turn in t.ground_truth]
        assert score_task(t, turns).passed, t.id


@pytest.mark.parametrize("kind", DEGRADATIONS)
def test_degraded_kinds_score_lower_with_golden_counts(all_tasks, kind):
    results = [score_task(t, degraded_turns(t, kind, seed=0)) for t in all_tasks]
    passed = Counter()
    for r in results:
        passed[r.category.removeprefix("multi_turn_")] += r.passed
    reasons = Counter(r.reason for r in results if not r.passed)
    golden_passed, golden_reasons = GOLDEN[kind]
    assert {c: passed[c] for c in golden_passed} == golden_passed
    assert dict(reasons) == golden_reasons
    assert sum(passed.values()) < len(all_tasks)  # strictly below the ground truth's 800
    again = [score_task(t, degraded_turns(t, kind, seed=0)).passed for t in all_tasks[:50]]
    assert again == [r.passed for r in results[:50]]  # seeded


def test_accuracy_intervals(all_tasks):
    results = [score_task(t, degraded_turns(t, "wrong_argument", seed=0)) for t in all_tasks]
    acc = accuracy(results)
    assert acc == accuracy(results)  # seeded
    assert acc["multi_turn_base"]["accuracy"] == 8.0 and acc["overall"]["accuracy"] == 6.5
    for entry in acc.values():
        assert entry["low"] <= entry["accuracy"] <= entry["high"] and entry["low"] < entry["high"]


def test_failures_name_the_turn_and_reason(by_id):
    t = by_id["multi_turn_base_0"]
    turns = ground_truth_turns(t)
    turns[1] = []
    r = score_task(t, turns)
    assert (r.passed, r.failed_turn, r.reason, r.turns) == (False, 1, "empty_turn", 4)
    r = score_task(t, turns[:-1])
    assert (r.passed, r.failed_turn, r.reason) == (False, None, "turn_count")
    turns = ground_truth_turns(t)
    turns[0][1] = [Call("mkdir", {"dir_name": "tmp"})]
    r = score_task(t, turns)
    assert (r.failed_turn, r.reason, r.detail) == (0, "state", "GorillaFileSystem.root")


def test_empty_ground_truth_turns_are_never_penalised_but_calls_there_run(by_id):
    t = by_id["multi_turn_miss_func_0"]
    turns = ground_truth_turns(t)
    turns[2], turns[3] = turns[3], []  # sort() called early, in the turn where it was missing
    r = score_task(t, turns)
    assert (r.failed_turn, r.reason) == (3, "empty_turn")
    turns[3] = [[Call("pwd", {})]]  # any call: the state and the earlier sort() result both count
    assert score_task(t, turns).passed


def test_results_render_as_bfcl_does(by_id):
    world = World(by_id["multi_turn_base_0"])
    assert world.call(Call("cd", {"folder": "document"})) == '{"current_working_directory": "document"}'
    assert world.call(Call("cd", {"nope": 1})).startswith("Error during execution: GorillaFileSystem.cd() got")
    assert world.call(Call("run", {})) == "Error during execution: Function call run is not allowed."
    assert world.call(Call("nothing", {})) == "Error during execution: name 'nothing' is not defined"


def test_worlds_never_share_state(by_id):
    a, b = World(by_id["multi_turn_base_0"]), World(by_id["multi_turn_base_0"])
    before = b.state()
    a.call(Call("mkdir", {"dir_name": "new"}))
    assert a.differences(b) == ["GorillaFileSystem.root"] and b.state() == before
    # long context: TravelAPI's extension cards are module-level records in BFCL; each World has its own
    t = by_id["multi_turn_long_context_154"]
    a, b = World(t), World(t)
    charge = Call("purchase_insurance", {"access_token": "token_ABC123XYZ", "insurance_type": "travel",
                                         "booking_id": "booking_901", "insurance_cost": 10.0,
                                         "card_id": "1234567812345678"})  # fmt: skip
    assert '"insurance_status": true' in a.call(charge)
    assert a.differences(b) == ["TravelAPI.credit_card_list"]
    assert World(t).differences(b) == []


def test_ground_truth_parsing_is_literal_only():
    assert parse_call("sort('final_report.pdf')") == Call("sort", {}, ("final_report.pdf",))
    call = parse_call("mean(numbers=[1, 2.5, -3], flag=True, extra={'a': None})")
    assert call.args == {"numbers": [1, 2.5, -3], "flag": True, "extra": {"a": None}}
    assert parse_call(call.render()) == call
    for bad in [
        "f(x=os.system('ls'))",
        "os.system('ls')",
        "__import__('os').system('ls')",
        "_load_scenario(x=1)",
        "f(x=__import__('os'))",
        "f(x=[i for i in range(3)])",
        "f(x=lambda: 1)",
        "f(*args)",
        "f(**kwargs)",
        "f(x=1); g()",
        "f(x=1)(y=2)",
        "x",
        "f(" + "[" * 5000 + "]" * 5000 + ")",
        "f(x='" + "a" * 70_000 + "')",
    ]:
        with pytest.raises(CallError):
            parse_call(bad)


def test_ground_truth_calls_render_and_parse_back(all_tasks):
    for t in all_tasks:
        for turn in t.ground_truth:
            for text in turn:
                call = parse_call(text)
                assert parse_call(call.render()) == call


def test_malicious_actions_are_rejected_counted_and_never_run(by_id, tmp_path):
    t = by_id["multi_turn_base_0"]
    allowed = allowed_functions(t.functions)
    allowed["_load_scenario"] = allowed["cd"]  # even an offered private name is refused
    sentinel = tmp_path / "sentinel"
    world = World(t)
    before = world.state()
    deep: list = []
    for _ in range(100):
        deep = [deep]
    actions = [
        ("__import__('os').system", {"command": f"touch {sentinel}"}, "rejected_name"),
        ("__class__", {}, "rejected_name"),
        ("_load_scenario", {"folder": "x"}, "rejected_name"),
        ("os.system", {"command": f"touch {sentinel}"}, "rejected_name"),
        ("cd; import os", {"folder": "x"}, "rejected_name"),
        (None, {}, "rejected_name"),
        ("system", {"command": f"touch {sentinel}"}, "unknown_function"),
        ("cp", {"source": "a", "destination": "b"}, "unknown_function"),  # excluded in this task
        ("echo", {"content": "x" * 1_000_000}, "too_large"),
        ("echo", json.dumps({"content": "x" * 1_000_000}), "too_large"),
        ("echo", {"content": "hi", "file_name": deep}, "too_large"),
        ("cd", ["document"], "bad_arguments"),
        ("cd", '["document"]', "bad_arguments"),
        ("cd", "{not json", "bad_arguments"),
        ("cd", '{"folder": NaN}', "bad_arguments"),
        ("cd", {"folder": float("inf")}, "bad_arguments"),
        ("cd", {"folder": object()}, "bad_arguments"),
        ("cd", {"folder": "document", "sudo": True}, "bad_arguments"),
        ("cd", {}, "bad_arguments"),  # a required parameter is missing
    ]
    counts: Counter = Counter()
    for name, args, kind in actions:
        out = check_action(name, args, allowed, counts)
        if isinstance(out, Call):  # the agent loop runs only what passes the gate
            world.call(out)
        assert isinstance(out, Rejection) and out.kind == kind, (name, out)
    assert counts == Counter(kind for *_, kind in actions)
    assert not sentinel.exists() and world.state() == before
    # defence in depth: the World itself never runs a private or unknown name
    for name in ["__class__", "_load_scenario", "__import__('os').system", "system"]:
        assert world.call(Call(name, {"command": f"touch {sentinel}"})).startswith("Error during execution: ")
    assert not sentinel.exists() and world.state() == before


def test_a_valid_action_becomes_a_fresh_call(by_id):
    allowed = allowed_functions(by_id["multi_turn_base_0"].functions)
    args = {"folder": "document"}
    call = check_action("cd", json.dumps(args), allowed)
    assert call == Call("cd", args)
    call = check_action("cd", args, allowed)
    assert call == Call("cd", args) and call.args is not args
    assert check_action("pwd", None, allowed) == Call("pwd", {})
    assert isinstance(check_action("echo", {"content": "x" * (MAX_ARGS_BYTES - 20)}, allowed), Call)
