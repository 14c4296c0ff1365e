"""The local provider: a registry and live endpoints on this machine, no cloud account.

State lives in SQLite under ``$CLOUDEPLOY_HOME`` (default ``./.cloudeploy``);
packages are stored by digest. Each endpoint is a gateway process (see
``gateway/``) that outlives the CLI, splits traffic across versions and
supervises the versions' model-server replicas. This class only writes desired
state and asks the gateway to apply it, which is what makes every call safe to
re-run after a crash: a re-run writes nothing the state already says and
reloads the gateway only if it has not applied the latest revision.

Crash points (:mod:`cloudeploy.crashpoints`), in order: ``local.deploy.``
``after_store_artifact``, ``after_register_version``, ``after_create_endpoint``,
``after_spawn_gateway``, ``after_start_gateway``, ``after_stage``,
``after_start_replicas``, ``after_route``, ``after_switch``; and
``local.set_traffic.after_record``, ``local.set_traffic.after_switch``.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from cloudeploy.crashpoints import crash_point
from cloudeploy.errors import (
    CloudeployError,
    ConflictError,
    NotFoundError,
    OperationFailed,
    OperationTimeout,
    ProviderError,
    TransientError,
    UnsafeModelError,
    ValidationError,
)
from cloudeploy.packaging import read_manifest, scan_pickle, verify_package
from cloudeploy.packaging.code import allowlist_entries, code_modules
from cloudeploy.providers.base import (
    Prediction,
    ProgressCallback,
    Provider,
    VersionMetrics,
    no_progress,
    wait_until,
)
from cloudeploy.providers.deadline import Deadline
from cloudeploy.providers.local import capture_setting
from cloudeploy.providers.local.artifacts import ArtifactStore
from cloudeploy.providers.local.options import LocalOptions
from cloudeploy.providers.local.processes import (
    ensure_port_free,
    free_port,
    pid_alive,
    spawn_daemon,
    terminate,
)
from cloudeploy.providers.local.state import DeploymentRow, EndpointRow, StateStore, VersionRow
from cloudeploy.providers.sqlite_store import LocalStateStore
from cloudeploy.types import (
    DeployedVersion,
    EndpointStatus,
    ModelVersion,
    Scaling,
    TrafficSplit,
    normalize_version,
)

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}\Z")
ALIAS_RE = re.compile(r"^[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]\Z|^[a-z]\Z")
DEFAULT_TIMEOUT_S = 180.0


def check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValidationError(
            f"invalid {kind} name {name!r}",
            hint="use lowercase letters, digits, '-', '_' or '.', starting with a letter or digit (max 63)",
        )
    return name


def check_alias(alias: str) -> str:
    if not ALIAS_RE.match(alias) or alias == "latest" or re.fullmatch(r"v?\d+", alias):
        raise ValidationError(
            f"invalid alias {alias!r}",
            hint="aliases look like 'prod' or 'champion-2' (lowercase start, no bare numbers, not 'latest')",
        )
    return alias


def _capture_rate(options: LocalOptions) -> float:
    """The capture rate a new endpoint gets: the option, else the default."""
    if options.capture_sample is None:
        return capture_setting.DEFAULT_CAPTURE_SAMPLE
    return options.capture_sample


class LocalProvider(Provider):
    """Endpoints are processes on 127.0.0.1; see the module docstring."""

    name = "local"
    options_class = LocalOptions
    default_timeout = DEFAULT_TIMEOUT_S
    supports_stop = True
    supports_version_metrics = True
    supports_delete_model_version = True

    def __init__(self, profile) -> None:
        super().__init__(profile)
        home = profile.get("home") or os.environ.get("CLOUDEPLOY_HOME") or ".cloudeploy"
        self.home = Path(home).resolve()
        self.store = StateStore(self.home)
        self.artifacts = ArtifactStore(self.home / "artifacts")

    # -- registry ---------------------------------------------------------------

    def _upload_model(
        self,
        package_dir: Path,
        model: str,
        *,
        aliases: tuple[str, ...],
        deadline: Deadline,
        progress: ProgressCallback,
        options: LocalOptions,
    ) -> ModelVersion:
        check_name("model", model)
        aliases = [check_alias(a) for a in aliases]
        progress(f"verifying package {package_dir}")
        manifest = verify_package(Path(package_dir))
        trusted = bool(options.trust)
        if not trusted:
            self._check_safe(Path(package_dir), manifest)
        existing = next((v for v in self.store.versions(model) if v.digest == manifest.digest), None)
        if existing is None:
            progress(f"storing package {manifest.digest[:12]}")
            self.artifacts.sweep_partial()
            stored = self.artifacts.put(Path(package_dir), manifest.digest)
            crash_point("local.deploy.after_store_artifact")
            existing = self.store.add_version(
                model, manifest.digest, str(stored), manifest.to_dict(), trusted=trusted
            )
            crash_point("local.deploy.after_register_version")
        if aliases:
            self.store.set_aliases(model, existing.number, aliases)
        return self.get_model_version(model, existing.label)

    def _check_safe(self, package_dir: Path, manifest) -> None:
        """Refuse pickle-based packages that import globals outside the allowlist."""
        if manifest.format not in ("joblib", "pickle"):
            return
        # The package's own --code modules are allowed, as load_package allows them.
        own_code = allowlist_entries(code_modules(manifest.files))
        offending = scan_pickle(package_dir / manifest.model_file, allowed_globals=own_code)
        if offending:
            raise UnsafeModelError(
                f"{manifest.model_file} imports globals outside the allowlist: {', '.join(offending)}",
                globals=offending,
                hint="if you trust this file, pass options={'trust': True} (CLI: --trust)",
            )

    def _version_row(self, model: str, version: str) -> VersionRow:
        versions = self.store.versions(model)
        if not versions:
            known = ", ".join(self.store.models()) or "none"
            raise NotFoundError(f"model {model!r} not found (models: {known})")
        if version in ("latest", None):
            return versions[-1]
        for row in versions:
            if version in row.aliases:
                return row
        try:
            label = normalize_version(version)
        except ValidationError:
            label = None
        for row in versions:
            if row.label == label:
                return row
        known = ", ".join(v.label for v in versions)
        raise NotFoundError(f"model {model!r} has no version or alias {version!r} (versions: {known})")

    def _delete_model_version(self, target: ModelVersion, *, deadline: Deadline, progress: ProgressCallback) -> None:
        row = self._version_row(target.model, target.version)
        progress(f"deleting {target.model}@{row.label}")
        self.store.delete_version(target.model, row.number)
        if not self.store.digest_in_use(row.digest):
            self.artifacts.remove(row.digest)

    def get_model_version(self, model: str, version: str = "latest") -> ModelVersion:
        return _model_version(self._version_row(model, version))

    def list_models(self) -> list[str]:
        return self.store.models()

    def list_versions(self, model: str) -> list[ModelVersion]:
        rows = self.store.versions(model)
        if not rows:
            raise NotFoundError(f"model {model!r} not found")
        return [_model_version(row) for row in rows]

    def set_aliases(self, model: str, version: str, aliases: Sequence[str]) -> ModelVersion:
        row = self._version_row(model, version)
        self.store.set_aliases(model, row.number, [check_alias(a) for a in aliases])
        return self.get_model_version(model, row.label)

    # -- endpoints --------------------------------------------------------------

    def _create_endpoint(
        self,
        name: str,
        *,
        model: str,
        existing: EndpointStatus | None,
        deadline: Deadline,
        progress: ProgressCallback,
        options: LocalOptions,
    ) -> EndpointStatus:
        check_name("endpoint", name)
        row = self.store.endpoint(name)
        if row is None:
            host = options.host or "127.0.0.1"
            port = options.port
            if port is not None:
                ensure_port_free(host, port)
            else:
                port = free_port(host)
            progress(f"creating endpoint {name} on http://{host}:{port}")
            # Before the row: a gateway started from the row must find the endpoint's rate.
            capture_setting.save(self.home, name, _capture_rate(options))
            row = self.store.add_endpoint(name, model, int(port), host)
            crash_point("local.deploy.after_create_endpoint")
        else:
            self._check_existing(row, options)
        if row.desired_state == "running":
            self._ensure_gateway(row, deadline=deadline, progress=progress)
            crash_point("local.deploy.after_start_gateway")
        return self.get_endpoint(name)

    def _check_existing(self, row: EndpointRow, options: LocalOptions) -> None:
        """An existing endpoint keeps its port, address and capture rate: asking for others is a conflict."""
        if options.port is not None and options.port != row.port:
            raise ConflictError(f"endpoint {row.name!r} already listens on port {row.port}, not {options.port}")
        if options.host is not None and options.host != row.host:
            raise ConflictError(f"endpoint {row.name!r} already listens on {row.host}, not {options.host}")
        rate = capture_setting.load(self.home, row.name)
        if options.capture_sample is not None and options.capture_sample != rate:
            raise ConflictError(
                f"endpoint {row.name!r} already captures {rate:g} of its requests, not {options.capture_sample:g}",
                hint=f"delete it and deploy again to change the rate: cloudeploy endpoints delete {row.name} --force",
            )

    def _gateway_status(self, row: EndpointRow, timeout: float = 2.0) -> dict | None:
        try:
            answer = httpx.get(f"{_url(row)}/_cloudeploy/status", timeout=timeout)
        except httpx.TransportError:
            return None
        if answer.status_code != 200:
            return None
        data = answer.json()
        return data if data.get("endpoint") == row.name else None

    def _ensure_gateway(self, row: EndpointRow, *, deadline: Deadline, progress: ProgressCallback) -> bool:
        """Start the endpoint's gateway unless it answers; wait for it while ``deadline.waits``.

        True if it was already answering (a started gateway applies the state
        file itself as it starts).
        """
        if pid_alive(row.gateway_pid) and self._gateway_status(row) is not None:
            return True
        progress(f"starting gateway for {row.name}")
        ensure_port_free(row.host, row.port)
        args = [
            sys.executable, "-m", "cloudeploy.providers.local.gateway",
            "--home", str(self.home), "--endpoint", row.name,
            "--capture-sample", repr(capture_setting.load(self.home, row.name)),
        ]
        pid = spawn_daemon(args, log_path=self.home / "logs" / row.name / "gateway.log")
        crash_point("local.deploy.after_spawn_gateway")
        if not deadline.waits:
            return False

        def ready() -> bool:
            if self._gateway_status(row) is not None:
                return True
            if not pid_alive(pid):
                current = self.store.endpoint(row.name)
                if (current and pid_alive(current.gateway_pid)) or self._gateway_lock_held(row.name):
                    return False  # another gateway won the lock (it may still be starting); wait for it
                raise OperationFailed(
                    f"the gateway for {row.name} exited: {_tail(self.home / 'logs' / row.name / 'gateway.log')}"
                )
            return False

        wait_until(
            ready,
            timeout=deadline,
            what=f"endpoint {row.name} to start",
            how_to_check=f"cloudeploy endpoints show {row.name}",
            progress=progress,
            interval=0.1,
            max_interval=0.5,
        )
        return False

    def _gateway_lock_held(self, name: str) -> bool:
        """Whether a gateway process holds ``name``'s lock (it may not have recorded its pid yet)."""
        import fcntl

        try:
            fd = os.open(self.home / "endpoints" / f"{name}.lock", os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # also drops the probe's own lock
        return False

    def _apply(self, row: EndpointRow, *, deadline: Deadline) -> None:
        """Have the gateway serve ``row``'s revision; no reload if it already does, replicas up."""
        if row.desired_state == "running" and pid_alive(row.gateway_pid):
            status = self._gateway_status(row)
            versions = (status or {}).get("versions", {})
            if (
                status is not None
                and status.get("revision") == row.revision
                and set(versions) == {d.version for d in self.store.deployments(row.name)}
                and all(v.get("replicas") for v in versions.values())
            ):
                return
        self._reload(row, deadline=deadline)

    def _reload(self, row: EndpointRow, *, deadline: Deadline) -> dict | None:
        """Ask the gateway to apply the state file; None if the endpoint is stopped.

        While ``deadline.waits`` this answers once the new routing table is in
        place; otherwise the gateway only accepts the change (it applies it in
        the background) and this returns None at once.
        """
        if row.desired_state != "running":
            return None
        if not self._ensure_gateway(row, deadline=deadline, progress=no_progress) and not deadline.waits:
            return None  # the gateway just started: it applies the state file as it starts
        try:
            answer = httpx.post(
                f"{_url(row)}/_cloudeploy/reload",
                params=None if deadline.waits else {"wait": "0"},
                # Reaching the gateway is not bounded by the deadline (the request must
                # arrive to be in progress at all); waiting for its answer is.
                timeout=httpx.Timeout(deadline.remaining() if deadline.waits else 10.0, connect=10.0, write=10.0),
            )
        except httpx.TimeoutException:
            raise OperationTimeout(
                f"endpoint {row.name} is still applying the change; it may still be in progress",
                hint=f"cloudeploy endpoints show {row.name}",
            ) from None
        except httpx.TransportError as error:
            raise TransientError(f"endpoint {row.name} did not answer: {error}") from None
        if answer.status_code == 409:
            raise OperationFailed(answer.json()["error"]["message"])
        if answer.status_code == 202:
            return None
        if answer.status_code != 200:
            raise ProviderError(f"endpoint {row.name} failed to apply the change: {answer.text[:300]}")
        return answer.json()

    def _endpoint_row(self, name: str) -> EndpointRow:
        row = self.store.endpoint(name)
        if row is None:
            known = ", ".join(e.name for e in self.store.endpoints()) or "none"
            raise NotFoundError(f"endpoint {name!r} not found (endpoints: {known})")
        return row

    def _runtime_of(self, model: str, version: str) -> str:
        """What the version's replicas answer with (its package manifest's runtime)."""
        try:
            return read_manifest(self.get_model_version(model, version).uri).runtime
        except CloudeployError:
            return ""

    def get_endpoint(self, name: str) -> EndpointStatus:
        row = self._endpoint_row(name)
        status = self._gateway_status(row) if pid_alive(row.gateway_pid) else None
        running = status.get("versions", {}) if status else {}
        deployments = []
        for dep in self.store.deployments(name):
            live = running.get(dep.version, {})
            deployments.append(
                DeployedVersion(
                    version=dep.version,
                    traffic=row.traffic.get(dep.version, 0),
                    scaling=Scaling(dep.min_replicas, dep.max_replicas, dep.target, dep.metric),  # type: ignore[arg-type]
                    machine_type=dep.machine_type,
                    replicas=int(live.get("replicas", 0)),
                    state="serving" if live.get("replicas") else ("stopped" if status is None else "starting"),
                    runtime=self._runtime_of(row.model, dep.version),
                )
            )
        if row.desired_state == "stopped":
            state = native = "stopped"
        elif status is None:
            native = "down"
            # A gateway that is alive but not answering yet is still starting.
            state = "creating" if pid_alive(row.gateway_pid) else "failed"
        else:
            native = "running"
            if status.get("revision") != row.revision:
                state = "updating"
            else:
                state = "serving" if any(d.traffic for d in deployments) else "idle"
        return EndpointStatus(
            name=name,
            provider=self.name,
            model=row.model,
            state=state,
            url=_url(row),
            deployments=tuple(deployments),
            provider_id=str(row.gateway_pid or ""),
            native_state=native,
        )

    def list_endpoints(self) -> list[EndpointStatus]:
        return [self.get_endpoint(row.name) for row in self.store.endpoints()]

    def _deploy(
        self,
        endpoint: str,
        version: ModelVersion,
        *,
        split: TrafficSplit,
        traffic: int | None,
        scaling: Scaling | None,
        machine_type: str | None,
        current: EndpointStatus,
        deadline: Deadline,
        progress: ProgressCallback,
        options: LocalOptions,
    ) -> EndpointStatus:
        # options.strict needs nothing here: every replica is the cloudeploy model
        # server, which refuses requests that do not match the input schema.
        row = self._endpoint_row(endpoint)
        scaling = scaling or Scaling()
        label = version.version
        current_split = row.traffic
        deployed = {d.version for d in self.store.deployments(endpoint)}
        deployment = DeploymentRow(
            endpoint=endpoint,
            version=label,
            min_replicas=scaling.min_replicas,
            max_replicas=scaling.max_replicas,  # type: ignore[arg-type]
            target=scaling.target,
            metric=scaling.metric,
            machine_type=machine_type or "local",
            created_at="",
        )
        target = split.to_dict()
        if not deadline.waits:
            # Record the final state in one step; the gateway starts the replicas and
            # switches the routing table once they are ready (in the background).
            progress(f"deploying {label} to {endpoint} ({target.get(label, 0)}% of traffic), not waiting")
            if target != row.traffic or not self._recorded(deployment):
                row = self.store.update_serving(endpoint, traffic=target, upsert=deployment)
            self._reload(row, deadline=deadline)
            return self.get_endpoint(endpoint)
        # Phase 1: bring the version up with no traffic; on failure nothing else changed.
        staged = dict(current_split) if label in deployed else ({**current_split, label: 0} if current_split else {})
        progress(f"starting {label} on {endpoint} ({scaling.min_replicas} replica(s))")
        if staged != row.traffic or not self._recorded(deployment):
            row = self.store.update_serving(endpoint, traffic=staged, upsert=deployment, remember_previous=False)
            crash_point("local.deploy.after_stage")
        try:
            self._apply(row, deadline=deadline)
            crash_point("local.deploy.after_start_replicas")
        except OperationFailed:
            if label not in deployed:
                row = self.store.update_serving(
                    endpoint, traffic=dict(current_split), remove_version=label, remember_previous=False
                )
                self._reload(row, deadline=deadline)
            raise
        # Phase 2: give it its traffic.
        if target != row.traffic:
            progress(f"routing {target.get(label, 0)}% of {endpoint} to {label}")
            row = self.store.update_serving(endpoint, traffic=target)
            crash_point("local.deploy.after_route")
            self._apply(row, deadline=deadline)
            crash_point("local.deploy.after_switch")
        return self.get_endpoint(endpoint)

    def _recorded(self, deployment: DeploymentRow) -> bool:
        """Whether the state already holds ``deployment`` with the same settings."""
        settings = ("min_replicas", "max_replicas", "target", "metric", "machine_type")
        return any(
            all(getattr(row, k) == getattr(deployment, k) for k in settings)
            for row in self.store.deployments(deployment.endpoint)
            if row.version == deployment.version
        )

    def _set_traffic(
        self,
        endpoint: str,
        split: TrafficSplit,
        *,
        current: EndpointStatus,
        deadline: Deadline,
        progress: ProgressCallback,
    ) -> EndpointStatus:
        row = self._endpoint_row(endpoint)
        full = split.to_dict()
        if full == row.traffic:
            # Recorded already, perhaps by a run killed before the gateway applied it.
            self._apply(row, deadline=deadline)
            return self.get_endpoint(endpoint)
        progress(f"setting traffic on {endpoint}: " + ", ".join(f"{v}={p}%" for v, p in full.items()))
        new_row = self.store.update_serving(endpoint, traffic=full)
        crash_point("local.set_traffic.after_record")
        try:
            self._apply(new_row, deadline=deadline)
        except OperationFailed:
            self.store.update_serving(endpoint, traffic=row.traffic, remember_previous=False)
            raise
        crash_point("local.set_traffic.after_switch")
        return self.get_endpoint(endpoint)

    def previous_traffic(self, endpoint: str) -> TrafficSplit | None:
        row = self._endpoint_row(endpoint)
        if not row.previous_traffic:
            return None
        deployed = {d.version for d in self.store.deployments(endpoint)}
        previous = {v: p for v, p in row.previous_traffic.items() if v in deployed}
        if sum(previous.values()) != 100:
            return None  # a version it named was undeployed since: nothing safe to go back to
        return TrafficSplit(previous)

    def _undeploy(
        self,
        endpoint: str,
        version: str,
        *,
        split: TrafficSplit,
        current: EndpointStatus,
        deadline: Deadline,
        progress: ProgressCallback,
    ) -> EndpointStatus:
        progress(f"undeploying {version} from {endpoint}")
        new_row = self.store.update_serving(endpoint, traffic=split.to_dict(), remove_version=version)
        self._reload(new_row, deadline=deadline)
        return self.get_endpoint(endpoint)

    def _predict(self, endpoint: str, instances: list[Any], *, version: str | None) -> Prediction:
        row = self._endpoint_row(endpoint)
        path = f"/versions/{version}/predict" if version else "/predict"
        try:
            answer = httpx.post(f"{_url(row)}{path}", json={"instances": instances}, timeout=60.0)
        except httpx.TransportError as error:
            state = "stopped" if row.desired_state == "stopped" else "not answering"
            raise ProviderError(
                f"endpoint {endpoint} is {state} ({type(error).__name__})",
                hint=f"cloudeploy endpoints start {endpoint}",
            ) from None
        return _prediction(endpoint, answer)

    def _delete_endpoint(
        self, name: str, *, current: EndpointStatus | None, deadline: Deadline, progress: ProgressCallback
    ) -> None:
        row = self.store.endpoint(name)
        if row is None:
            return
        progress(f"stopping endpoint {name}")
        self.store.set_desired_state(name, "deleting")
        if row.gateway_pid:
            terminate(row.gateway_pid, timeout=deadline.remaining())
        self.store.delete_endpoint(name)
        capture_setting.remove(self.home, name)

    # -- local-only ---------------------------------------------------------------

    def stop_endpoint(self, name: str) -> EndpointStatus:
        row = self._endpoint_row(name)
        self.store.set_desired_state(name, "stopped")
        if row.gateway_pid:
            terminate(row.gateway_pid, timeout=60)
        return self.get_endpoint(name)

    def start_endpoint(self, name: str, *, wait: bool = True, timeout: float | None = None) -> EndpointStatus:
        """Start the endpoint from state. A version that cannot serve (e.g. its package
        fails its integrity check) is OperationFailed naming it, while the others
        already serve (taking its turns too)."""
        self._endpoint_row(name)
        self.store.set_desired_state(name, "running")
        row = self._endpoint_row(name)
        deadline = self._deadline(wait, timeout)
        self._ensure_gateway(row, deadline=deadline, progress=no_progress)
        gateway = self._gateway_status(row) if deadline.waits else None
        broken = (gateway or {}).get("errors") or {}
        if broken:
            version, reason = next(iter(sorted(broken.items())))
            others = [d.version for d in self.store.deployments(name) if d.version not in broken]
            raise OperationFailed(
                f"endpoint {name} started, but {version} cannot serve: {reason}",
                hint=(f"{', '.join(others)} serve meanwhile; " if others else "")
                + f"fix or undeploy it: cloudeploy undeploy {name} {version} {others[0]}=100"
                if others else f"redeploy a good package of {version}",
            )
        return self.get_endpoint(name)

    def version_metrics(
        self, endpoint: str, version: str, *, since: float, until: float | None = None
    ) -> VersionMetrics:
        row = self._endpoint_row(endpoint)
        params = {"version": normalize_version(version), "since": since}
        if until is not None:
            params["until"] = until
        try:
            data = httpx.get(f"{_url(row)}/_cloudeploy/window", params=params, timeout=10).json()
        except httpx.TransportError as error:
            raise ProviderError(f"endpoint {endpoint} did not answer: {error}") from None
        counts = data.get("prediction_counts")
        values = data.get("prediction_values")
        return VersionMetrics(
            version=data["version"],
            requests=data["requests"],
            errors=data["errors"],
            p99_ms=data["p99_ms"],
            window_start=data["since"],
            window_end=data["until"],
            input_errors=data.get("input_errors", 0),
            model_errors=data.get("model_errors", 0),
            timeouts=data.get("timeouts", 0),
            p50_ms=data.get("p50_ms"),
            non_finite=data.get("non_finite", 0),
            prediction_counts=dict(counts) if counts is not None else None,
            prediction_values=tuple(values) if values is not None else None,
        )

    def capture_dir(self, endpoint: str) -> Path:
        """Where the endpoint's replicas write request/response capture files."""
        return self.home / "capture" / endpoint

    # -- capabilities (see cloudeploy.providers.capabilities) -------------------

    capabilities = {
        "batch_backend": "cloudeploy.providers.capabilities:EngineBatch",
        "monitoring_hooks": "cloudeploy.providers.local.monitoring:LocalMonitoring",
        "shadow_source": "cloudeploy.providers.local.shadow:LocalShadow",
    }

    # -- state store --
    def _new_state_store(self) -> Any:
        """SQLite under the home (:mod:`.state_store`)."""
        return LocalStateStore(self.home)


def _url(row: EndpointRow) -> str:
    return f"http://{row.host}:{row.port}"


def _model_version(row: VersionRow) -> ModelVersion:
    frameworks = row.manifest.get("frameworks", {})
    return ModelVersion(
        model=row.model,
        version=row.label,
        digest=row.digest,
        uri=row.path,
        aliases=row.aliases,
        created_at=row.created_at,
        framework="scikit-learn" if "scikit-learn" in frameworks else row.manifest.get("format", ""),
        framework_version=frameworks.get("scikit-learn", ""),
        provider_id=f"{row.model}/{row.number}",
    )


def _prediction(endpoint: str, answer: httpx.Response) -> Prediction:
    try:
        data = answer.json()
    except ValueError:
        data = {}
    if answer.status_code >= 400:
        message = (data.get("error") or {}).get("message") if isinstance(data, dict) else None
        message = message or answer.text[:300]
        if answer.status_code == 404:
            raise NotFoundError(message)
        if answer.status_code in (429, 503):
            raise TransientError(f"endpoint {endpoint} is busy: {message}")
        if answer.status_code < 500:
            raise ValidationError(message)
        raise ProviderError(f"endpoint {endpoint} failed ({answer.status_code}): {message}")
    return Prediction(
        predictions=data.get("predictions", []),
        version=answer.headers.get("x-cloudeploy-version") or data.get("modelVersionId", ""),
        model=answer.headers.get("x-cloudeploy-model", ""),
        raw=data,
        request_id=answer.headers.get("x-request-id", ""),
    )


def _tail(path: Path, lines: int = 3) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"
