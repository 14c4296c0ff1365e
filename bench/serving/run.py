"""Serving benchmark: `cloudeploy serve` against the tutorial Flask app, same model, same load.

The model is a 100-tree RandomForestClassifier trained on scikit-learn's bundled
breast-cancer data (30 features). Four servers are measured in one run, each with
`wrk` sending single-row JSON `POST /predict` requests at concurrency 1, 8 and 64:

- ``cloudeploy``: ``cloudeploy serve PACKAGE --workers 2`` (micro-batching); the
  package holds the forest compiled to ONNX and verified at package time, so
  onnxruntime answers (one intra-op thread per worker);
- ``cloudeploy-sklearn``: the same package and flags with ``--runtime sklearn``
  (the pickled forest answers, as before compilation);
- ``cloudeploy-constant``: the same server and settings serving a DummyClassifier,
  which answers a constant: the gap to ``cloudeploy`` is what the model costs;
- ``flask``: bench/serving/flask_app.py (``app.run(threaded=True)``).

The table gives each row's ratio to Flask and, for the cloudeploy rows, to the
constant server at the same concurrency; the targets of issue 15 are checked
below it (compiled >= 85% of constant at c1 and c64, p99 < 20 ms at c64, >= 10x
Flask at c1).

All servers run at once but are loaded one at a time; in each of ``--rounds``
rounds every server gets every concurrency for ``--duration`` seconds (after a
1 s warm-up), so drifts in the shared machine's load hit all servers alike. The
table shows medians over rounds (about 3 min with the defaults). Results go to
bench/results/serving-<UTC time>.json and a Markdown table is printed.

Usage: .venv/bin/python bench/serving/run.py [--duration 5] [--rounds 3] [--connections 1,8,64] [--workers 2]
Needs wrk: apt-get install -y wrk
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results"
READY = re.compile(r"cloudeploy serve: ready on (http://\S+)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per cell and round")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of warm-up per server and concurrency")
    parser.add_argument("--connections", default="1,8,64", help="comma-separated concurrency levels")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each server runs each cell once per round")
    parser.add_argument("--workers", type=int, default=2, help="cloudeploy serve --workers")
    parser.add_argument("--servers", default="cloudeploy,cloudeploy-sklearn,cloudeploy-constant,flask")
    parser.add_argument("--serve-arg", action="append", default=[], help="extra cloudeploy serve argument")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk (Debian/Ubuntu) or brew install wrk", file=sys.stderr)
        return 2
    levels = [int(c) for c in args.connections.split(",")]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="cloudeploy-bench-") as scratch:
        scratch = Path(scratch)
        forest_package, constant_package, model_file, instance = _build_models(scratch)
        compiled = json.loads((forest_package / "cloudeploy.json").read_text()).get("compiled")
        print(f"forest package: compiled {json.dumps(compiled)}", file=sys.stderr)
        body = json.dumps({"instances": [instance]})
        script = scratch / "post.lua"
        script.write_text(
            'wrk.method = "POST"\n'
            f"wrk.body = {json.dumps(body)}\n"
            'wrk.headers["Content-Type"] = "application/json"\n'
        )
        servers = {
            "cloudeploy": lambda port: _cloudeploy(forest_package, port, args.workers, args.serve_arg),
            "cloudeploy-sklearn": lambda port: _cloudeploy(
                forest_package, port, args.workers, ["--runtime", "sklearn", *args.serve_arg]
            ),
            "cloudeploy-constant": lambda port: _cloudeploy(constant_package, port, args.workers, args.serve_arg),
            "flask": lambda port: _flask(model_file, port),
        }
        names = args.servers.split(",")
        running = {}
        try:
            for name in names:
                running[name] = servers[name](_free_port())
                _check(name, running[name][1], body)
            # Servers take turns within each round, first in a different order each
            # round, so that drifts in the shared machine's load hit every server
            # alike; the table shows medians over rounds.
            rounds: dict[tuple[str, int], list[dict]] = {}
            for round_index in range(args.rounds):
                order = names[round_index % len(names) :] + names[: round_index % len(names)]
                for connections in levels:
                    for name in order:
                        url = running[name][1]
                        _wrk(url, script, connections, args.warmup)
                        cell = _wrk(url, script, connections, args.duration)
                        rounds.setdefault((name, connections), []).append(cell)
                        print(
                            f"round {round_index + 1} {name} c={connections}: {cell['requests_per_s']:.0f} req/s, "
                            f"p99 {cell['p99_ms']:.1f} ms",
                            file=sys.stderr,
                        )
        finally:
            for process, _url in running.values():
                _stop(process)
        results = [
            {"server": name, "connections": connections, **_median(rounds[(name, connections)]), "rounds": rounds[(name, connections)]}
            for connections in levels
            for name in names
        ]
    report = {
        "benchmark": "serving",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": _machine(),
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "duration_s": args.duration,
        "rounds": args.rounds,
        "workers": args.workers,
        "model": "RandomForestClassifier(n_estimators=100, random_state=0) on breast-cancer (30 features)",
        "compiled": compiled,
        "load_generator": "wrk -t1, single-row JSON POST /predict",
        "results": results,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"serving-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{report['date']} · {report['machine']} · load average {load_before[0]:.1f} → {os.getloadavg()[0]:.1f}")
    print(render_table(report))
    print()
    print(render_targets(report))
    print(f"\nsaved {path}", file=sys.stderr)
    return 0


def _check(name: str, url: str, body: str) -> None:
    reply = httpx.post(f"{url}/predict", content=body, headers={"Content-Type": "application/json"})
    reply.raise_for_status()
    print(f"{name}: {url} answers {reply.json()['predictions']}", file=sys.stderr)


def _median(cells: list[dict]) -> dict:
    """Per-metric medians over rounds; errors are summed."""
    import statistics

    keys = [k for k in cells[0] if k not in ("non_2xx", "socket_errors", "requests")]
    summary = {key: statistics.median(cell[key] for cell in cells) for key in keys}
    for key in ("non_2xx", "socket_errors", "requests"):
        summary[key] = sum(cell[key] for cell in cells)
    return summary


def _build_models(scratch: Path):
    import joblib
    from sklearn.datasets import load_breast_cancer
    from sklearn.dummy import DummyClassifier
    from sklearn.ensemble import RandomForestClassifier

    from cloudeploy.packaging import build_package

    features, target = load_breast_cancer(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=100, random_state=0).fit(features, target)
    constant = DummyClassifier(strategy="constant", constant=1).fit(features, target)
    # Verified on the training rows: labels identical on every one, or the package keeps scikit-learn.
    forest_package = build_package(forest, scratch / "forest", name="breast-cancer-forest", baseline=features).path
    constant_package = build_package(constant, scratch / "constant", name="constant").path
    model_file = scratch / "model.joblib"
    joblib.dump(forest, model_file)
    return forest_package, constant_package, model_file, features[0].tolist()


def _cloudeploy(package: Path, port: int, workers: int, extra: list[str]):
    command = [
        sys.executable, "-m", "cloudeploy.cli", "serve", str(package),
        "--port", str(port), "--workers", str(workers), *extra,
    ]  # fmt: skip
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    assert process.stderr is not None
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            raise RuntimeError(f"cloudeploy serve exited with {process.returncode}")
        match = READY.search(line)
        if match:
            # Keep draining stderr so the server never blocks on a full pipe.
            threading.Thread(target=process.stderr.read, daemon=True).start()
            return process, match.group(1)
    raise RuntimeError("cloudeploy serve never became ready")


def _flask(model_file: Path, port: int):
    command = [sys.executable, str(HERE / "flask_app.py"), str(model_file), str(port)]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return process, url
        except httpx.HTTPError:
            if process.poll() is not None:
                raise RuntimeError(f"flask app exited with {process.returncode}") from None
            time.sleep(0.1)
    raise RuntimeError("flask app never answered")


def _wrk(url: str, script: Path, connections: int, duration: int) -> dict:
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "--latency",
        "-s", str(script), f"{url}/predict",
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return parse_wrk(output)


def parse_wrk(output: str) -> dict:
    """Throughput, latency percentiles (ms) and errors from ``wrk --latency`` output."""

    def ms(value: str) -> float:
        number, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
        return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    percentiles = {f"p{p}_ms": ms(v) for p, v in re.findall(r"^\s+(50|90|99)%\s+(\S+)", output, re.M)}
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        "requests": requests,
        **percentiles,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(map(int, socket_errors.groups())) if socket_errors else 0,
    }


def _rates(report: dict, server: str) -> dict[int, float]:
    return {r["connections"]: r["requests_per_s"] for r in report["results"] if r["server"] == server}


def render_table(report: dict) -> str:
    flask = _rates(report, "flask")
    constant = _rates(report, "cloudeploy-constant")
    lines = [
        "| server | concurrency | req/s | p50 ms | p90 ms | p99 ms | errors | × flask | % of constant |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        level = r["connections"]
        ratio = f"{r['requests_per_s'] / flask[level]:.1f}" if flask.get(level) else "–"
        share = (
            f"{100 * r['requests_per_s'] / constant[level]:.0f}%"
            if constant.get(level) and r["server"].startswith("cloudeploy") and r["server"] != "cloudeploy-constant"
            else "–"
        )
        lines.append(
            f"| {r['server']} | {level} | {r['requests_per_s']:.0f} | {r.get('p50_ms', 0):.1f} | "
            f"{r.get('p90_ms', 0):.1f} | {r.get('p99_ms', 0):.1f} | {r['non_2xx'] + r['socket_errors']} | {ratio} | {share} |"
        )
    return "\n".join(lines)


def render_targets(report: dict) -> str:
    """Issue 15's targets for the compiled server, each with its measured value."""
    compiled = _rates(report, "cloudeploy")
    constant = _rates(report, "cloudeploy-constant")
    flask = _rates(report, "flask")
    p99 = {r["connections"]: r.get("p99_ms") for r in report["results"] if r["server"] == "cloudeploy"}
    checks = []
    for level in (64, 1):
        if compiled.get(level) and constant.get(level):
            share = compiled[level] / constant[level]
            checks.append((f">= 85% of the constant server at c{level}", f"{share:.0%}", share >= 0.85))
    if p99.get(64) is not None:
        checks.append(("p99 < 20 ms at c64", f"{p99[64]:.1f} ms", p99[64] < 20))
    if compiled.get(1) and flask.get(1):
        ratio = compiled[1] / flask[1]
        checks.append((">= 10x the Flask app at c1", f"{ratio:.1f}x", ratio >= 10))
    return "\n".join(f"- {what}: {value} ({'met' if ok else 'NOT met'})" for what, value, ok in checks)


def _machine() -> str:
    model = "unknown CPU"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {model}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


if __name__ == "__main__":
    sys.exit(main())
