"""Conversion speed and memory: files/s and peak RSS at 1x and 10x input (streaming => flat memory).

A synthetic answer set is built by replicating the 15 bundled ToolBench DFS answer files under new query ids.
Each size runs in its own child process so peak RSS (ru_maxrss) is per run. Not a test: numbers depend on
the machine. Usage: python bench/convert_speed.py [--base 150] [--factor 10]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "toolbench" / "data_example" / "answer"


def build_set(dest: Path, n_files: int) -> None:
    """Copy the sample answers round-robin under fresh ids until there are ``n_files`` files."""
    sources = sorted(p for p in SAMPLE.glob("G*_answer/*.json*"))
    for k in range(n_files):
        src = sources[k % len(sources)]
        group = dest / src.parent.name
        group.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, group / f"{100000 + k}_ChatGPT_DFS_woFilter_w2{''.join(src.suffixes)}")


def child(answers: str, out: str) -> None:
    sys.path.insert(0, str(ROOT))
    from umi_lib.data.pipeline import convert_toolbench

    start = time.perf_counter()
    report = convert_toolbench(answers, out, progress=False)
    elapsed = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"files": report.read, "seconds": elapsed, "peak_mb": peak_mb}))


def measure(n_files: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        build_set(Path(tmp) / "answers", n_files)
        cmd = [sys.executable, __file__, "--child", str(Path(tmp) / "answers"), str(Path(tmp) / "out")]
        result = subprocess.run(cmd, check=True, capture_output=True, text=True)
        return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", type=int, default=150, help="files at 1x")
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    small, large = measure(args.base), measure(args.base * args.factor)
    print(f"{'input':>6} {'files':>7} {'seconds':>8} {'files/s':>8} {'peak RSS MB':>12}")
    for label, r in ((" 1x", small), (f"{args.factor}x", large)):
        print(
            f"{label:>6} {r['files']:>7} {r['seconds']:>8.2f} {r['files'] / r['seconds']:>8.1f} {r['peak_mb']:>12.1f}"
        )
    print(f"memory ratio {args.factor}x/1x: {large['peak_mb'] / small['peak_mb']:.2f} (1.0 = flat)")
    speed = (large["files"] / large["seconds"]) / (small["files"] / small["seconds"])
    print(f"speed ratio {args.factor}x/1x: {speed:.2f}")


if __name__ == "__main__":
    main()
