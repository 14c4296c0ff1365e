"""Benchmark: a training baseline of 1,000,000 rows x 30 features in one streaming pass.

Feeds ``compute_baseline`` generated chunks of 100,000 rows (never the whole
set at once) and reports wall time, CPU time and peak RSS of a fresh process.

    .venv/bin/python bench/monitoring/bench_baseline.py [--rows N] [--features F]

Prints one JSON line; bench_skew.py's RESULTS.md quotes it when run with --baseline.
"""

from __future__ import annotations

import argparse
import json
import resource
import time


def chunks(rows: int, features: int, size: int = 100_000):
    import numpy as np

    rng = np.random.default_rng(0)
    for start in range(0, rows, size):
        n = min(size, rows - start)
        yield rng.normal(rng.uniform(-1, 1, features), 1.0, size=(n, features))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=30)
    args = parser.parse_args()
    from cloudeploy.monitoring.baseline import compute_baseline

    before = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter()
    baseline = compute_baseline(chunks(args.rows, args.features))
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "rows": baseline["rows"],
                "features": len(baseline["features"]),
                "wall_s": round(wall, 3),
                "cpu_s": round(
                    (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 3
                ),
                "peak_rss_mb": round(after.ru_maxrss / 1024, 1),
                "chunk_rows": 100_000,
            }
        )
    )


if __name__ == "__main__":
    main()
