"""Benchmark: skew of captured traffic read from the model server's columnar (Arrow) capture files.

Writes 250,000 and 1,000,000 captured rows × 30 numerical features in the
exact format the server's ``CaptureWriter`` writes (the schema is taken from
``cloudeploy.serving.capture.record_batch``; one instance per request, record
batches of ``--batch-rows`` rows — what the writer's 50 ms linger gathers at
about 10,000 requests/s — two server processes, files per hour), then computes
``compute_skew`` for every feature in a fresh process per run and records wall
time, CPU time and peak RSS.

    .venv/bin/python bench/monitoring/bench_capture_skew.py            # 250k and 1M rows, 3 runs
    .venv/bin/python bench/monitoring/bench_capture_skew.py --runs 1 --batch-rows 32

Prints a Markdown table and the raw runs as JSON; writes nothing else.
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
from datetime import UTC, datetime
from pathlib import Path

START = datetime(2026, 11, 20, 0, tzinfo=UTC).timestamp()
REQUESTS_PER_SECOND = 100


def generate(directory: Path, rows: int, features: int, batch_rows: int, seed: int = 0) -> int:
    """Write ``rows`` captured rows as the server would; returns the bytes written."""
    import numpy as np
    import pyarrow as pa

    from cloudeploy.monitoring.capture import capture_filename
    from cloudeploy.serving.capture import record_batch

    names = [f"f{i}" for i in range(features)]
    sample = {"ts": START, "request_id": "0" * 32, "model": "bench", "version": "v1", "features": names,
              "instances": [[0.5] * features], "predictions": [0.5], "latency_ms": 1.7}
    schema = record_batch(names, [sample]).schema
    rng = np.random.default_rng(seed)
    writers: dict[str, tuple] = {}
    for start in range(0, rows, batch_rows):
        n = min(batch_rows, rows - start)
        ts = START + (start + np.arange(n)) / REQUESTS_PER_SECOND
        pid = 1000 + (start // batch_rows) % 2  # two server processes take turns
        values = rng.normal(rng.uniform(0, 0.3, features), 1.0, size=(n, features))
        columns = [
            pa.array(ts),
            pa.array([f"{start + i:032x}" for i in range(n)], pa.string()),
            pa.array(["bench"] * n, pa.string()),
            pa.array(["v1"] * n, pa.string()),
            pa.array(np.full(n, 1.7)),
            pa.array(np.zeros(n, dtype=np.int32)),
            *(pa.array(values[:, j]) for j in range(features)),
            pa.array(np.full(n, 0.5)),
        ]
        batch = pa.RecordBatch.from_arrays(columns, schema=schema)
        name = capture_filename(pid, float(ts[0])).replace(".jsonl", ".arrow")
        if name not in writers:
            sink = pa.OSFile(str(directory / name), "wb")
            writers[name] = (sink, pa.ipc.new_stream(sink, schema))
        writers[name][1].write_batch(batch)
    size = 0
    for sink, writer in writers.values():
        writer.close()
        size += sink.tell()
        sink.close()
    return size


def training_baseline(features: int, rows: int = 100_000) -> dict:
    import numpy as np
    import pandas as pd

    from cloudeploy.monitoring.baseline import compute_baseline

    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(0, 1, size=(rows, features)), columns=[f"f{i}" for i in range(features)])
    return compute_baseline(frame)


def measure(capture_dir: str, baseline_path: str) -> dict:
    """One run in this (fresh) process: imports first, then compute skew and report its cost.

    numpy, pandas (pyarrow imports it on its first conversion) and pyarrow take
    ~1.5 s to import here; a long-running monitor or CLI pays that once, so the
    measurement starts after them.
    """
    import numpy  # noqa: F401 - imports are not what is measured
    import pandas  # noqa: F401
    import pyarrow.compute  # noqa: F401
    import pyarrow.ipc  # noqa: F401

    import cloudeploy.monitoring.capture  # noqa: F401
    from cloudeploy.monitoring.detection import compute_skew

    baseline = json.loads(Path(baseline_path).read_text())
    before = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter()
    result = compute_skew(baseline, capture_dir)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "wall_s": wall,
        "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "peak_rss_mb": after.ru_maxrss / 1024,
        "rss_before_mb": before.ru_maxrss / 1024,
        "serving_rows": result.serving_rows,
        "breached": len(result.breached),
    }


def scenario(rows: int, features: int, batch_rows: int, runs: int) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="cloudeploy-bench-capture-"))
    try:
        capture_dir = workdir / "capture"
        capture_dir.mkdir()
        started = time.perf_counter()
        size = generate(capture_dir, rows, features, batch_rows)
        generated_in = time.perf_counter() - started
        baseline_path = workdir / "baseline.json"
        baseline_path.write_text(json.dumps(training_baseline(features)))
        measurements = []
        for _ in range(runs):
            output = subprocess.run([sys.executable, __file__, "--measure", str(capture_dir), str(baseline_path)],
                                    capture_output=True, text=True, check=True)
            measurements.append(json.loads(output.stdout))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    assert all(m["serving_rows"] == rows for m in measurements)
    return {
        "rows": rows, "features": features, "batch_rows": batch_rows, "capture_mb": size / 1e6,
        "generated_in_s": generated_in, "runs": measurements,
        "median_wall_s": statistics.median(m["wall_s"] for m in measurements),
        "min_wall_s": min(m["wall_s"] for m in measurements),
        "median_cpu_s": statistics.median(m["cpu_s"] for m in measurements),
        "peak_rss_mb": max(m["peak_rss_mb"] for m in measurements),
        "rss_before_mb": max(m["rss_before_mb"] for m in measurements),
        "load_average": os.getloadavg(),
    }


def render(results: list[dict]) -> str:
    lines = [
        f"Arrow capture skew, {datetime.now(tz=UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores",
        "",
        "| rows | features | rows/batch | capture size | median wall (min) | median CPU | peak RSS (before) | load avg |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        load = " / ".join(f"{x:.1f}" for x in r["load_average"])
        lines.append(
            f"| {r['rows']:,} | {r['features']} | {r['batch_rows']} | {r['capture_mb']:.0f} MB "
            f"| {r['median_wall_s']:.2f} s ({r['min_wall_s']:.2f} s) | {r['median_cpu_s']:.2f} s "
            f"| {r['peak_rss_mb']:.0f} MB ({r['rss_before_mb']:.0f} MB) | {load} |"
        )
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--measure":
        print(json.dumps(measure(sys.argv[2], sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small-rows", type=int, default=250_000)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--batch-rows", type=int, default=512)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = [scenario(n, args.features, args.batch_rows, args.runs) for n in (args.small_rows, args.rows) if n]
    print(render(results))
    print("\n```json\n" + json.dumps(results, indent=1) + "\n```")


if __name__ == "__main__":
    main()
