"""Benchmark: which features each preset flags when five of them shift by half a standard deviation.

The issue's side-by-side case: 100,000 reference rows against 100,000 current
rows, 20 numerical features on different scales, features f0, f3, f4, f7 and
f9 shifted by +0.5 of their standard deviation, the others drawn from the same
distribution. The reference becomes a training baseline (``compute_baseline``),
the current rows are scored with ``compute_skew`` under the ``vertex`` preset
(Jensen–Shannon divergence, 0.3) and the ``sensitive`` preset (normalised
Wasserstein distance, 0.1, since the reference holds more than 1,000 rows), and
with a small sample (600 vs 600 rows) where ``sensitive`` uses the KS test.

    .venv/bin/python bench/monitoring/bench_sensitivity.py            # 100,000 vs 100,000
    .venv/bin/python bench/monitoring/bench_sensitivity.py --rows 20000

Prints a table per case and exits 1 when ``sensitive`` does not flag exactly the
shifted features.
"""

from __future__ import annotations

import argparse
import sys
import time

SHIFTED = ("f0", "f3", "f4", "f7", "f9")


def frames(rows: int, features: int, seed: int):
    import numpy as np
    import pandas as pd

    names = [f"f{i}" for i in range(features)]
    scales = np.random.default_rng(42).uniform(0.5, 20.0, features)
    rng = np.random.default_rng(seed)
    reference = pd.DataFrame(rng.normal(size=(rows, features)) * scales, columns=names)
    current = pd.DataFrame(rng.normal(size=(rows, features)) * scales, columns=names)
    for name in SHIFTED:
        current[name] += 0.5 * reference[name].std()
    return reference, current


def case(rows: int, features: int, seed: int) -> bool:
    from cloudeploy.monitoring import MonitorSpec, compute_baseline, compute_skew

    reference, current = frames(rows, features, seed)
    baseline = compute_baseline(reference)
    results = {}
    for preset in ("vertex", "sensitive"):
        started = time.perf_counter()
        results[preset] = compute_skew(baseline, current, MonitorSpec(preset=preset))
        results[preset + "_s"] = time.perf_counter() - started
    print(f"\n{rows:,} reference vs {rows:,} current rows, {features} features, shifted: {', '.join(SHIFTED)}")
    print(f"{'feature':8} {'vertex (JSD)':>14} {'flag':>5}   {'sensitive':>22} {'flag':>5}")
    for name in reference.columns:
        v, s = results["vertex"][name], results["sensitive"][name]
        shown = f"{s.metric} {'p=' if s.p_value else ''}{s.score:.3g}"
        print(f"{name + ('*' if name in SHIFTED else ''):8} {v.score:14.4f} {'yes' if v.breached else '-':>5}"
              f"   {shown:>22} {'yes' if s.breached else '-':>5}")
    flagged = sorted(f.name for f in results["sensitive"].breached)
    vertex_flagged = sorted(f.name for f in results["vertex"].breached)
    print(f"vertex flags {len(vertex_flagged)}: {', '.join(vertex_flagged) or 'none'} "
          f"({results['vertex_s']:.2f} s); sensitive flags {len(flagged)}: {', '.join(flagged) or 'none'} "
          f"({results['sensitive_s']:.2f} s)")
    return flagged == sorted(SHIFTED)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    large = case(args.rows, args.features, args.seed)
    small = case(600, args.features, args.seed + 1)
    print("\nsensitive flags exactly the shifted features:",
          f"large sample {'yes' if large else 'NO'}, small sample {'yes' if small else 'NO'}")
    return 0 if large and small else 1


if __name__ == "__main__":
    sys.exit(main())
