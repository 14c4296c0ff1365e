"""Keeps an endpoint's replica processes matching its desired state.

``reconcile()`` reads the endpoint from the state file and makes it so: it
starts the replicas a version needs and waits until they are ready, *then*
swaps the routing table in one assignment, *then* drains replicas that are no
longer wanted (SIGTERM: the model server finishes in-flight requests first).
That order is what makes traffic changes and new versions free of failed
requests. If a version cannot start, the old table stays in place and the
error (with the replica's log tail) is reported to the caller.

The autoscaler keeps each version between its min and max replicas from the
observed load: requests in flight per replica (``metric="requests"``) or the
replicas' CPU utilisation (``metric="cpu"``), against the deployment's target.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from cloudeploy.errors import OperationFailed
from cloudeploy.providers.local.gateway.routing import Replica, RoutingTable
from cloudeploy.providers.local.processes import free_port, pid_alive, spawn_child, terminate
from cloudeploy.providers.local.state import DeploymentRow, StateStore

log = logging.getLogger("cloudeploy.gateway")

DEFAULT_TARGETS = {"cpu": 60.0, "requests": 4.0}
# Overridable so tests can watch a scale-down without waiting half a minute.
SCALE_DOWN_AFTER_S = float(os.environ.get("CLOUDEPLOY_SCALE_DOWN_AFTER_S", "30"))
READY_TIMEOUT_S = 120.0


@dataclass
class VersionPlan:
    version: str
    package_path: str
    trusted: bool
    deployment: DeploymentRow


class Supervisor:
    """Owns the replica processes of one endpoint and the routing table over them."""

    def __init__(self, store: StateStore, endpoint: str, *, capture_sample: float = 1.0) -> None:
        self.store = store
        self.endpoint = endpoint
        self.capture_sample = capture_sample
        self.table = RoutingTable()
        self.desired_replicas: dict[str, int] = {}
        self.errors: dict[str, str] = {}
        self._lock = threading.RLock()
        self._low_since: dict[str, float] = {}
        self._cpu_samples: dict[int, tuple[float, float]] = {}
        self.log_dir = store.home / "logs" / endpoint
        self.capture_dir = store.home / "capture" / endpoint

    # -- desired state ----------------------------------------------------------

    def _plans(self) -> tuple[dict[str, VersionPlan], dict[str, int], int]:
        row = self.store.endpoint(self.endpoint)
        if row is None:
            return {}, {}, 0
        versions = {v.label: v for v in self.store.versions(row.model)}
        plans = {}
        for deployment in self.store.deployments(self.endpoint):
            version = versions.get(deployment.version)
            if version is None:
                continue
            plans[deployment.version] = VersionPlan(
                deployment.version, version.path, version.trusted, deployment
            )
        return plans, row.traffic, row.revision

    def reconcile(self, *, partial: bool = False) -> RoutingTable:
        """Make the running replicas and routing table match the state file.

        Raises OperationFailed (keeping the current table) if a version's
        replicas cannot become ready. With ``partial`` (a gateway starting from
        state) such a version is left without replicas instead, its reason in
        ``errors``: the other versions keep serving, and the broken one's turns
        go to them (routing skips versions without replicas).
        """
        with self._lock:
            plans, traffic, revision = self._plans()
            model = self.store.endpoint(self.endpoint).model if plans else ""
            current = self.table.replicas
            new_replicas: dict[str, list[Replica]] = {}
            started: list[Replica] = []
            try:
                for version, plan in plans.items():
                    dep = plan.deployment
                    want = min(max(self.desired_replicas.get(version, dep.min_replicas), dep.min_replicas), dep.max_replicas)
                    keep = [r for r in current.get(version, ()) if pid_alive(r.pid)][:want]
                    try:
                        fresh = self._start_replicas(plan, model, want - len(keep))
                    except OperationFailed as error:
                        if not partial:
                            raise
                        log.error("version %s cannot serve: %s", version, error)
                        self.errors[version] = str(error)
                        new_replicas[version] = keep
                        continue
                    started.extend(fresh)
                    new_replicas[version] = keep + fresh
                    self.desired_replicas[version] = want
                    self.errors.pop(version, None)
            except OperationFailed:
                for replica in started:
                    terminate(replica.pid, timeout=5)
                raise
            old_table = self.table
            self.table = RoutingTable(
                replicas={v: tuple(rs) for v, rs in new_replicas.items()},
                traffic={v: p for v, p in traffic.items() if v in new_replicas},
                revision=revision,
            )
            kept = {id(r) for rs in new_replicas.values() for r in rs}
            retired = [r for r in old_table.all_replicas() if id(r) not in kept]
            for version in list(self.desired_replicas):
                if version not in plans:
                    self.desired_replicas.pop(version)
        self._retire(retired)
        return self.table

    def _start_replicas(self, plan: VersionPlan, model: str, count: int) -> list[Replica]:
        if count <= 0:
            return []
        replicas = []
        for _ in range(count):
            port = free_port()
            args = [
                sys.executable, "-m", "cloudeploy.cli", "serve", plan.package_path,
                "--host", "127.0.0.1", "--port", str(port),
                "--model", model, "--version", plan.version,
            ]
            if plan.trusted:
                args.append("--trust")
            if self.capture_sample > 0:
                args += ["--capture-dir", str(self.capture_dir / plan.version),
                         "--capture-sample", str(self.capture_sample)]
            log_path = self.log_dir / f"{plan.version}-{port}.log"
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            process = spawn_child(args, log_path=log_path, env=env)
            replicas.append((Replica(version=plan.version, port=port, pid=process.pid), process, log_path))
        deadline = time.monotonic() + READY_TIMEOUT_S
        ready: list[Replica] = []
        try:
            for replica, process, log_path in replicas:
                self._wait_ready(replica, process, log_path, deadline)
                ready.append(replica)
        except OperationFailed:
            for replica, _, _ in replicas:
                terminate(replica.pid, timeout=5)
            raise
        return ready

    def _wait_ready(self, replica: Replica, process, log_path: Path, deadline: float) -> None:
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    tail = _tail(log_path)
                    self.errors[replica.version] = tail
                    raise OperationFailed(
                        f"version {replica.version} failed to start (exit code {process.returncode}): {tail}"
                    )
                try:
                    if client.get(f"{replica.url}/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise OperationFailed(
            f"version {replica.version} did not become ready within {READY_TIMEOUT_S:.0f}s",
            hint=f"see {log_path}",
        )

    def _retire(self, replicas: list[Replica]) -> None:
        """Drain replicas that left the table: they finish in-flight requests, then exit."""
        for replica in replicas:
            threading.Thread(target=terminate, args=(replica.pid,), daemon=True).start()

    # -- health and autoscaling ------------------------------------------------

    def check_health(self) -> None:
        """Replace replicas whose process died, without holding up traffic changes.

        The dead replicas leave the table at once. Their replacements start
        outside the lock, so a traffic change meanwhile is not kept waiting for
        them, and join the table only if their version still wants them (a
        change in between may have started its own or removed the version).
        """
        with self._lock:
            dead = [r for r in self.table.all_replicas() if not pid_alive(r.pid)]
            if not dead:
                return
            for replica in dead:
                replica.healthy = False
                log.warning("replica %s of %s (pid %d) died; replacing it", replica.port, replica.version, replica.pid)
            table = self.table
            self.table = RoutingTable(
                replicas={v: tuple(r for r in rs if r.healthy) for v, rs in table.replicas.items()},
                traffic=table.traffic,
                revision=table.revision,
            )
            plans, _, _ = self._plans()
            model = self.store.endpoint(self.endpoint).model if plans else ""
            missing = {
                version: self.desired_replicas.get(version, 0) - len(self.table.replicas.get(version, ()))
                for version in {r.version for r in dead}
                if version in plans
            }
        replacements: dict[str, list[Replica]] = {}
        for version, count in missing.items():
            try:
                replacements[version] = self._start_replicas(plans[version], model, count)
            except OperationFailed as error:
                log.error("could not replace replica: %s", error)
        self._adopt(replacements)

    def _adopt(self, replacements: dict[str, list[Replica]]) -> None:
        """Add started replicas to their versions up to the desired count; retire the rest."""
        unwanted: list[Replica] = []
        with self._lock:
            table = self.table
            replicas = dict(table.replicas)
            for version, fresh in replacements.items():
                if version not in replicas:
                    unwanted.extend(fresh)
                    continue
                room = max(0, self.desired_replicas.get(version, 0) - len(replicas[version]))
                replicas[version] = replicas[version] + tuple(fresh[:room])
                unwanted.extend(fresh[room:])
            self.table = RoutingTable(replicas=replicas, traffic=table.traffic, revision=table.revision)
        self._retire(unwanted)

    def autoscale(self, interval: float) -> None:
        """One autoscaler step: compute each version's desired replicas and apply."""
        plans, _, _ = self._plans()
        changed = False
        now = time.monotonic()
        for version, plan in plans.items():
            dep = plan.deployment
            replicas = self.table.replicas.get(version, ())
            if dep.min_replicas == dep.max_replicas or not replicas:
                continue
            target = dep.target or DEFAULT_TARGETS.get(dep.metric, 60.0)
            load = self._load(replicas, dep.metric, interval)
            current = len(replicas)
            wanted = max(dep.min_replicas, min(dep.max_replicas, math.ceil(current * load / target) or dep.min_replicas))
            if wanted > current:
                self._low_since.pop(version, None)
                self.desired_replicas[version] = wanted
                changed = True
                log.info("autoscaler: %s load %.1f (target %.1f): %d -> %d replicas", version, load, target, current, wanted)
            elif wanted < current:
                since = self._low_since.setdefault(version, now)
                if now - since >= SCALE_DOWN_AFTER_S:
                    self.desired_replicas[version] = current - 1
                    self._low_since.pop(version, None)
                    changed = True
                    log.info("autoscaler: %s load %.1f (target %.1f): %d -> %d replicas", version, load, target, current, current - 1)
            else:
                self._low_since.pop(version, None)
        if changed:
            try:
                self.reconcile()
            except OperationFailed as error:
                log.error("autoscaler could not apply: %s", error)

    def _load(self, replicas: tuple[Replica, ...], metric: str, interval: float) -> float:
        if metric == "requests":
            return sum(r.in_flight for r in replicas) / len(replicas)
        usages = [self._cpu_percent(r.pid) for r in replicas]
        return sum(usages) / len(usages)

    def _cpu_percent(self, pid: int) -> float:
        """CPU use of ``pid`` since the last sample, in percent of one core."""
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(") ", 1)[1].split()
            cpu_seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0
        now = time.monotonic()
        previous = self._cpu_samples.get(pid)
        self._cpu_samples[pid] = (now, cpu_seconds)
        if previous is None or now <= previous[0]:
            return 0.0
        return 100.0 * (cpu_seconds - previous[1]) / (now - previous[0])

    def shutdown(self) -> None:
        with self._lock:
            replicas = self.table.all_replicas()
            self.table = RoutingTable()
        threads = [threading.Thread(target=terminate, args=(r.pid,)) for r in replicas]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def status(self) -> dict:
        table = self.table
        return {
            "revision": table.revision,
            "traffic": table.traffic,
            "versions": {
                version: {
                    "replicas": len(replicas),
                    "desired_replicas": self.desired_replicas.get(version, len(replicas)),
                    "ports": [r.port for r in replicas],
                    "pids": [r.pid for r in replicas],
                    "in_flight": sum(r.in_flight for r in replicas),
                }
                for version, replicas in table.replicas.items()
            },
            "errors": dict(self.errors),
        }


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"
