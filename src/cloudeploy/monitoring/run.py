"""``monitor``: one monitoring pass over an endpoint on any provider.

A pass resolves the serving version, reads its training baseline, scores the
captured requests of the last ``spec.window`` (skew: against the baseline;
drift: against the window before), logs every breach and POSTs it to the
spec's webhook, and publishes the scores to the provider's own service
(CloudWatch on SageMaker). The spec defaults to the one ``configure`` saved.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cloudeploy.errors import CloudeployError, ValidationError
from cloudeploy.monitoring.alerts import send_alerts
from cloudeploy.monitoring.attribution import attribution_drift, serving_attributions
from cloudeploy.monitoring.backend import backend_for
from cloudeploy.monitoring.capture import capture_columns, has_captures
from cloudeploy.monitoring.detection import compute_drift, compute_drift_from_capture, compute_skew
from cloudeploy.monitoring.novelty import outlier_share
from cloudeploy.monitoring.spec import MonitorSpec
from cloudeploy.monitoring.trend import history
from cloudeploy.providers import resolve_provider

if TYPE_CHECKING:
    from cloudeploy.monitoring.result import MonitoringResult
    from cloudeploy.providers.base import Provider

Kind = Literal["skew", "drift"]


@dataclass(frozen=True)
class MonitorRun:
    """One pass: the scores, and where breaches and metrics were sent."""

    endpoint: str
    version: str
    result: MonitoringResult
    alerts: dict[str, Any] = field(default_factory=dict)
    published: dict[str, Any] = field(default_factory=dict)

    @property
    def breached(self) -> list[str]:
        """Breached features, most severe first (the outlier share is :attr:`outliers_breached`)."""
        return [f.name for f in self.result.breached]

    @property
    def outliers_breached(self) -> bool:
        return self.result.outliers_breached

    @property
    def attributions_breached(self) -> list[str]:
        return self.result.attributions_breached

    def to_dict(self) -> dict[str, Any]:
        return {**self.result.to_dict(), "endpoint": self.endpoint, "version": self.version,
                "alerts": self.alerts, "published": self.published}


def configure(
    endpoint: str, spec: MonitorSpec, *, provider: str | Provider | None = None, profile: Any = None
) -> dict[str, Any]:
    """Set monitoring up for ``endpoint`` in its provider and save ``spec`` for later passes."""
    backend = backend_for(resolve_provider(provider, profile))
    backend.provider.get_endpoint(endpoint)  # NotFoundError before anything is configured
    return {"endpoint": endpoint, "provider": backend.provider.name, **backend.configure(endpoint, spec)}


def status(endpoint: str, *, provider: str | Provider | None = None, profile: Any = None) -> dict[str, Any]:
    """What monitoring is configured for ``endpoint``."""
    backend = backend_for(resolve_provider(provider, profile))
    backend.provider.get_endpoint(endpoint)
    return {"endpoint": endpoint, "provider": backend.provider.name, **backend.status(endpoint)}


def monitor(
    endpoint: str,
    spec: MonitorSpec | None = None,
    *,
    kind: Kind = "skew",
    version: str | None = None,
    provider: str | Provider | None = None,
    profile: Any = None,
    capture: str | Path | None = None,
    now: float | None = None,
    alert: bool = True,
    publish: bool = True,
) -> MonitorRun:
    """Score ``endpoint``'s last ``spec.window`` of traffic and raise alerts for breaches.

    ``version`` defaults to the version with the most traffic; ``capture`` is a
    directory of capture files to read instead of the provider's (e.g. a Vertex
    AI export). ``alert=False`` skips the log and webhook, ``publish=False`` the
    provider's metrics. Raises ValidationError for a version without a baseline.
    """
    if kind not in ("skew", "drift"):
        raise ValidationError(f"kind must be 'skew' or 'drift', got {kind!r}")
    backend = backend_for(resolve_provider(provider, profile))
    spec = spec or backend.saved_spec(endpoint) or MonitorSpec()
    version = backend.serving_version(endpoint, version)
    baseline = backend.baseline(endpoint, version)
    end = time.time() if now is None else float(now)
    reach = float(spec.window) * (2 if kind == "drift" else 1)
    source = Path(capture) if capture is not None else backend.capture(
        endpoint, version, since=end - reach, until=end)
    labels = {"endpoint": endpoint, "version": version, "provider": backend.provider.name}
    result = score(source, baseline, spec, kind=kind, version=version, end=end, labels=labels)
    since = end - float(spec.window)
    result = replace(result, outliers=window_outliers(backend, endpoint, version, source, spec, since=since, until=end),
                     attributions=window_attributions(backend, endpoint, version, source, spec, since=since,
                                                      until=end))
    run = MonitorRun(endpoint, version, result)
    if alert:
        delivery = send_alerts(result, webhook_url=spec.webhook_url)
        run = MonitorRun(endpoint, version, result, alerts=delivery.to_dict())
    if publish:
        run = MonitorRun(endpoint, version, result, run.alerts, backend.publish(endpoint, result, spec))
    return run


def window_outliers(backend: Any, endpoint: str, version: str, source: Path, spec: MonitorSpec, *,
                    since: float, until: float) -> dict[str, Any]:
    """The outlier share of ``version``'s captured rows in ``[since, until)``, or a note saying why not."""
    try:
        detector = backend.novelty(endpoint, version)
    except CloudeployError as error:
        return {"note": f"novelty detector unavailable: {error}"}
    if detector is None:
        return {"note": "the package has no novelty detector (build it with baseline=training data)"}
    if not has_captures(source):
        return outlier_share(detector, [], spec.outlier_threshold).to_dict()
    chunks = capture_columns(source, detector.names, since=since, until=until, version=version)
    return outlier_share(detector, chunks, spec.outlier_threshold).to_dict()


def window_attributions(backend: Any, endpoint: str, version: str, source: Path, spec: MonitorSpec, *,
                        since: float, until: float) -> dict[str, Any]:
    """Attribution drift of ``version``'s captured rows in ``[since, until)``, or a note saying why not."""
    try:
        found = backend.attribution(endpoint, version)
        if found is None:
            return {"note": "the package has no training attributions (build it from the model and "
                            "baseline=training data)"}
        model, record = found
        names = record["explainer"]["names"]
        columns: dict[str, list[Any]] = {n: [] for n in names}
        if has_captures(source):
            for chunk in capture_columns(source, names, since=since, until=until, version=version):
                for name in names:
                    columns[name].extend(list(chunk[name]))
                if len(columns[names[0]]) >= 5000:
                    break
        if not columns[names[0]]:
            return {"note": "no captured rows in the window", "rows": 0, "breached": []}
        serving = serving_attributions(model, record, columns)
    except CloudeployError as error:
        return {"note": f"attribution drift unavailable: {error}"}
    return attribution_drift(record, serving, share_threshold=spec.attribution_threshold,
                             rank_threshold=spec.attribution_rank_threshold)


def score(
    source: Path,
    baseline: dict[str, Any],
    spec: MonitorSpec,
    *,
    kind: Kind,
    version: str | None,
    end: float,
    labels: dict[str, Any],
) -> MonitoringResult:
    """Skew or drift of the capture files in ``source`` over the window(s) ending at ``end``."""
    files = has_captures(source)
    if kind == "drift":
        if not files:
            return compute_drift([], [], baseline, spec, labels=labels)
        return compute_drift_from_capture(source, baseline, spec, now=end, version=version, labels=labels)
    since = end - float(spec.window)
    window = {**labels, "since": since, "until": end}
    if not files:
        return compute_skew(baseline, [], spec, labels=window)
    return compute_skew(baseline, source, spec, since=since, until=end, version=version, labels=window)


def report_history(
    endpoint: str,
    version: str,
    spec: MonitorSpec,
    *,
    windows: int,
    provider: str | Provider | None = None,
    profile: Any = None,
    capture: str | Path | None = None,
    now: float | None = None,
) -> list[dict[str, Any]]:
    """Skew and outlier share of ``version`` over the last ``windows`` windows, oldest first
    (see :func:`cloudeploy.monitoring.trend.history`), for the report's plots over time."""
    backend = backend_for(resolve_provider(provider, profile))
    end = time.time() if now is None else float(now)
    since = end - windows * float(spec.window)
    source = Path(capture) if capture is not None else backend.capture(endpoint, version, since=since, until=end)
    try:
        detector = backend.novelty(endpoint, version)
    except CloudeployError:
        detector = None
    return history(source, backend.baseline(endpoint, version), spec, end=end, windows=windows, version=version,
                   detector=detector)
