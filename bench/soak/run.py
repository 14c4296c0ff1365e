"""Soak of the local endpoint, full form: several minutes of load, traffic changes and killed replicas.

The same driver as the CI test (tests/reliability/soak.py), run longer: an
endpoint with two versions of a small classifier, two replicas each; a closed
loop of ``--concurrency`` clients posting one-row predictions; the split moves
every ``--traffic-every`` seconds; one replica is SIGKILLed every ``--kill-every``
seconds (once the previous one was replaced). At the end it prints a Markdown
summary (requests, failures and where they came from, p50/p99, RSS of the
gateway and of all processes, first vs last third, and RSS over time) and writes
everything to bench/results/soak-<UTC time>.json.

Usage: .venv/bin/python bench/soak/run.py [--minutes 10] [--concurrency 6]
       [--traffic-every 5] [--kill-every 20] [--keep-workdir]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RESULTS = HERE.parent / "results"
sys.path.insert(0, str(ROOT))  # the driver lives beside the tests that use it

from tests.reliability.soak import ENDPOINT, SoakConfig, SoakResult, deploy_two_versions, run_soak  # noqa: E402

from cloudeploy.config import Profile  # noqa: E402
from cloudeploy.providers.local import LocalProvider  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument("--traffic-every", type=float, default=5.0, help="seconds between traffic changes")
    parser.add_argument("--kill-every", type=float, default=20.0, help="seconds between replica kills")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the endpoint's home (logs, capture)")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.concurrency < 1 or args.traffic_every <= 0 or args.kill_every <= 0:
        parser.error("--minutes, --traffic-every and --kill-every must be > 0 and --concurrency >= 1")

    config = SoakConfig(
        seconds=args.minutes * 60,
        concurrency=args.concurrency,
        traffic_every_s=args.traffic_every,
        kill_every_s=args.kill_every,
        sample_every_s=2.0,
        warmup_s=10.0,
    )
    workdir = Path(tempfile.mkdtemp(prefix="cloudeploy-soak-"))
    provider = LocalProvider(Profile(name="soak", settings={"home": str(workdir / "home")}))
    try:
        print(f"deploying two versions x {config.min_replicas} replicas under {workdir}", flush=True)
        url = deploy_two_versions(provider, workdir, min_replicas=config.min_replicas)
        print(f"soaking {url} for {args.minutes:g} min", flush=True)
        result = run_soak(provider, url, config, log=lambda line: print(line, flush=True))
    finally:
        provider.delete_endpoint(ENDPOINT, force=True)
        if not args.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()},
        **result.to_dict(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"soak-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(json.dumps(report, indent=1))
    print(markdown(result, report["machine"]))
    print(f"\nraw results: {out}")
    return 0 if not result.unexplained_failures() else 1


def markdown(result: SoakResult, machine: dict) -> str:
    summary = result.summary()
    rss = summary["rss_mib"]
    lines = [
        "| figure | value |",
        "|---|---|",
        f"| duration | {summary['seconds']:.0f} s, concurrency {result.config.concurrency} |",
        f"| requests | {summary['requests']} ({summary['requests_per_s']}/s) |",
        f"| answered by version | {', '.join(f'{v}: {n}' for v, n in sorted(summary['answered_by_version'].items()))} |",
        f"| traffic changes / replicas killed | {summary['traffic_changes']} / {summary['kills']} |",
        f"| slowest traffic change to apply | {summary['slowest_traffic_change_s']} s |",
        f"| failed requests (near a kill / other) | {summary['failures']} ({summary['failures_near_kills']} / {summary['unexplained_failures']}) |",
        f"| latency p50 / p99 | {summary['p50_ms']} ms / {summary['p99_ms']} ms |",
        f"| RSS gateway, first → last third | {rss['gateway_first_third']} → {rss['gateway_last_third']} MiB |",
        f"| RSS gateway + 4 replicas, first → last third | {rss['total_first_third']} → {rss['total_last_third']} MiB |",
        f"| gateway log growth | {summary['gateway_log_bytes_per_request']} bytes per request |",
        f"| machine | {machine['cpus']} CPUs, load average at the end {machine['load_average'][0]:.1f} |",
        "",
        "RSS over time (MiB), about once a minute, from samples taken with all 4 replicas up",
        "(while a killed replica is replaced the sum is lower by one replica):",
        "",
        "| t (s) | gateway | replicas (sum) |",
        "|---|---|---|",
    ]
    steady = result.steady_memory()
    next_t = 0.0
    for index, sample in enumerate(steady):
        t = sample.at - result.started
        if t >= next_t or index == len(steady) - 1:
            lines.append(f"| {t:.0f} | {sample.gateway_kib / 1024:.1f} | {sum(sample.replica_kib) / 1024:.1f} |")
            next_t = t + 60.0
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
