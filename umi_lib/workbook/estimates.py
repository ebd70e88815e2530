"""How long the long cells take, printed before they start, so a workshop knows what to expect.

The times were measured with ``make workbook`` on a 2-core CPU (2026-11-28, ``runs/cpu/notebooks/``, papermill's
cell durations; README, *Benchmarks*). GPU profiles have not been run yet, and say so rather than guess.
"""

from __future__ import annotations

from umi_lib.config import Profile

MEASURED_ON = "a 2-core CPU (make workbook)"
MEASURED = {
    "cpu": {
        "train alpha-umi": 91,
        "train single-llm": 30,  # alone; after alpha-umi it reuses the global adapter and takes about a second
        "train one-stage": 55,
        "train multi-task": 26,
        "held-out losses": 56,
        "static evaluation": 105,
        "rollouts": 69,
        "bfcl": 165,  # ground truth, then Single-LLM and α-UMi on 6 tasks, step limit 4
    }
}
UNMEASURED = ("colab-t4", "gpu-7b")  # smoke runs take seconds and print nothing


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def estimate(profile: Profile, what: str) -> str | None:
    """The line :func:`announce` prints, or None when there is nothing worth saying."""
    seconds = MEASURED.get(profile.name, {}).get(what)
    if seconds is not None:
        return f"{what}: about {_duration(seconds)} on {MEASURED_ON}"
    if profile.name in UNMEASURED:
        return f"{what}: not timed yet on the {profile.name} profile (no GPU run of this workbook so far)"
    return None


def announce(profile: Profile, what: str) -> None:
    """Print how long ``what`` is expected to take on this profile (before a long cell starts)."""
    line = estimate(profile, what)
    if line:
        print(line, flush=True)
