"""The Python API: deploy, set traffic, promote, roll back, look up.

Every function takes ``provider=`` (a name) and ``profile=`` (a profile name, a
:class:`~cloudeploy.config.Profile`, or an already built provider instance) and
otherwise uses the configured default (the local provider when there is no
``cloudeploy.toml``).

    >>> dep = cloudeploy.deploy(pipeline, name="house-price")          # doctest: +SKIP
    >>> dep.predict([[8.3, 41.0, 6.9, 1.0, 322.0, 2.5, 37.9, -122.2]])  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudeploy.crashpoints import crash_point
from cloudeploy.errors import (
    CloudeployError,
    ConflictError,
    NotFoundError,
    SchemaMismatchError,
    ValidationError,
)
from cloudeploy.instances import json_ready
from cloudeploy.packaging import build_package
from cloudeploy.packaging.manifest import MANIFEST_NAME, read_manifest
from cloudeploy.providers import get_provider
from cloudeploy.providers.base import Prediction, ProgressCallback, Provider, no_progress
from cloudeploy.providers.options import (
    CREATE_ENDPOINT,
    DEPLOY,
    DEPLOY_FLOW,
    UPLOAD,
    ProviderOptions,
)
from cloudeploy.rollout.endpoint import (
    WAIT_S,
    begin_rollback,
    endpoint_lock,
    forget_endpoint,
    forget_newest,
    history,
    history_started,
    pending_rollback,
    record_change,
    rollback_target,
    served_split,
)
from cloudeploy.rollout.executor import rollback_stopped, run_promotion
from cloudeploy.rollout.native import run_native_promotion
from cloudeploy.types import EndpointStatus, ModelVersion, Scaling, TrafficSplit, normalize_version

log = logging.getLogger("cloudeploy")



def resolve_provider(provider: str | Provider | None = None, profile: Any = None) -> Provider:
    """A provider instance from a name, a profile, or an instance given as either."""
    if isinstance(provider, Provider):
        return provider
    if isinstance(profile, Provider):
        return profile
    return get_provider(profile, provider=provider)


@dataclass
class Deployment:
    """A handle on an endpoint (and, after ``deploy``, the version just deployed)."""

    name: str
    provider: Provider
    version: str | None = None

    @property
    def url(self) -> str:
        return self.status().url

    def status(self) -> EndpointStatus:
        return self.provider.get_endpoint(self.name)

    def predict(self, instances: Sequence[Any], *, version: str | None = None) -> list[Any]:
        """Predictions for ``instances`` through the endpoint's split (or one ``version``)."""
        return self.predict_detailed(instances, version=version).predictions

    def predict_detailed(self, instances: Sequence[Any], *, version: str | None = None) -> Prediction:
        """Like ``predict`` but also says which version answered."""
        return self.provider.predict(self.name, _as_instances(instances), version=version)

    def set_traffic(self, split: Mapping[str, int], **kwargs: Any) -> EndpointStatus:
        """Like :func:`set_traffic`: under the endpoint's lock, remembered for :func:`rollback`."""
        return set_traffic(self.name, split, provider=self.provider, **kwargs)

    def undeploy(self, version: str, *, traffic: Mapping[str, int] | None = None, **kwargs: Any) -> EndpointStatus:
        """Stop serving ``version`` (see :func:`undeploy`: refused while it has traffic, unless ``traffic`` moves it)."""
        return undeploy(self.name, version, traffic=traffic, provider=self.provider, **kwargs)

    def __repr__(self) -> str:
        return f"Deployment(name={self.name!r}, provider={self.provider.name!r}, version={self.version!r})"


def package_model(
    model: Any,
    name: str,
    workdir: Path,
    *,
    schema: Any = None,
    baseline: Any = None,
    trust: bool = False,
) -> Path:
    """A package directory for ``model``: used as-is if it already is one, else built in ``workdir``."""
    if isinstance(model, (str, Path)) and (Path(model) / MANIFEST_NAME).is_file() and baseline is None and schema is None:
        return Path(model)
    return build_package(
        model, workdir / "package", name=name, schema=schema, baseline=baseline, trust=trust
    ).path


def deploy(
    model: Any,
    name: str,
    *,
    provider: str | Provider | None = None,
    profile: Any = None,
    traffic: int | None = None,
    scaling: Scaling | None = None,
    machine_type: str | None = None,
    model_name: str | None = None,
    aliases: Sequence[str] = (),
    schema: Any = None,
    baseline: Any = None,
    trust: bool = False,
    allow_schema_change: bool = False,
    strict: bool = False,
    wait: bool = True,
    timeout: float | None = None,
    progress: ProgressCallback = no_progress,
    options: Mapping[str, Any] | None = None,
) -> Deployment:
    """Package ``model``, register it as a version, and serve it on endpoint ``name``.

    ``model`` is a fitted estimator/Pipeline, a model file, or a package directory.
    The model is registered under ``model_name`` (default: ``name``). The first
    version of an endpoint takes 100% of traffic; a later one takes ``traffic``
    percent (default 0) and the others shrink proportionally. Re-running with
    the same model converges: the same digest is the same version, and a
    version already deployed is not deployed twice.

    A version whose input schema differs from the versions already on the
    endpoint is refused (SchemaMismatchError) before it is registered: clients
    sending the serving versions' inputs would get errors from it. Pass
    ``allow_schema_change=True`` to deploy it anyway (logged as a warning).

    ``strict=True``: the endpoint refuses requests that do not match the
    version's input schema (a 4xx before the model sees them), on every
    provider: the local provider always does; on Vertex AI and SageMaker the
    version is served by the cloudeploy serving image even where a prebuilt one
    exists (ConfigError when none is configured). ``options`` are the provider's
    own (docs/options.md); each goes to the steps that read it, and one that is
    unknown, of the wrong kind or read by no deploy step is a ValidationError
    before anything is packaged or changed.
    """
    backend = resolve_provider(provider, profile)
    model_name = model_name or name
    step_options = _options_by_step(backend, options, trust=trust, strict=strict)
    with tempfile.TemporaryDirectory(prefix="cloudeploy-") as workdir:
        progress("packaging model")
        package_dir = package_model(model, model_name, Path(workdir), schema=schema, baseline=baseline, trust=trust)
        _check_schema(backend, name, package_dir, allow_change=allow_schema_change)
        progress(f"uploading {model_name}")
        version = backend.upload_model(
            package_dir, model_name, aliases=aliases, progress=progress,
            options=step_options[UPLOAD] or None, timeout=timeout, wait=wait,
        )
    # Under the endpoint's lock: the split the new version changes is read and written by one command at a time.
    with endpoint_lock(backend, name, f"deploy {version.version}", progress=progress):
        _remember_split(backend, name, f"deploy {version.version}")
        backend.create_endpoint(
            name, model=model_name, wait=wait, timeout=timeout, progress=progress,
            options=step_options[CREATE_ENDPOINT] or None,
        )
        backend.deploy(
            name,
            version,
            traffic=traffic,
            scaling=scaling,
            machine_type=machine_type,
            wait=wait,
            timeout=timeout,
            progress=progress,
            options=step_options[DEPLOY] or None,
        )
    return Deployment(name=name, provider=backend, version=version.version)


def _options_by_step(
    backend: Provider, options: Mapping[str, Any] | ProviderOptions | None, *, trust: bool, strict: bool
) -> dict[str, ProviderOptions]:
    """``options`` (with ``trust`` and ``strict`` where the provider reads them) as the
    typed options of each deploy step; ValidationError naming a bad one."""
    given = dict(options.given() if isinstance(options, ProviderOptions) else options or {})
    specs = backend.options_class.specs()
    if trust and "trust" in specs:
        given.setdefault("trust", True)
    if strict:
        if "strict" not in specs:
            raise ValidationError(
                f"strict: the {backend.name} provider cannot refuse requests that do not match the input schema",
                hint="deploy without strict",
            )
        given["strict"] = True
    return backend.options_class.split(given, steps=DEPLOY_FLOW)


def _check_schema(backend: Provider, endpoint: str, package_dir: Path, *, allow_change: bool) -> None:
    """Refuse (or, when ``allow_change``, warn about) a package whose inputs differ from the endpoint's versions.

    Runs before the upload, so a refused version is never registered. A package
    already deployed on the endpoint (same digest: a re-run) is not judged again.
    """
    try:
        status = backend.get_endpoint(endpoint)
    except NotFoundError:
        return
    manifest = read_manifest(package_dir)
    new_schema = manifest.schema.to_dict()
    versions = []
    for deployed in status.deployments:
        with contextlib.suppress(NotFoundError):
            versions.append(backend.get_model_version(status.model, deployed.version))
    if any(other.digest == manifest.digest for other in versions):
        return
    for other in versions:
        deployed = other
        old_schema = _schema_of(backend, endpoint, other)
        if old_schema is None or _features(old_schema) == _features(new_schema):
            continue
        message = (
            f"the new version takes inputs {_describe(new_schema)} but {deployed.version} on {endpoint} takes "
            f"{_describe(old_schema)}: clients sending {deployed.version}'s inputs would get errors"
        )
        if not allow_change:
            raise SchemaMismatchError(
                message, hint="deploy it to a new endpoint, or pass --allow-schema-change to deploy it anyway"
            )
        log.warning("%s (deployed anyway: schema change allowed)", message)
        return


def _features(schema: dict) -> list[tuple[str, str]]:
    """What clients must send: feature names and types, in order (categories may grow)."""
    return [(f["name"], f.get("type", "")) for f in schema.get("features", [])]


def _schema_of(backend: Provider, endpoint: str, version: ModelVersion) -> dict | None:
    """The version's input schema as a dict, when the provider can tell: from its
    package on this machine, else through the provider's manifest reading (the
    package stored in the cloud)."""
    try:
        return read_manifest(version.uri).schema.to_dict()
    except Exception:  # remote URIs: the provider does not keep a local copy
        pass
    try:
        return backend.monitoring_hooks().manifest(endpoint, version.version).schema.to_dict()
    except CloudeployError:  # a provider without manifest reading, or a version that is no package
        return None


def _describe(schema: dict) -> str:
    names = [f["name"] for f in schema.get("features", [])]
    shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
    return f"({len(names)} features: {shown})"


def _as_instances(instances: Any) -> list[Any]:
    """Accept lists, NumPy arrays and DataFrames; send JSON-ready rows (missing values as null)."""
    if hasattr(instances, "to_dict") and hasattr(instances, "columns"):
        return json_ready(instances.to_dict(orient="records"))
    if hasattr(instances, "tolist"):
        return json_ready(instances.tolist())
    if isinstance(instances, (list, tuple)):
        return json_ready(instances)
    raise ValidationError(f"instances must be a list, an array or a DataFrame, got {type(instances).__name__}")


def endpoint(name: str, *, provider: str | Provider | None = None, profile: Any = None) -> Deployment:
    """A handle on an existing endpoint (NotFoundError if it does not exist)."""
    backend = resolve_provider(provider, profile)
    backend.get_endpoint(name)
    return Deployment(name=name, provider=backend)


def models(
    name: str | None = None, *, provider: str | Provider | None = None, profile: Any = None
) -> list[str] | list[ModelVersion]:
    """Model names, or the versions of model ``name``."""
    backend = resolve_provider(provider, profile)
    return backend.list_versions(name) if name else backend.list_models()


def set_traffic(
    endpoint: str,
    split: Mapping[str, int] | TrafficSplit,
    *,
    provider: str | Provider | None = None,
    profile: Any = None,
    wait: bool = True,
    timeout: float | None = None,
    progress: ProgressCallback = no_progress,
    break_lock: bool = False,
) -> EndpointStatus:
    """Apply ``split`` ({version: percent}, summing to 100) to ``endpoint``.

    Under the endpoint's lock (docs/state.md): refused (ConflictError naming
    the promote) while a promote runs on the endpoint; waits for another short
    command. The split it replaces is remembered for :func:`rollback`.
    ``break_lock`` first breaks a lock left by a process that is gone.
    """
    backend = resolve_provider(provider, profile)
    if not isinstance(split, TrafficSplit):
        split = TrafficSplit(split)
    with endpoint_lock(backend, endpoint, "set traffic", break_lock=break_lock, progress=progress):
        _remember_split(backend, endpoint, "traffic")
        return backend.set_traffic(endpoint, split, wait=wait, timeout=timeout, progress=progress)


def undeploy(
    endpoint: str,
    version: str,
    *,
    traffic: Mapping[str, int] | TrafficSplit | None = None,
    provider: str | Provider | None = None,
    profile: Any = None,
    wait: bool = True,
    timeout: float | None = None,
    progress: ProgressCallback = no_progress,
) -> EndpointStatus:
    """Stop serving ``version`` on ``endpoint`` and release its replicas.

    Refused (ConflictError) while the version receives traffic, unless ``traffic``
    moves it away in the same call (a split that gives it 0%, applied first).
    Undeploying a version that is not deployed is a no-op; the endpoint's last
    version cannot be undeployed (delete the endpoint instead). Runs under the
    endpoint's lock, like every traffic change (docs/state.md).
    """
    backend = resolve_provider(provider, profile)
    label = normalize_version(version)
    with endpoint_lock(backend, endpoint, f"undeploy {label}", progress=progress):
        return _undeploy(backend, endpoint, label, traffic, wait=wait, timeout=timeout, progress=progress)


def _undeploy(backend: Provider, endpoint: str, label: str, traffic: Mapping[str, int] | TrafficSplit | None, *,
              wait: bool, timeout: float | None, progress: ProgressCallback) -> EndpointStatus:
    status = backend.get_endpoint(endpoint)
    if status.deployment(label) is None:
        return status
    if traffic is not None:
        split = traffic if isinstance(traffic, TrafficSplit) else TrafficSplit(traffic)
        if split.get(label, 0):
            raise ValidationError(f"the new split gives {label} {split.get(label)}%: it must move {label}'s traffic away")
        record_change(backend, endpoint, status.traffic, by=f"undeploy {label}")
        backend.set_traffic(endpoint, split, wait=wait, timeout=timeout, progress=progress)
    else:
        share = status.traffic.get(label, 0)
        others = [d.version for d in status.deployments if d.version != label]
        if share and not others:
            raise ConflictError(
                f"{label} is the last version on {endpoint}",
                hint=f"delete the endpoint instead: cloudeploy endpoints delete {endpoint} --force",
            )
        if share:
            raise ConflictError(
                f"{label} receives {share}% of {endpoint}'s traffic",
                hint=f"move it away in the same call: cloudeploy undeploy {endpoint} {label} {others[0]}=100",
            )
    return backend.undeploy(endpoint, label, wait=wait, timeout=timeout, progress=progress)


def delete_model_version(
    model: str,
    version: str,
    *,
    provider: str | Provider | None = None,
    profile: Any = None,
    wait: bool = True,
    timeout: float | None = None,
    progress: ProgressCallback = no_progress,
) -> None:
    """Delete ``model``'s ``version`` (or alias) from the registry; refused while it is deployed."""
    backend = resolve_provider(provider, profile)
    backend.delete_model_version(model, version, wait=wait, timeout=timeout, progress=progress)


def promote(
    endpoint: str,
    to: str | None = None,
    *,
    plan: Any = None,
    resume: bool = False,
    native: bool = False,
    provider: str | Provider | None = None,
    profile: Any = None,
    progress: ProgressCallback = no_progress,
    on_event: Any = None,
    timeout: float | None = None,
    break_lock: bool = False,
) -> Any:
    """Move all of ``endpoint``'s traffic to version ``to``.

    Without a plan this is immediate and returns the endpoint's status. With a
    :class:`~cloudeploy.rollout.plan.RolloutPlan` (or ``resume=True``, which
    continues a stopped rollout from its recorded step) traffic moves step by
    step behind the plan's gates and a
    :class:`~cloudeploy.rollout.result.PromotionResult` is returned: ``outcome``
    is ``promoted`` or ``rolled_back`` (traffic back at the starting split), with
    the decision log. ``native=True`` hands the plan to SageMaker's own
    blue/green deployment instead (SageMaker provider only). ``on_event``
    receives :class:`~cloudeploy.rollout.executor.RolloutEvent` objects for a
    live view.

    Every form holds the endpoint's lock while it changes traffic (a stepwise
    promote: for its whole run), so a second promote or a traffic change from
    anywhere is refused naming this one; ``break_lock`` first breaks a lock left
    by a process that is gone (docs/state.md).
    """
    backend = resolve_provider(provider, profile)
    if native:
        with endpoint_lock(backend, endpoint, f"promote {to} (native)", break_lock=break_lock, progress=progress):
            _remember_split(backend, endpoint, f"promote {to}")
            return run_native_promotion(backend, endpoint, to, plan, progress=progress, timeout=timeout)
    if plan is not None or resume:
        extra = {"on_event": on_event} if on_event is not None else {}
        return run_promotion(backend, endpoint, to, plan, resume=resume, progress=progress,
                             timeout=timeout, break_lock=break_lock, **extra)
    if to is None:
        raise ValidationError("say which version to promote (to=...)")
    label = normalize_version(to)
    with endpoint_lock(backend, endpoint, f"promote {label} (at once)", wait=WAIT_S, break_lock=break_lock,
                       progress=progress):
        _remember_split(backend, endpoint, f"promote {label}")
        return backend.set_traffic(endpoint, TrafficSplit({label: 100}), timeout=timeout, progress=progress)


def rollback(
    endpoint: str,
    *,
    provider: str | Provider | None = None,
    profile: Any = None,
    progress: ProgressCallback = no_progress,
    timeout: float | None = None,
    break_lock: bool = False,
) -> EndpointStatus:
    """Return ``endpoint`` to the split it had before the last traffic change.

    If a rollout on ``endpoint`` was stopped (killed, Ctrl-C) or ended promoted
    and still serves the promoted split, this goes back to the split that
    rollout started from instead, and records it in the rollout's log.
    Otherwise it walks back the endpoint's split history (kept in the
    provider's state store): each rollback goes one change further back, and
    never forward again. A promote running right now is not interrupted:
    ConflictError naming it (``break_lock`` breaks a lock whose holder is gone).
    """
    backend = resolve_provider(provider, profile)
    with endpoint_lock(backend, endpoint, "rollback", break_lock=break_lock, progress=progress):
        if rollback_stopped(backend, endpoint, progress=progress, timeout=timeout) is not None:
            return backend.get_endpoint(endpoint)
        status = backend.get_endpoint(endpoint)
        deployed = {d.version for d in status.deployments}
        # A rollback killed after its traffic change goes nowhere further: it finishes.
        target = pending_rollback(backend, endpoint, deployed) or rollback_target(
            backend, endpoint, status.traffic, deployed
        )
        if target is not None:
            split, consumed = target
            begin_rollback(backend, endpoint, split, consumed)
            progress(f"rolling back to {', '.join(f'{v}={p}%' for v, p in split.items())}")
            if served_split(status.traffic) != split:
                status = backend.set_traffic(endpoint, TrafficSplit(split), timeout=timeout, progress=progress)
            crash_point("rollback.after_traffic")
            forget_newest(backend, endpoint, consumed)
            return status
        if history(backend, endpoint):
            raise ConflictError(f"endpoint {endpoint!r} has no earlier traffic split to go back to",
                                hint="the remembered splits name versions no longer deployed, or none differs")
        previous = None if history_started(backend, endpoint) else backend.previous_traffic(endpoint)
        if previous is None:
            raise ConflictError(f"endpoint {endpoint!r} has no earlier traffic split to go back to")
        return backend.set_traffic(endpoint, previous, timeout=timeout, progress=progress)


def delete_endpoint(
    endpoint: str,
    *,
    force: bool = False,
    provider: str | Provider | None = None,
    profile: Any = None,
    progress: ProgressCallback = no_progress,
    **kwargs: Any,
) -> None:
    """Delete ``endpoint`` under its lock (refused while a promote runs) and forget its
    rollout state and split history."""
    backend = resolve_provider(provider, profile)
    with endpoint_lock(backend, endpoint, "delete the endpoint", progress=progress):
        backend.delete_endpoint(endpoint, force=force, progress=progress, **kwargs)
        forget_endpoint(backend, endpoint)


def _remember_split(backend: Provider, endpoint: str, by: str) -> None:
    """Remember the endpoint's current split before a change (nothing for an endpoint not made yet)."""
    try:
        current = backend.get_endpoint(endpoint).traffic
    except NotFoundError:
        return
    record_change(backend, endpoint, current, by=by)
