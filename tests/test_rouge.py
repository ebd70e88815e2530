"""umi_lib.evaluation.rouge against the package the paper used (rouge==1.0.1), including where that package crashes."""

from __future__ import annotations

import sys

import pytest
from conftest import OOD
from hypothesis import given, settings
from hypothesis import strategies as st

from umi_lib.data.jsonio import load_json
from umi_lib.evaluation import rouge
from umi_lib.evaluation.metrics import FINISH, parse_output

Rouge = pytest.importorskip("rouge").Rouge

# Words, sentence breaks, whitespace runs and a repeated token: the features the algorithm is sensitive to.
TEXT = st.lists(st.sampled_from(["a", "b", "The", "the", "x,", "é", ".", ". ", "  ", "\n", "a."]), max_size=30).map(
    " ".join
)


def _package_f(hyp: str, ref: str) -> float:
    return Rouge().get_scores(hyps=[hyp], refs=[ref], avg=True)["rouge-l"]["f"]


@settings(max_examples=400, deadline=None)
@given(TEXT, TEXT)
def test_same_value_as_rouge_package(hyp, ref):
    ours = rouge.rouge_l_pair(hyp, ref)
    try:
        expected = _package_f(hyp, ref)
    except ValueError:
        assert ours.crash in (rouge.EMPTY_HYPOTHESIS, rouge.EMPTY_REFERENCE) and ours.f == 0.0
        return
    assert ours.crash is None
    assert ours.f == pytest.approx(expected, abs=1e-12)


def test_real_answers_against_package():
    """The 294 real OOD answers, each scored against its neighbour's reference: the package's mean."""
    steps = [parse_output(s["reference"]) for s in _ood_references()]
    answers = [p.answer for p in steps if p.plan == FINISH]
    hyps, refs = answers[1:] + answers[:1], answers
    assert len(refs) == 294
    ours = rouge.rouge_l(hyps, refs)
    assert not ours.crashes
    assert ours.f == pytest.approx(Rouge().get_scores(hyps=hyps, refs=refs, avg=True)["rouge-l"]["f"], abs=1e-12)


def _ood_references():
    from umi_lib.data.readers import trajectory_from_json
    from umi_lib.data.records import Report
    from umi_lib.data.steps import trajectory_steps

    report = Report()
    for k, obj in enumerate(load_json(OOD)):
        yield from trajectory_steps(trajectory_from_json(obj, OOD, str(k)), k, report)


@pytest.mark.parametrize(
    ("hyp", "ref", "value"),
    [
        # docs/metrics.md#rouge-l-two-packages, measured with rouge 1.0.1
        ("The weather in Paris is sunny today.", "Today the weather in Paris is sunny.", 0.714),
        ("a a a b", "a b b b", 1.000),
        ("Answers: cats, dogs", "cats and dogs", 0.333),
    ],
)
def test_documented_values(hyp, ref, value):
    assert rouge.rouge_l_pair(hyp, ref).f == pytest.approx(value, abs=5e-4)


def test_tie_break_follows_package_backtrace():
    # "a b" vs "b a" has two LCSs of length 1. Which one the back-trace keeps decides the union with the
    # second reference sentence "a": {a, b} (llcs 2) or {a} (llcs 1), so the value depends on the tie-break.
    assert rouge.lcs_tokens(["a", "b"], ["b", "a"])[0] == _package_lcs(["a", "b"], ["b", "a"])
    hyp, ref = "b a", "a b. a"
    assert rouge.rouge_l_pair(hyp, ref).f == pytest.approx(_package_f(hyp, ref), abs=1e-12)
    # the package keeps 'b', so the union is {a, b}: P = R = 1 (keeping 'a' would give P = R = 1/2)
    assert rouge.rouge_l_pair(hyp, ref).p == 1.0


def _package_lcs(ref, hyp):
    from rouge import rouge_score

    return set(rouge_score._recon_lcs(ref, hyp)._ngrams)


def test_recursion_case_gets_the_exact_value():
    """A 700-token sentence pair: the package's recursive back-trace dies, ours returns its exact value."""
    ref = " ".join(f"w{k % 97}" for k in range(700))
    hyp = " ".join(f"w{(k * 7) % 89}" for k in range(700))
    ours = rouge.rouge_l_pair(hyp, ref)
    assert ours.crash == rouge.RECURSION
    with pytest.raises(RecursionError):
        _package_f(hyp, ref)
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)
    try:
        expected = _package_f(hyp, ref)
    finally:
        sys.setrecursionlimit(old)
    assert ours.f == pytest.approx(expected, abs=1e-12)


def test_short_pairs_are_not_flagged_as_recursion():
    text = " ".join(f"w{k}" for k in range(400))
    assert rouge.rouge_l_pair(text, text).crash is None


def test_corpus_mean_and_empty_corpus():
    assert rouge.rouge_l([], []).f == 0.0
    both = rouge.rouge_l(["a", "..."], ["a", "a"])
    assert both.f == pytest.approx(rouge.rouge_l_pair("a", "a").f / 2)
    assert both.crashes == {rouge.EMPTY_HYPOTHESIS: 1}
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        rouge.rouge_l(["a", "b"], ["a"])


def test_rouge_score_extra_is_a_different_metric():
    # rouge-score lower-cases and counts repeats: 'a a a b' vs 'a b b b' is 0.5 there, 1.0 in rouge 1.0.1.
    assert rouge.rouge_score_l(["a a a b"], ["a b b b"]) == pytest.approx(0.5)
    assert rouge.rouge_score_l([], []) == 0.0
