"""Benchmark: skew of captured traffic read from the model server's capture files.

``--format raw`` (default): the server's raw files, written through its own
writer (``RawSpool``, one compact JSON body per request), read as they are;
``raw+compact``: the same, then compacted to Arrow as the first read does
(timed apart, in a fresh process) and read again; ``arrow``:
writes 250,000 and 1,000,000 captured rows × 30 numerical features in the
exact format the server's Arrow ``CaptureWriter`` writes (the schema is taken from
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


def generate_raw(directory: Path, rows: int, features: int, seed: int = 0) -> int:
    """Write ``rows`` captured rows through the server's raw writer (one compact JSON
    request body per row, as a client sends it); returns the bytes written."""
    import numpy as np
    import orjson

    from cloudeploy.serving.capture_raw import RawSpool

    names = [f"f{i}" for i in range(features)]
    rng = np.random.default_rng(seed)
    spool = RawSpool(directory, model="bench", version="v1", features=names, types=["number"] * features,
                     max_pending=1 << 21, max_pending_bytes=1 << 31, linger=0.05)
    answer = b'{"predictions":[0.5],"modelVersionId":"v1"}'
    for start in range(0, rows, 10_000):
        values = rng.normal(rng.uniform(0, 0.3, features), 1.0, size=(min(10_000, rows - start), features))
        for i, row in enumerate(values):
            spool.add(f"{start + i:032x}", orjson.dumps({"instances": [row]}, option=orjson.OPT_SERIALIZE_NUMPY),
                      answer, 1.7)
        while len(spool._pending) > 20_000:  # let the writer keep up: memory stays flat, as in a server
            time.sleep(0.01)
    spool.close(timeout=None)
    assert spool.dropped == 0
    return sum(path.stat().st_size for path in directory.iterdir())


def compact_all(directory: Path) -> tuple[float, float]:
    """Compact every raw file into Arrow (what the first read does once per finished file):
    (wall, CPU) seconds, in a fresh process."""
    code = ("import sys, time, resource; from pathlib import Path; import pyarrow.json, pandas\n"
            "from cloudeploy.monitoring import capture_raw\n"
            "w = time.perf_counter(); c = time.process_time()\n"
            "[capture_raw.compact(p) for p in sorted(Path(sys.argv[1]).glob('capture-*.raw'))]\n"
            "print(time.perf_counter() - w, time.process_time() - c)")
    output = subprocess.run([sys.executable, "-c", code, str(directory)], capture_output=True, text=True, check=True)
    wall, cpu = map(float, output.stdout.split())
    return wall, cpu


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

    import cloudeploy.monitoring.capture
    from cloudeploy.monitoring.detection import compute_skew

    if os.environ.get("BENCH_NO_COMPACT"):
        cloudeploy.monitoring.capture._compacted = lambda paths, compact: paths

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


def scenario(rows: int, features: int, batch_rows: int, runs: int, fmt: str = "arrow") -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="cloudeploy-bench-capture-"))
    try:
        capture_dir = workdir / "capture"
        capture_dir.mkdir()
        started = time.perf_counter()
        size = (generate_raw(capture_dir, rows, features) if fmt != "arrow"
                else generate(capture_dir, rows, features, batch_rows))
        generated_in = time.perf_counter() - started
        baseline_path = workdir / "baseline.json"
        baseline_path.write_text(json.dumps(training_baseline(features)))
        measurements = []
        for _ in range(runs):
            # Raw files are read as they are here (reading would compact them: measured next).
            output = subprocess.run([sys.executable, __file__, "--measure", str(capture_dir), str(baseline_path)],
                                    capture_output=True, text=True, check=True,
                                    env={**os.environ, "BENCH_NO_COMPACT": "1"})
            measurements.append(json.loads(output.stdout))
        compacted_in = compact_all(capture_dir) if fmt == "raw+compact" else None
        compacted_size = None
        if compacted_in is not None:
            compacted_size = sum(path.stat().st_size for path in capture_dir.iterdir())
            for _ in range(runs):
                output = subprocess.run([sys.executable, __file__, "--measure", str(capture_dir),
                                         str(baseline_path)], capture_output=True, text=True, check=True)
                measurements.append({**json.loads(output.stdout), "compacted": True})
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    assert all(m["serving_rows"] == rows for m in measurements)
    raw = [m for m in measurements if not m.get("compacted")]
    compacted = [m for m in measurements if m.get("compacted")]
    return {
        "format": fmt, "compacted_in_s": compacted_in[0] if compacted_in else None,
        "compaction_cpu_s": compacted_in[1] if compacted_in else None,
        "compacted_mb": compacted_size / 1e6 if compacted_size else None,
        "compacted_median_wall_s": statistics.median(m["wall_s"] for m in compacted) if compacted else None,
        "compacted_median_cpu_s": statistics.median(m["cpu_s"] for m in compacted) if compacted else None,
        "compacted_peak_rss_mb": max(m["peak_rss_mb"] for m in compacted) if compacted else None,
        "rows": rows, "features": features, "batch_rows": batch_rows, "capture_mb": size / 1e6,
        "generated_in_s": generated_in, "runs": measurements,
        "median_wall_s": statistics.median(m["wall_s"] for m in raw),
        "min_wall_s": min(m["wall_s"] for m in raw),
        "median_cpu_s": statistics.median(m["cpu_s"] for m in raw),
        "peak_rss_mb": max(m["peak_rss_mb"] for m in raw),
        "rss_before_mb": max(m["rss_before_mb"] for m in raw),
        "load_average": os.getloadavg(),
    }


def render(results: list[dict]) -> str:
    lines = [
        f"Capture skew, {datetime.now(tz=UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores",
        "",
        "| format | rows | features | rows/batch | capture size | median wall (min) | median CPU | peak RSS (before) "
        "| load avg |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        load = " / ".join(f"{x:.1f}" for x in r["load_average"])
        lines.append(
            f"| {r['format']} | {r['rows']:,} | {r['features']} | {r['batch_rows']} | {r['capture_mb']:.0f} MB "
            f"| {r['median_wall_s']:.2f} s ({r['min_wall_s']:.2f} s) | {r['median_cpu_s']:.2f} s "
            f"| {r['peak_rss_mb']:.0f} MB ({r['rss_before_mb']:.0f} MB) | {load} |"
        )
        if r["compacted_in_s"] is not None:
            lines.append(
                f"| raw compacted to Arrow (compaction {r['compacted_in_s']:.1f} s wall, "
                f"{r['compaction_cpu_s']:.1f} s CPU) | {r['rows']:,} "
                f"| {r['features']} | - | {r['compacted_mb']:.0f} MB | {r['compacted_median_wall_s']:.2f} s "
                f"| {r['compacted_median_cpu_s']:.2f} s | {r['compacted_peak_rss_mb']:.0f} MB | {load} |"
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
    parser.add_argument("--format", choices=["raw", "raw+compact", "arrow"], default="raw",
                        help="raw: the server's default files, through its writer; raw+compact: the same, "
                             "then measured again after compacting them to Arrow; arrow: the server's Arrow files")
    args = parser.parse_args()
    results = [scenario(n, args.features, args.batch_rows, args.runs, args.format)
               for n in (args.small_rows, args.rows) if n]
    print(render(results))
    print("\n```json\n" + json.dumps(results, indent=1) + "\n```")


if __name__ == "__main__":
    main()
