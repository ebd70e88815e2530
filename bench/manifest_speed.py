"""Cost of checking a base's weights before reusing an adapter: the sampled fingerprint against a full SHA-256.

    python bench/manifest_speed.py [--base smollm2-135m] [--repeat 5]

Prints both times and their ratio (measured in this process, the same files, warm page cache for both).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from umi_lib import manifest
from umi_lib.train.bases import resolve_base


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        manifest._folder_fingerprint.cache_clear()  # measure the work, not the in-process cache
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="smollm2-135m", help="registry name, folder or cached Hub id")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    folder = Path(resolve_base(args.base))
    weights = sorted(p for p in folder.rglob("*") if p.suffix in manifest.WEIGHT_SUFFIXES)
    size = sum(p.stat().st_size for p in weights)
    full = _best(lambda: [manifest.file_digest(p) for p in weights], args.repeat)
    sampled = _best(lambda: manifest.weights_fingerprint(str(folder)), args.repeat)
    print(f"{args.base}: {len(weights)} weight file(s), {size / 2**20:.0f} MiB")
    print(
        f"full SHA-256 {full * 1000:.1f} ms, sampled fingerprint {sampled * 1000:.2f} ms: {full / sampled:.0f}x faster"
    )


if __name__ == "__main__":
    main()
