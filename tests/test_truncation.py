"""Token-budget truncation: the target and the query survive, the oldest turns go first."""

from __future__ import annotations

from umi_lib.data import budget, roles
from umi_lib.data.records import Report, Tool, Trajectory, Turn


def words(text: str) -> int:
    return len(text.split())


def traj(n_calls: int) -> Trajectory:
    turns = [Turn("user", "the query")]
    for k in range(n_calls):
        turns += [
            Turn("assistant", f"thought {k} " + "w " * 20 + "\n Next: caller."),
            Turn("caller", f'Action: t\nAction Input: {{"k": {k}}}'),
            Turn("observation", f"obs {k} " + "o " * 30),
        ]
    turns += [Turn("assistant", "final\n Next: conclusion."), Turn("conclusion", "answer " * 5)]
    return Trajectory([Tool("t", "tool", {})], "the query", turns)


def test_fits_by_dropping_oldest_turns():
    sample = roles.planner_samples(traj(6), roles.BuildState())[-1]
    full = words(sample.input) + words(sample.target)
    limit = full - 60
    fitted = budget.fit_sample(sample, words, limit, reserve=0)
    assert fitted is not None and fitted.dropped_turns > 0
    assert words(fitted.input) + words(fitted.target) <= limit
    assert fitted.target == "final\n Next: conclusion."
    history = fitted.input.split("The conversation history is:\n")[1]
    assert history.startswith("user: the query</s>")  # the query stays
    assert "thought 0" not in fitted.input and "obs 5" in fitted.input  # oldest gone, newest kept
    # minimal: dropping one turn fewer would not fit
    assert words(budget.rerender(sample, fitted.dropped_turns - 1)) + words(sample.target) > limit


def test_sample_that_fits_is_untouched():
    sample = roles.planner_samples(traj(1), roles.BuildState())[0]
    before = sample.input
    assert budget.fit_sample(sample, words, 10_000).input == before
    assert sample.dropped_turns == 0


def test_impossible_budget_is_a_counted_reject():
    samples = roles.planner_samples(traj(2), roles.BuildState())
    report = Report()
    kept = list(budget.fit_samples(samples, words, 20, report))
    assert kept == [] and report.rejected["too_long"] == len(samples)
    assert all(r.reason == "too_long" for r in report.rejects)


def test_shortened_samples_are_counted_and_marked():
    samples = roles.caller_samples(traj(6), roles.BuildState())
    report = Report()
    kept = list(budget.fit_samples(samples, words, 200, report))
    shortened = [s for s in kept if s.dropped_turns]
    assert shortened and report.notes["shortened_caller"] == len(shortened)
    assert all(s.to_json()["dropped_history_turns"] == s.dropped_turns for s in shortened)
    assert len(kept) + sum(report.rejected.values()) == len(samples)


def test_cli_budget_with_a_real_tokenizer(tmp_path, capsys):
    import json

    from conftest import TRAIN_EXAMPLE

    from umi_lib.cli import main
    from umi_lib.train.bases import token_counter

    stage1 = str(TRAIN_EXAMPLE / "raw_data" / "raw_data_stage_1.json.gz")
    args = ["convert", "stage1", "--stage1", stage1, "--out", str(tmp_path), "--max-tokens", "1536"]
    assert main([*args, "--tokenizer", "tiny-random"]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["notes"]["shortened_planner"] > 0 and report["rejected"]["too_long"] > 0
    count = token_counter("tiny-random")
    planner = json.loads((tmp_path / "train_planner.json").read_text())
    assert all(count(s["input"]) + count(s["target"]) + 1 <= 1536 for s in planner)
    assert (
        len(planner)
        + sum(1 for line in (tmp_path / "report_rejects.jsonl").read_text().splitlines() if '"planner"' in line)
        == 79
    )
    assert main([*args, "--compat"]) == 2
    assert "cannot be combined with --compat" in capsys.readouterr().err
