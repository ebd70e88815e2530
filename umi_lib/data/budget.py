"""Token-budget truncation: drop the oldest history turns, keep the query and the target.

A sample that cannot fit even with every droppable turn gone is a counted reject, never silently cut.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from umi_lib import prompts as P
from umi_lib.data.records import Report, RoleSample


def rerender(sample: RoleSample, drop: int, compat: bool = False) -> str:
    """The sample's prompt with history turns 1..drop removed (turn 0, the user query, is kept)."""
    segs = sample.segments[:1] + sample.segments[1 + drop :]
    tools = [t.to_json() for t in sample.tools]
    return P.fill(sample.role, tools, "".join(segs), sample.thought, compat=compat)


def fit_sample(
    sample: RoleSample, count_tokens: Callable[[str], int], max_tokens: int, reserve: int = 1
) -> RoleSample | None:
    """Shorten ``sample`` to ``max_tokens`` (prompt + target + ``reserve`` for EOS), or None if impossible.

    The official trainer kept the *last* 4096 tokens (losing the start of the prompt); TRL keeps the start
    and would cut the target. Here the target always survives and the oldest turns go first, found by
    binary search over how many turns to drop (token counts grow with the history).
    """
    budget = max_tokens - count_tokens(sample.target) - reserve
    if count_tokens(sample.input) <= budget:
        return sample
    lo, hi = 1, max(len(sample.segments) - 1, 0)
    if hi < 1 or count_tokens(rerender(sample, hi)) > budget:
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if count_tokens(rerender(sample, mid)) <= budget:
            hi = mid
        else:
            lo = mid + 1
    sample.input, sample.dropped_turns = rerender(sample, lo), lo
    return sample


@dataclass(frozen=True)
class Budget:
    """A token budget for role samples: ``count`` tokenizes, ``reserve`` covers EOS/BOS/prefixes."""

    count: Callable[[str], int]
    max_tokens: int
    reserve: int = 1


def fit_samples(
    samples: Iterable[RoleSample],
    count_tokens: Callable[[str], int],
    max_tokens: int,
    report: Report,
    reserve: int = 1,
) -> Iterator[RoleSample]:
    """Apply :func:`fit_sample`; shortened and rejected samples are counted per role in ``report``."""
    for s in samples:
        fitted = fit_sample(s, count_tokens, max_tokens, reserve)
        if fitted is None:
            report.reject(s.source, s.role, "too_long", f"{s.role} sample exceeds {max_tokens} tokens")
            continue
        if fitted.dropped_turns:
            report.note(f"shortened_{s.role}")
        yield fitted
