"""Benchmark: skew of captured traffic against a training baseline, streamed from capture files.

Generates capture files in the model server's format (one request per line, one
instance per request: the most bytes per row), computes skew for every feature
in a fresh process per run, and records wall time, CPU time (all threads) and
peak RSS of that process. Peak RSS at two sizes shows whether memory grows
with the data (it should not: files are read in fixed-size blocks).

    .venv/bin/python bench/monitoring/bench_skew.py                # 1,000,000 rows x 30 features
    .venv/bin/python bench/monitoring/bench_skew.py --rows 200000 --runs 1 --no-write

Writes bench/monitoring/RESULTS.md unless --no-write. Capture files go to a
temporary directory that is removed afterwards (about 0.6 GB for 1M rows).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
START = datetime(2026, 11, 20, 0, tzinfo=UTC).timestamp()
REQUESTS_PER_SECOND = 100


def generate(
    directory: Path,
    rows: int,
    features: int,
    categorical: bool,
    per_request: int = 1,
    seed: int = 0,
) -> int:
    """Write ``rows`` captured rows, ``per_request`` per line, one file per process and hour.

    Returns the bytes written.
    """
    import numpy as np
    import orjson

    from cloudeploy.monitoring.capture import capture_filename

    rng = np.random.default_rng(seed)
    names = [f"f{i}" for i in range(features)]
    handles: dict[str, object] = {}
    written = 0
    for start in range(0, rows, 10_000):
        n = min(10_000, rows - start)
        # serving traffic drifts a little from training: means shift by up to 0.3 sd
        block = np.round(
            rng.normal(rng.uniform(0, 0.3, features), 1.0, size=(n, features)), 6
        ).tolist()
        if categorical:
            cities = rng.choice(["Paris", "Berlin", "Rome", "Oslo"], n).tolist()
            for row, city in zip(block, cities, strict=True):
                row[-1] = city
        for i in range(0, n, per_request):
            ts = START + (start + i) / REQUESTS_PER_SECOND
            pid = 1000 + (start + i) % 2  # two server processes
            name = capture_filename(pid, ts)
            handle = handles.get(name)
            if handle is None:
                handle = handles[name] = (directory / name).open("ab")
            line = orjson.dumps(
                {
                    "ts": ts,
                    "request_id": uuid.uuid4().hex,
                    "model": "bench",
                    "version": "v1",
                    "features": names,
                    "instances": block[i : i + per_request],
                    "predictions": [0.5] * len(block[i : i + per_request]),
                    "latency_ms": 1.7,
                }
            )
            handle.write(line + b"\n")
            written += len(line) + 1
    for handle in handles.values():
        handle.close()
    return written


def training_baseline(features: int, categorical: bool, rows: int = 100_000) -> dict:
    import numpy as np
    import pandas as pd

    from cloudeploy.monitoring.baseline import compute_baseline

    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        rng.normal(0, 1, size=(rows, features)), columns=[f"f{i}" for i in range(features)]
    )
    if categorical:
        frame[f"f{features - 1}"] = rng.choice(["Paris", "Berlin", "Rome"], rows)
    return compute_baseline(frame)


def measure(capture_dir: str, baseline_path: str) -> dict:
    """One run in this (fresh) process: compute skew and report its cost."""
    from cloudeploy.monitoring.detection import compute_skew

    baseline = json.loads(Path(baseline_path).read_text())
    before = resource.getrusage(resource.RUSAGE_SELF)
    rss_before = before.ru_maxrss
    wall = time.perf_counter()
    result = compute_skew(baseline, capture_dir)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "wall_s": wall,
        "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "peak_rss_mb": after.ru_maxrss / 1024,
        "rss_before_mb": rss_before / 1024,
        "serving_rows": result.serving_rows,
        "breached": len(result.breached),
    }


def run_once(capture_dir: Path, baseline_path: Path) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--measure", str(capture_dir), str(baseline_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(output.stdout)


def scenario(rows: int, features: int, categorical: bool, runs: int, per_request: int = 1) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="cloudeploy-bench-monitoring-"))
    try:
        capture_dir = workdir / "capture"
        capture_dir.mkdir()
        started = time.perf_counter()
        size = generate(capture_dir, rows, features, categorical, per_request)
        generated_in = time.perf_counter() - started
        baseline_path = workdir / "baseline.json"
        baseline_path.write_text(json.dumps(training_baseline(features, categorical)))
        measurements = [run_once(capture_dir, baseline_path) for _ in range(runs)]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "rows": rows,
        "features": features,
        "categorical": categorical,
        "per_request": per_request,
        "capture_mb": size / 1e6,
        "generated_in_s": generated_in,
        "runs": measurements,
        "median_wall_s": statistics.median(m["wall_s"] for m in measurements),
        "min_wall_s": min(m["wall_s"] for m in measurements),
        "median_cpu_s": statistics.median(m["cpu_s"] for m in measurements),
        "peak_rss_mb": max(m["peak_rss_mb"] for m in measurements),
        "load_average": os.getloadavg(),
    }


def render(results: list[dict], baseline: dict | None = None) -> str:
    lines = [
        "# Monitoring benchmark: skew from capture files",
        "",
        f"Run {datetime.now(tz=UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores shared with other work",
        "(load average after each scenario below: compare ratios, not absolute times).",
        "Command: `.venv/bin/python bench/monitoring/bench_skew.py`. Each run is a fresh process",
        "computing `compute_skew(baseline, capture_dir)` for every feature; one request per line,",
        "values with 6 decimals (~600 bytes per line with one instance).",
        "",
        "| rows | features | kind | instances/request | capture size | median wall (min) "
        "| median CPU (all threads) | peak RSS | load avg |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        kind = (
            "29 numerical + 1 categorical (pyarrow fast path)"
            if r["categorical"]
            else "all numerical (pyarrow fast path)"
        )
        load = " / ".join(f"{x:.1f}" for x in r["load_average"])
        lines.append(
            f"| {r['rows']:,} | {r['features']} | {kind} | {r['per_request']} | {r['capture_mb']:.0f} MB "
            f"| {r['median_wall_s']:.2f} s ({r['min_wall_s']:.2f} s) "
            f"| {r['median_cpu_s']:.2f} s | {r['peak_rss_mb']:.0f} MB | {load} |"
        )
    main_runs = [
        r
        for r in results
        if not r["categorical"] and r["rows"] >= 1_000_000 and r["per_request"] == 1
    ]
    if main_runs:
        r = main_runs[-1]
        verdict = "met" if r["median_wall_s"] < 5 else "NOT met"
        lines += [
            "",
            f"Target (under 5 s wall for 1,000,000 rows x 30 features): **{verdict}** in this run "
            f"({r['median_wall_s']:.2f} s median wall, {r['median_cpu_s']:.2f} s CPU summed over threads, "
            f"load average {r['load_average'][0]:.1f} on {os.cpu_count()} cores).",
            "Most of the CPU is parsing the numbers (pyarrow's CSV reader on both cores, after the",
            "instances are cut out of each 16 MB block) and binning them with numpy; wall time",
            "approaches CPU / cores only when the machine is otherwise idle. Peak RSS does not grow",
            "with the number of rows (compare the two sizes): files are read in 16 MB blocks.",
        ]
    if baseline:
        lines += [
            "",
            f"Training baseline (`bench_baseline.py`): {baseline['rows']:,} rows x {baseline['features']} "
            f"features in chunks of {baseline['chunk_rows']:,}, one streaming pass: "
            f"{baseline['wall_s']:.2f} s wall, {baseline['cpu_s']:.2f} s CPU, peak RSS {baseline['peak_rss_mb']:.0f} MB.",
        ]
    lines += ["", "Raw runs:", "", "```json", json.dumps(results, indent=1), "```", ""]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--measure":
        print(json.dumps(measure(sys.argv[2], sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--small-rows", type=int, default=250_000, help="second size, to show memory does not grow"
    )
    parser.add_argument(
        "--categorical", action="store_true", help="also run the mixed-type (orjson) scenario"
    )
    parser.add_argument(
        "--batched", action="store_true", help="also run 10 instances per request (1 run)"
    )
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--baseline", action="store_true", help="also time bench_baseline.py at --rows"
    )
    args = parser.parse_args()
    results = (
        [scenario(args.small_rows, args.features, False, args.runs)] if args.small_rows else []
    )
    results.append(scenario(args.rows, args.features, False, args.runs))
    if args.batched:
        results.append(scenario(args.rows, args.features, False, 1, per_request=10))
    if args.categorical:
        results.append(scenario(args.rows, args.features, True, 1))
    baseline = None
    if args.baseline:
        output = subprocess.run(
            [sys.executable, str(HERE / "bench_baseline.py"), "--rows", str(args.rows)],
            capture_output=True,
            text=True,
            check=True,
        )
        baseline = json.loads(output.stdout)
    text = render(results, baseline)
    print(text)
    if not args.no_write:
        (HERE / "RESULTS.md").write_text(text)


if __name__ == "__main__":
    main()
