"""Scoring speed: our ROUGE-L against the `rouge` 1.0.1 package, and `umi score` end to end.

Baseline and ours run in the same process on the same inputs: the 294 real out-of-domain final answers,
each scored against its neighbour's reference (as a degraded prediction would be), repeated ``--repeat``
times. Prints seconds and the speed-up ratio, then the time of a full score (1547 steps, 1000 bootstrap
resamples). Not a test: numbers depend on the machine. Usage: python bench/score_speed.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from umi_lib.data.jsonio import dump_json_list, load_json
from umi_lib.data.steps import extract_steps
from umi_lib.evaluation import model_free, rouge
from umi_lib.evaluation.metrics import FINISH, parse_output
from umi_lib.evaluation.score import score_file

ROOT = Path(__file__).resolve().parents[1]
OOD = ROOT / "data" / "alpha_umi" / "test" / "out_of_domain.json"


def timed(fn, repeat: int) -> tuple[float, object]:
    start = time.perf_counter()
    for _ in range(repeat):
        value = fn()
    return (time.perf_counter() - start) / repeat, value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from rouge import Rouge  # dev dependency: the package the paper used

    with tempfile.TemporaryDirectory() as tmp:
        steps_file = Path(tmp) / "steps.json"
        extract_steps(OOD, steps_file)
        steps = load_json(steps_file)
        answers = [p.answer for p in map(parse_output, (s["reference"] for s in steps)) if p.plan == FINISH]
        hyps, refs = answers[1:] + answers[:1], answers
        t_pkg, v_pkg = timed(lambda: Rouge().get_scores(hyps, refs, avg=True)["rouge-l"]["f"], args.repeat)
        t_ours, v_ours = timed(lambda: rouge.rouge_l(hyps, refs).f, args.repeat)
        print(f"ROUGE-L, {len(refs)} pairs: rouge 1.0.1 {t_pkg:.3f} s, umi_lib.evaluation.rouge {t_ours:.3f} s, "
              f"speed-up {t_pkg / t_ours:.2f}x, |diff| {abs(v_pkg - v_ours):.1e}")  # fmt: skip
        items, _ = model_free.degraded(steps, seed=0)
        pred_file = Path(tmp) / "degraded.json"
        dump_json_list(pred_file, items)
        t_score, _ = timed(lambda: score_file(pred_file, resamples=1000), 1)
        t_nobs, _ = timed(lambda: score_file(pred_file, resamples=0), 1)
        print(f"umi score, {len(items)} steps: {t_score:.2f} s with 1000 resamples, {t_nobs:.2f} s without "
              f"(bootstrap share {(t_score - t_nobs) / t_score:.0%})")  # fmt: skip


if __name__ == "__main__":
    main()
