"""ROUGE-L exactly as the paper computed it (PyPI ``rouge==1.0.1``), without its crashes.

The α-UMi evaluator calls ``Rouge().get_scores(hyps, refs, avg=True)["rouge-l"]["f"]``. That package's
ROUGE-L is *summary level* and works on **sets** of tokens (``exclusive=True``), which is why it gives
different numbers from ``rouge-score`` (see ``docs/metrics.md#rouge-l-two-packages``). Per (hypothesis, reference) pair:

1. split each text on ``"."``; keep the pieces that are non-empty *before* whitespace is collapsed (so
   ``"Done. "`` gives ``["Done", ""]`` and the empty sentence contributes the token ``""``);
2. tokens of a sentence = ``" ".join(piece.split()).split(" ")`` (case-sensitive, punctuation kept);
3. for every reference sentence and every hypothesis sentence take the LCS that the package's back-trace
   picks, as a set of tokens, and union all of them; ``llcs`` = size of the union;
4. ``R = llcs / |distinct reference tokens|``, ``P = llcs / |distinct hypothesis tokens|``,
   ``F = 2PR / (P + R + 1e-8)``; the corpus score is the mean of the per-pair ``F``.

The package crashes where this module returns a defined value (see :data:`CRASH_CASES`): a text with no
sentence left after step 1 raises ``ValueError``, and the recursive back-trace exceeds Python's recursion
limit for long sentence pairs. Here the back-trace is a loop, so long pairs get their exact value.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

# The official script reaches the back-trace through 8 frames (module, evaluate_rougel, get_scores,
# _get_avg_scores, the metric lambda, rouge_l_summary_level, _union_lcs, _recon_lcs). With CPython's
# default limit of 1000 frames, a back-trace deeper than 1000 - 8 = 992 calls raises RecursionError.
OFFICIAL_RECURSION_BUDGET = 1000 - 8

EMPTY_HYPOTHESIS = "rouge_empty_hypothesis"

EMPTY_REFERENCE = "rouge_empty_reference"

RECURSION = "rouge_recursion_limit"

CRASH_CASES = {
    EMPTY_HYPOTHESIS: "hypothesis has no sentence after splitting on '.' (e.g. '...'): official ValueError; here F = 0",
    EMPTY_REFERENCE: "reference has no sentence after splitting on '.': official ValueError; here F = 0",
    RECURSION: "a sentence pair's LCS back-trace needs > 992 recursive calls: official RecursionError; "
    "here the exact value, computed iteratively",
}


def sentences(text: str) -> list[list[str]]:
    """Token lists of the ``"."``-separated sentences of ``text``, as ``rouge`` 1.0.1 builds them."""
    return [" ".join(piece.split()).split(" ") for piece in text.split(".") if piece]


def lcs_tokens(ref: Sequence[str], hyp: Sequence[str]) -> tuple[set[str], int]:
    """Tokens of the LCS the package's back-trace picks, and how deep its recursion would go.

    Ties go to the hypothesis side (``j - 1``) unless the cell above is strictly larger, as in the package;
    the choice matters because different LCSs of equal length can hold different token sets.
    """
    n, m = len(ref), len(hyp)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        row, prev, r = table[i], table[i - 1], ref[i - 1]
        for j in range(1, m + 1):
            row[j] = prev[j - 1] + 1 if r == hyp[j - 1] else max(prev[j], row[j - 1])
    i, j, depth, picked = n, m, 1, set()
    while i > 0 and j > 0:
        if ref[i - 1] == hyp[j - 1]:
            picked.add(ref[i - 1])
            i, j = i - 1, j - 1
        elif table[i - 1][j] > table[i][j - 1]:
            i -= 1
        else:
            j -= 1
        depth += 1
    return picked, depth


@dataclass
class PairScore:
    """ROUGE-L of one pair, and the reason the official package would have crashed on it (if any)."""

    f: float
    p: float
    r: float
    crash: str | None = None


def rouge_l_pair(hypothesis: str, reference: str) -> PairScore:
    """Summary-level ROUGE-L of one pair with the ``rouge`` 1.0.1 semantics (module docstring)."""
    hyp, ref = sentences(hypothesis), sentences(reference)
    if not hyp:
        return PairScore(0.0, 0.0, 0.0, EMPTY_HYPOTHESIS)
    if not ref:
        return PairScore(0.0, 0.0, 0.0, EMPTY_REFERENCE)
    union: set[str] = set()
    deepest = 0
    for ref_sentence in ref:
        for hyp_sentence in hyp:
            picked, depth = lcs_tokens(ref_sentence, hyp_sentence)
            union |= picked
            deepest = max(deepest, depth)
    m = len({t for s in ref for t in s})
    n = len({t for s in hyp for t in s})
    r, p = len(union) / m, len(union) / n
    f = 2.0 * ((p * r) / (p + r + 1e-8))
    return PairScore(f, p, r, RECURSION if deepest > OFFICIAL_RECURSION_BUDGET else None)


@dataclass
class CorpusScore:
    """Mean ROUGE-L F over pairs, the per-pair values, and how often the official package would crash."""

    f: float
    per_pair: list[float] = field(default_factory=list)
    crashes: Counter = field(default_factory=Counter)


def rouge_l(hypotheses: Sequence[str], references: Sequence[str]) -> CorpusScore:
    """``Rouge().get_scores(hyps, refs, avg=True)["rouge-l"]["f"]``; 0 when there are no pairs (as the paper's code)."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    scores = [rouge_l_pair(h, r) for h, r in zip(hypotheses, references, strict=True)]
    per_pair = [s.f for s in scores]
    crashes = Counter(s.crash for s in scores if s.crash)
    return CorpusScore(sum(per_pair) / len(per_pair) if per_pair else 0.0, per_pair, crashes)


def rouge_score_l(hypotheses: Sequence[str], references: Sequence[str]) -> float | None:
    """Mean ``rouge-score`` 0.1.2 ROUGE-L F (a different metric: lower-cased, sentence-level, with repeats).

    Reported as the separately named extra ``rouge_score_rougeL``; ``None`` if the package is missing.
    """
    try:
        from rouge_score import rouge_scorer
    except ImportError:
        return None
    if not references:
        return 0.0
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    values = [scorer.score(r, h)["rougeL"].fmeasure for h, r in zip(hypotheses, references, strict=True)]
    return sum(values) / len(values)
