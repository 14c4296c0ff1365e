"""Benchmark: what writing captures costs the model server, capture on vs off in the same run.

Two ``cloudeploy serve`` processes serve the same package (the serving
benchmark's 100-tree forest on breast-cancer, 30 features, ``--workers 2``):
one with ``--capture-dir`` (every request captured, in the server's default raw
format unless ``--format arrow|jsonl``), one without. ``wrk`` sends single-row JSON ``POST /predict`` at
concurrency 64 to one, then the other, in short alternating cells (the order
flips every round), so a busy machine's drifts hit both alike. The cost is
read from the rounds' pairs: each round's on/off throughput ratio (and CPU per
request ratio, psutil, the whole process tree), the median of those ratios, and
a bootstrap 90% interval of that median. Pairs are what the alternation is for:
the machine's speed drifts by more than capture costs between rounds (a round's
two cells run back to back), so the ratio of the two servers' medians over all
rounds, printed beside it, mixes cells taken at different speeds. Reading the captures back at the end
compacts the raw files (see ``cloudeploy.monitoring.capture``), after the clock.

    .venv/bin/python bench/monitoring/bench_capture_throughput.py                  # 16 rounds of 4 s
    .venv/bin/python bench/monitoring/bench_capture_throughput.py --rounds 4 --duration 3 --format jsonl
    .venv/bin/python bench/monitoring/bench_capture_throughput.py --save runs/a.json   # keep the report
    .venv/bin/python bench/monitoring/bench_capture_throughput.py --pool bench/monitoring/capture_cost_runs.json

``--pool FILE...`` runs nothing: it pools the per-round pairs of saved reports (one
report, or a list of them, per file) into one median and interval.

Needs wrk (apt-get install -y wrk). Prints a Markdown table and the raw cells as JSON.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _serving_bench():
    spec = importlib.util.spec_from_file_location("serving_bench", HERE.parent / "serving" / "run.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _tree_cpu(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its children (the server's workers)."""
    import psutil

    process = psutil.Process(pid)
    total = 0.0
    for member in [process, *process.children(recursive=True)]:
        try:
            times = member.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def _median_interval(values: list[float], level: float = 0.9) -> list[float]:
    """Percentile-bootstrap interval of the median of ``values`` (scipy; seeded: same data, same interval)."""
    import numpy as np
    from scipy import stats

    found = stats.bootstrap((np.asarray(values),), np.median, confidence_level=level, method="percentile",
                            n_resamples=10_000, random_state=0).confidence_interval
    return [float(found.low), float(found.high)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=4, help="seconds per cell")
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--format", choices=["raw", "arrow", "jsonl"], default="raw")
    parser.add_argument("--capture-sample", type=float, default=1.0, help="share of requests captured")
    parser.add_argument("--save", type=Path, default=None, help="also write the JSON report to this file")
    parser.add_argument("--pool", type=Path, nargs="+", default=None, help="pool saved reports; run nothing")
    args = parser.parse_args()
    if args.pool:
        return _pool(args.pool)
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    serving = _serving_bench()
    load_before = os.getloadavg()
    cells: dict[str, list[dict]] = {"capture off": [], "capture on": []}
    with tempfile.TemporaryDirectory(prefix="cloudeploy-bench-capture-") as scratch:
        scratch = Path(scratch)
        package, _constant, _model_file, instance = serving._build_models(scratch)
        script = scratch / "post.lua"
        body = json.dumps({"instances": [instance]})
        script.write_text('wrk.method = "POST"\n'
                          f"wrk.body = {json.dumps(body)}\n"
                          'wrk.headers["Content-Type"] = "application/json"\n')
        capture_dir = scratch / "capture"
        os.environ["CLOUDEPLOY_CAPTURE_FORMAT"] = args.format  # inherited by the capturing server
        running = {
            "capture off": serving._cloudeploy(package, serving._free_port(), args.workers, []),
            "capture on": serving._cloudeploy(package, serving._free_port(), args.workers,
                                              ["--capture-dir", str(capture_dir),
                                               "--capture-sample", str(args.capture_sample)]),
        }
        try:
            for name, (_process, url) in running.items():
                serving._check(name, url, body)
                serving._wrk(url, script, args.connections, 2)  # warm-up
            for index in range(args.rounds):
                order = list(running) if index % 2 == 0 else list(reversed(running))
                for name in order:
                    process, url = running[name]
                    cpu = _tree_cpu(process.pid)
                    cell = serving._wrk(url, script, args.connections, args.duration)
                    cell["server_cpu_us_per_request"] = (_tree_cpu(process.pid) - cpu) / cell["requests"] * 1e6
                    cells[name].append(cell)
                    print(f"round {index + 1} {name}: {cell['requests_per_s']:.0f} req/s, "
                          f"p99 {cell['p99_ms']:.1f} ms, {cell['server_cpu_us_per_request']:.0f} µs CPU/request",
                          file=sys.stderr)
        finally:
            for process, _url in running.values():
                serving._stop(process)  # SIGTERM: the capturing server flushes and ends its streams
        from cloudeploy.monitoring.capture import capture_files, read_capture

        files = capture_files(capture_dir)
        captured = sum(len(r["instances"]) for r in read_capture(capture_dir))
        answered = sum(c["requests"] - c["non_2xx"] for c in cells["capture on"])
    summary = {name: statistics.median(c["requests_per_s"] for c in runs) for name, runs in cells.items()}
    cost = 1 - summary["capture on"] / summary["capture off"]
    cpu = {name: statistics.median(c["server_cpu_us_per_request"] for c in runs) for name, runs in cells.items()}
    pairs = list(zip(cells["capture on"], cells["capture off"], strict=True))
    ratios = [on["requests_per_s"] / off["requests_per_s"] for on, off in pairs]
    cpu_ratios = [on["server_cpu_us_per_request"] / off["server_cpu_us_per_request"] for on, off in pairs]
    paired_cost = 1 - statistics.median(ratios)
    paired_cost_interval = [1 - high for high in reversed(_median_interval(ratios))]
    paired_cpu = statistics.median(cpu_ratios) - 1
    paired_cpu_interval = [low - 1 for low in _median_interval(cpu_ratios)]
    report = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "format": args.format,
        "connections": args.connections,
        "duration_s": args.duration,
        "rounds": args.rounds,
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "median_requests_per_s": summary,
        "paired_throughput_cost": paired_cost,
        "paired_throughput_cost_90": paired_cost_interval,
        "paired_cpu_cost": paired_cpu,
        "paired_cpu_cost_90": paired_cpu_interval,
        "throughput_cost_of_medians": cost,
        "median_server_cpu_us_per_request": cpu,
        "cpu_cost_of_medians": cpu["capture on"] / cpu["capture off"] - 1,
        "per_round_ratio_on_off": ratios,
        "per_round_cpu_ratio_on_off": cpu_ratios,
        "capture_files": [f.name for f in files],
        "captured_rows": captured,
        "answered_with_capture_on_including_warmup": answered,
        "cells": cells,
    }
    print(f"| capture | req/s at c={args.connections} (median of {args.rounds}) | p99 ms (median) "
          "| server CPU per request (median) |")
    print("|---|---:|---:|---:|")
    for name, runs in cells.items():
        print(f"| {name} ({args.format if name == 'capture on' else '-'}) | {summary[name]:.0f} "
              f"| {statistics.median(c['p99_ms'] for c in runs):.1f} | {cpu[name]:.0f} µs |")
    print(f"\nthroughput cost of capture, median of the {len(ratios)} rounds' pairs: {paired_cost:.1%} "
          f"(90% interval {paired_cost_interval[0]:.1%} .. {paired_cost_interval[1]:.1%}; per-round on/off "
          f"ratios {', '.join(f'{r:.3f}' for r in ratios)})")
    print(f"server CPU per request with capture, median of pairs: {paired_cpu:+.1%} "
          f"(90% interval {paired_cpu_interval[0]:+.1%} .. {paired_cpu_interval[1]:+.1%})")
    print(f"ratio of the medians over all rounds: throughput cost {cost:.1%}, CPU per request "
          f"{cpu['capture on'] / cpu['capture off'] - 1:+.1%}; load average {load_before[0]:.1f} -> "
          f"{os.getloadavg()[0]:.1f}; {captured} rows captured in {len(files)} file(s)")
    print("\n```json\n" + json.dumps(report, indent=1) + "\n```")
    if args.save is not None:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(json.dumps(report, indent=1) + "\n")
    return 0


def _pool(paths: list[Path]) -> int:
    """Print the pooled paired cost of saved reports (``per_round_ratio_on_off`` of each)."""
    reports = []
    for path in paths:
        loaded = json.loads(path.read_text())
        reports.extend(loaded if isinstance(loaded, list) else [loaded])
    ratios: list[float] = []
    print("| run (UTC) | rounds × s | load before → after | paired cost | 90% interval |")
    print("|---|---:|---:|---:|---:|")
    for report in reports:
        own = report["per_round_ratio_on_off"]
        ratios.extend(own)
        low, high = (1 - r for r in reversed(_median_interval(own)))
        load = report.get("load_average", {})
        print(f"| {report['date']} | {len(own)} × {report['duration_s']} "
              f"| {load.get('before', [0])[0]:.1f} → {load.get('after', [0])[0]:.1f} "
              f"| {1 - statistics.median(own):.1%} | {low:.1%} .. {high:.1%} |")
    low, high = (1 - r for r in reversed(_median_interval(ratios)))
    print(f"\npooled, {len(ratios)} pairs of {len(reports)} runs: throughput cost {1 - statistics.median(ratios):.1%} "
          f"(90% interval {low:.1%} .. {high:.1%}); mean of the ratios: {1 - statistics.mean(ratios):.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
