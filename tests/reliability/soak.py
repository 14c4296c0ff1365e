"""A soak of the local endpoint: steady bounded load, traffic changes, replicas SIGKILLed now and then.

Used twice: shortened by ``tests/reliability/test_soak.py`` in CI, and in full by
``bench/soak/run.py``. ``deploy_two_versions`` puts two versions of a small
classifier behind one endpoint; ``run_soak`` then drives it for
``SoakConfig.seconds`` while

- a :class:`~tests.local.loadgen.LoadGenerator` keeps ``concurrency`` requests in flight;
- every ``traffic_every_s`` the split moves to the next step of ``SPLITS``;
- every ``kill_every_s`` one replica of a version that has traffic, and all of
  its replicas up, gets SIGKILL (the gateway's health loop replaces it);
- every ``sample_every_s`` the RSS of the gateway and of each replica is read from /proc.

The :class:`SoakResult` tells failures apart: those that overlap a kill (a
killed replica's in-flight calls that the gateway could not retry) and the
rest, which should not exist.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from tests.local.loadgen import LoadGenerator, Result

ENDPOINT = "soak"
MODEL = "soak"
#: The traffic steps (percent to v1, percent to v2), visited in a cycle.
SPLITS = ((100, 0), (70, 30), (50, 50), (20, 80), (0, 100), (50, 50))


@dataclass(frozen=True)
class SoakConfig:
    seconds: float = 60.0
    concurrency: int = 6
    traffic_every_s: float = 4.0
    kill_every_s: float = 10.0
    sample_every_s: float = 1.0
    warmup_s: float = 5.0
    min_replicas: int = 2
    #: A failure within this many seconds after a kill (or 1 s before it) is put on the kill.
    kill_grace_s: float = 5.0
    seed: int = 0


@dataclass(frozen=True)
class Kill:
    at: float
    version: str
    pid: int


@dataclass(frozen=True)
class MemorySample:
    at: float
    gateway_kib: int
    replica_kib: tuple[int, ...]

    @property
    def total_kib(self) -> int:
        return self.gateway_kib + sum(self.replica_kib)


@dataclass
class SoakResult:
    config: SoakConfig
    started: float
    ended: float
    results: list[Result]
    kills: list[Kill] = field(default_factory=list)
    memory: list[MemorySample] = field(default_factory=list)
    #: (when it was asked for, split, seconds until the endpoint had applied it)
    traffic_changes: list[tuple[float, tuple[int, int], float]] = field(default_factory=list)
    final_status: dict = field(default_factory=dict)
    #: Bytes the gateway's log file grew by during the soak.
    gateway_log_bytes: int = 0

    def failures(self) -> list[Result]:
        return [r for r in self.results if r.status != 200]

    def _near_a_kill(self, result: Result) -> bool:
        grace = self.config.kill_grace_s
        return any(k.at - 1.0 <= result.ended and result.started <= k.at + grace for k in self.kills)

    def failures_near_kills(self) -> list[Result]:
        return [r for r in self.failures() if self._near_a_kill(r)]

    def unexplained_failures(self) -> list[Result]:
        return [r for r in self.failures() if not self._near_a_kill(r)]

    def latency_ms(self, quantile: float) -> float:
        latencies = sorted((r.ended - r.started) * 1000 for r in self.results if r.status == 200)
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(quantile * len(latencies)))]

    def requests_per_second(self) -> list[int]:
        """Requests that ended in each second of the soak."""
        counts = [0] * (int(self.ended - self.started) + 1)
        for r in self.results:
            counts[min(len(counts) - 1, max(0, int(r.ended - self.started)))] += 1
        return counts

    def steady_memory(self) -> list[MemorySample]:
        """Samples after warm-up taken with every replica up (a replacement skews the sum)."""
        wanted = 2 * self.config.min_replicas
        after = self.started + self.config.warmup_s
        return [m for m in self.memory if m.at >= after and len(m.replica_kib) == wanted]

    def memory_thirds(self) -> tuple[float, float, float, float]:
        """Mean RSS in MiB of (gateway, all processes) over the first and the last third of
        the steady samples: (gateway first, gateway last, total first, total last)."""
        samples = self.steady_memory()
        third = max(1, len(samples) // 3)
        first, last = samples[:third], samples[-third:]

        def mean_mib(values) -> float:
            return statistics.fmean(values) / 1024 if values else float("nan")

        return (
            mean_mib([m.gateway_kib for m in first]),
            mean_mib([m.gateway_kib for m in last]),
            mean_mib([m.total_kib for m in first]),
            mean_mib([m.total_kib for m in last]),
        )

    def summary(self) -> dict:
        by_version: dict[str, int] = {}
        for r in self.results:
            by_version[r.version or "-"] = by_version.get(r.version or "-", 0) + 1
        gateway_first, gateway_last, total_first, total_last = self.memory_thirds()
        seconds = self.ended - self.started
        return {
            "seconds": round(seconds, 1),
            "requests": len(self.results),
            "requests_per_s": round(len(self.results) / seconds, 1) if seconds else 0.0,
            "answered_by_version": by_version,
            "failures": len(self.failures()),
            "failures_near_kills": len(self.failures_near_kills()),
            "unexplained_failures": len(self.unexplained_failures()),
            "failure_kinds": sorted({f"{r.status} {r.error[:80]}".strip() for r in self.failures()}),
            "kills": len(self.kills),
            "gateway_log_bytes_per_request": round(self.gateway_log_bytes / max(1, len(self.results)), 1),
            "traffic_changes": len(self.traffic_changes),
            "slowest_traffic_change_s": round(max((d for _, _, d in self.traffic_changes), default=0.0), 2),
            "p50_ms": round(self.latency_ms(0.50), 2),
            "p99_ms": round(self.latency_ms(0.99), 2),
            "rss_mib": {
                "gateway_first_third": round(gateway_first, 1),
                "gateway_last_third": round(gateway_last, 1),
                "total_first_third": round(total_first, 1),
                "total_last_third": round(total_last, 1),
            },
        }

    def to_dict(self) -> dict:
        return {
            "config": asdict(self.config),
            "summary": self.summary(),
            "kills": [{"t": round(k.at - self.started, 2), "version": k.version, "pid": k.pid} for k in self.kills],
            "traffic_changes": [
                {"t": round(t - self.started, 2), "split": list(s), "applied_after_s": round(d, 2)}
                for t, s, d in self.traffic_changes
            ],
            "requests_per_second": self.requests_per_second(),
            "memory": [
                {"t": round(m.at - self.started, 2), "gateway_kib": m.gateway_kib, "replica_kib": list(m.replica_kib)}
                for m in self.memory
            ],
            "failures": [
                {"t": round(r.started - self.started, 3), "status": r.status, "error": r.error} for r in self.failures()
            ],
        }


def deploy_two_versions(provider, workdir: Path, *, min_replicas: int = 2) -> str:
    """Endpoint ``soak`` with v1 (100%) and v2 (0%), ``min_replicas`` replicas each; returns its URL."""
    from cloudeploy.packaging import build_package
    from cloudeploy.testing.conformance import fitted_classifier
    from cloudeploy.types import Scaling

    scaling = Scaling(min_replicas=min_replicas, max_replicas=min_replicas)
    for seed in (0, 1):
        package = build_package(fitted_classifier(seed), workdir / f"package-{seed}", name=MODEL).path
        version = provider.upload_model(package, MODEL)
        if seed == 0:
            provider.create_endpoint(ENDPOINT, model=MODEL)
        provider.deploy(ENDPOINT, version, traffic=100 if seed == 0 else 0, scaling=scaling)
    return provider.get_endpoint(ENDPOINT).url


def run_soak(provider, url: str, config: SoakConfig, *, log: Callable[[str], None] = lambda _: None) -> SoakResult:
    """Drive the endpoint at ``url`` as the module docstring says; returns what happened."""
    from cloudeploy.testing.conformance import sample_instances
    from cloudeploy.types import TrafficSplit

    rng = random.Random(config.seed)
    gateway_pid = provider.store.endpoint(ENDPOINT).gateway_pid
    gateway_log = provider.home / "logs" / ENDPOINT / "gateway.log"
    log_size_before = _size(gateway_log)
    load = LoadGenerator(
        f"{url}/predict",
        {"instances": sample_instances(1)},
        concurrency=config.concurrency,
        max_requests=10**9,
        max_seconds=config.seconds + 60,
    )
    result = SoakResult(config, started=time.monotonic(), ended=0.0, results=[])
    deadline = result.started + config.seconds
    stop_sampling = threading.Event()
    # Its own thread: a traffic change can block the control loop while a replica is replaced.
    sampler = threading.Thread(
        target=_sample_memory_until, args=(stop_sampling, url, gateway_pid, config.sample_every_s, result.memory), daemon=True
    )
    next_traffic = result.started + config.traffic_every_s
    next_kill = result.started + config.kill_every_s
    steps = 0
    load.start()
    sampler.start()
    try:
        with httpx.Client(timeout=10) as admin:
            while (now := time.monotonic()) < deadline:
                if now >= next_traffic:
                    next_traffic = now + config.traffic_every_s
                    steps += 1
                    split = SPLITS[steps % len(SPLITS)]
                    provider.set_traffic(ENDPOINT, TrafficSplit({"v1": split[0], "v2": split[1]}))
                    result.traffic_changes.append((now, split, time.monotonic() - now))
                    log(f"{now - result.started:6.1f}s traffic v1={split[0]}% v2={split[1]}% ({load.count()} requests)")
                if now >= next_kill:
                    kill = _kill_a_replica(admin, url, config.min_replicas, rng)
                    if kill is not None:
                        next_kill = now + config.kill_every_s
                        result.kills.append(kill)
                        log(f"{now - result.started:6.1f}s SIGKILL replica {kill.pid} of {kill.version}")
                time.sleep(0.05)
            result.final_status = admin.get(f"{url}/_cloudeploy/status").json()
    finally:
        stop_sampling.set()
        sampler.join(10)
        result.results = load.stop()
        result.ended = time.monotonic()
        result.gateway_log_bytes = _size(gateway_log) - log_size_before
    return result


def _status(admin: httpx.Client, url: str) -> dict:
    return admin.get(f"{url}/_cloudeploy/status").json()


def _kill_a_replica(admin: httpx.Client, url: str, min_replicas: int, rng: random.Random) -> Kill | None:
    """SIGKILL one replica of a version with traffic; None while any version is short of replicas
    (one failure at a time: the previous victim must have been replaced)."""
    status = _status(admin, url)
    if any(len([p for p in info["pids"] if _alive(p)]) < min_replicas for info in status["versions"].values()):
        return None
    candidates = [
        (version, pid)
        for version, info in status["versions"].items()
        if status["traffic"].get(version, 0) > 0 and len(info["pids"]) >= min_replicas
        for pid in info["pids"]
        if _alive(pid)
    ]
    if not candidates:
        return None
    version, pid = rng.choice(candidates)
    os.kill(pid, signal.SIGKILL)
    return Kill(time.monotonic(), version, pid)


def _sample_memory_until(
    stop: threading.Event, url: str, gateway_pid: int, every_s: float, samples: list[MemorySample]
) -> None:
    with httpx.Client(timeout=10) as admin:
        while True:
            status = _status(admin, url)
            pids = [pid for info in status["versions"].values() for pid in info["pids"]]
            replicas = tuple(kib for kib in map(rss_kib, pids) if kib)
            samples.append(MemorySample(time.monotonic(), rss_kib(gateway_pid), replicas))
            if stop.wait(every_s):
                return


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (0 if it is gone)."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _alive(pid: int) -> bool:
    return rss_kib(pid) > 0
