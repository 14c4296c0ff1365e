"""The provider contract.

A provider is a model registry plus endpoints that serve registered versions
with a traffic split. The docstrings below *are* the contract; the conformance
suite in ``cloudeploy.testing.conformance`` checks it against every provider.

Rules every provider follows:

- **Idempotent and convergent.** Every mutating call may be re-run after a crash
  (the process killed at any point) and converges to the state the call asks
  for without creating duplicates: uploads are keyed by package digest,
  endpoints by name, deployments by (endpoint, version). A re-run that finds the
  state already reached makes no changing call.
- **Blocking by default.** Mutating calls take ``wait=True`` and ``timeout``
  (seconds; ``None`` means the provider's default, ``0`` means return as soon as
  the request is accepted). When the timeout passes, :class:`OperationTimeout`
  is raised saying the operation may still be in progress and how to check.
- **Progress** is reported through ``progress(message)`` when given.
- **Nothing lost.** A failed deploy or traffic change leaves the previous split
  serving. Old resources are deleted only once the new ones serve.
- **Errors** are cloudeploy errors (``cloudeploy.errors``), never SDK exceptions.
- **Provider-only settings** come in ``options``; unknown options are refused.
- **Versions** are labelled ``v1, v2, ...`` per model, in upload order.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudeploy.errors import CloudeployError, OperationTimeout
from cloudeploy.types import EndpointStatus, ModelVersion, Scaling, TrafficSplit

if TYPE_CHECKING:
    from cloudeploy.config import Profile
    from cloudeploy.providers.capabilities import (
        BatchBackend,
        MonitoringHooks,
        NativeRollout,
        ShadowSource,
    )

ProgressCallback = Callable[[str], None]


#: Attempts per cloud API call by default (the first and 4 retries), and the most a profile may set.
DEFAULT_MAX_ATTEMPTS = 5
MAX_ATTEMPTS_LIMIT = 20


def max_attempts_setting(profile: str, settings: Mapping[str, Any]) -> int:
    """A cloud profile's ``max_attempts`` (default 5); ConfigError unless a whole number 1..20."""
    from cloudeploy.errors import ConfigError

    value = settings.get("max_attempts", DEFAULT_MAX_ATTEMPTS)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ATTEMPTS_LIMIT:
        raise ConfigError(
            f"profile {profile!r}: max_attempts must be a whole number 1..{MAX_ATTEMPTS_LIMIT} "
            f"(attempts per API call, 1: no retry), got {value!r}"
        )
    return value


def no_progress(message: str) -> None:
    """The default progress callback: say nothing."""


@dataclass(frozen=True)
class Prediction:
    """Predictions for a list of instances and the version that served them.

    ``request_id`` is the id the serving side answered with (``X-Request-Id`` on
    the local provider; the service's request id on the clouds), the key that
    ``monitor evaluate`` joins ground truth on; empty when the provider has none.
    """

    predictions: list[Any]
    version: str
    model: str = ""
    raw: dict[str, Any] = field(default_factory=dict)
    request_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "predictions": self.predictions,
            "version": self.version,
            "model": self.model,
            "request_id": self.request_id,
        }


#: The most prediction values a VersionMetrics carries (a bounded sample for regressors).
MAX_PREDICTION_VALUES = 10_000


@dataclass(frozen=True)
class VersionMetrics:
    """Serving metrics of one version over a time window, for promotion gates.

    Error classes (the same on every provider):

    - ``input_errors``: 4xx answers, the request failed the server's own checks
      (payload, schema, size) before the model saw it;
    - ``model_errors``: 5xx-class answers, anything the model raised on valid
      input, non-finite or miscounted output, a crashed replica or container,
      500s from the serving process;
    - ``timeouts``: requests that timed out (gateway 504, service timeout).

    ``errors`` is their sum (kept for callers that read one number). A field a
    provider cannot fill stays ``None``/0, and the gate that needs it reports
    "cannot judge" where docs/rollout.md ("what the gates see") says so.
    ``prediction_counts`` (classifiers: label as str -> answers) and
    ``prediction_values`` (regressors: a bounded sample, at most
    :data:`MAX_PREDICTION_VALUES` values) describe the version's live outputs in
    the window, for the prediction-shift gate. ``non_finite`` counts answers whose
    predictions held NaN/inf; they are also in ``model_errors``.
    """

    version: str
    requests: int
    errors: int
    p99_ms: float | None
    window_start: float
    window_end: float
    input_errors: int = 0
    model_errors: int = 0
    timeouts: int = 0
    p50_ms: float | None = None
    non_finite: int = 0
    prediction_counts: Mapping[str, int] | None = None
    prediction_values: tuple[float, ...] | None = None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def input_error_rate(self) -> float:
        return self.input_errors / self.requests if self.requests else 0.0

    @property
    def model_error_rate(self) -> float:
        return self.model_errors / self.requests if self.requests else 0.0

    @property
    def timeout_rate(self) -> float:
        return self.timeouts / self.requests if self.requests else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "input_errors": self.input_errors,
            "input_error_rate": self.input_error_rate,
            "model_errors": self.model_errors,
            "model_error_rate": self.model_error_rate,
            "timeouts": self.timeouts,
            "timeout_rate": self.timeout_rate,
            "non_finite": self.non_finite,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "prediction_counts": dict(self.prediction_counts) if self.prediction_counts is not None else None,
            "prediction_values": list(self.prediction_values) if self.prediction_values is not None else None,
            "window_start": self.window_start,
            "window_end": self.window_end,
        }


class Provider(ABC):
    """One backend: local, Vertex AI, SageMaker, or a third party's.

    Constructed from a :class:`~cloudeploy.config.Profile`; heavy SDK imports
    happen in the constructor or later, never at module import of ``base``.
    """

    #: The registry name (``local``, ``vertex``, ``sagemaker``).
    name: str = ""
    #: Option keys this provider accepts in ``options`` mappings.
    known_options: frozenset[str] = frozenset()

    def __init__(self, profile: Profile) -> None:
        self.profile = profile

    # -- registry -------------------------------------------------------------

    @abstractmethod
    def upload_model(
        self,
        package_dir: Path,
        model: str,
        *,
        aliases: Sequence[str] = (),
        wait: bool = True,
        timeout: float | None = None,
        progress: ProgressCallback = no_progress,
        options: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Register the package at ``package_dir`` as a new version of ``model``.

        Idempotent by the package digest: if a version of ``model`` already holds
        the same digest, that version is returned (with ``aliases`` added) and no
        new version is created. The model is created on first upload. Aliases are
        unique within a model: giving an alias to this version takes it from any
        other.
        """

    @abstractmethod
    def get_model_version(self, model: str, version: str = "latest") -> ModelVersion:
        """Resolve ``version``: ``v3``/``3``, an alias, or ``latest``.

        Raises NotFoundError naming the model and what exists.
        """

    @abstractmethod
    def list_models(self) -> list[str]:
        """Names of registered models, sorted."""

    @abstractmethod
    def list_versions(self, model: str) -> list[ModelVersion]:
        """Versions of ``model`` in upload order. NotFoundError if unknown."""

    @abstractmethod
    def set_aliases(self, model: str, version: str, aliases: Sequence[str]) -> ModelVersion:
        """Give ``aliases`` to ``version`` (moving them from other versions)."""

    # -- endpoints ------------------------------------------------------------

    @abstractmethod
    def create_endpoint(
        self,
        name: str,
        *,
        model: str,
        wait: bool = True,
        timeout: float | None = None,
        progress: ProgressCallback = no_progress,
        options: Mapping[str, Any] | None = None,
    ) -> EndpointStatus:
        """Create the endpoint ``name`` serving versions of ``model``, or return it
        if it exists (adopting one created outside cloudeploy, e.g. by Terraform).
        """

    @abstractmethod
    def get_endpoint(self, name: str) -> EndpointStatus:
        """The endpoint as the provider reports it now. NotFoundError if unknown."""

    @abstractmethod
    def list_endpoints(self) -> list[EndpointStatus]:
        """Every endpoint managed by cloudeploy, sorted by name."""

    @abstractmethod
    def deploy(
        self,
        endpoint: str,
        version: ModelVersion,
        *,
        traffic: int | None = None,
        scaling: Scaling | None = None,
        machine_type: str | None = None,
        wait: bool = True,
        timeout: float | None = None,
        progress: ProgressCallback = no_progress,
        options: Mapping[str, Any] | None = None,
    ) -> EndpointStatus:
        """Serve ``version`` on ``endpoint`` (which must exist).

        ``traffic`` is the new version's percent; the other versions shrink
        proportionally (Vertex AI's rule). ``None`` means 100 for the first
        version of an endpoint and 0 for later ones. Deploying a version that is
        already deployed updates its scaling/traffic in place. On failure the
        previous split keeps serving and nothing half-made is left behind.
        """

    @abstractmethod
    def set_traffic(
        self,
        endpoint: str,
        split: TrafficSplit,
        *,
        wait: bool = True,
        timeout: float | None = None,
        progress: ProgressCallback = no_progress,
    ) -> EndpointStatus:
        """Apply ``split`` (versions must all be deployed; versions left out get 0).

        Applied to the running endpoint without a failed request. The split before
        the change is remembered for :meth:`previous_traffic`.
        """

    @abstractmethod
    def previous_traffic(self, endpoint: str) -> TrafficSplit | None:
        """The split before the last traffic change, or None if there was none."""

    @abstractmethod
    def undeploy(
        self,
        endpoint: str,
        version: str,
        *,
        wait: bool = True,
        timeout: float | None = None,
        progress: ProgressCallback = no_progress,
    ) -> EndpointStatus:
        """Stop serving ``version``: first move its traffic to the others
        (proportionally), then remove it. Undeploying a version that carries all
        the traffic while other versions are deployed is refused (ConflictError:
        move traffic first); undeploying the last version empties the endpoint.
        Undeploying a version that is not deployed is a no-op.
        """

    @abstractmethod
    def predict(
        self, endpoint: str, instances: list[Any], *, version: str | None = None
    ) -> Prediction:
        """Predict through the endpoint's traffic split, or on ``version`` only."""

    @abstractmethod
    def delete_endpoint(
        self,
        name: str,
        *,
        force: bool = False,
        wait: bool = True,
        timeout: float | None = None,
        progress: ProgressCallback = no_progress,
    ) -> None:
        """Delete the endpoint. One that still serves a version is refused
        (ConflictError) unless ``force``, which undeploys everything first.
        Deleting an endpoint that does not exist is a no-op.
        """

    # -- optional -------------------------------------------------------------

    def delete_model_version(
        self,
        model: str,
        version: str,
        *,
        wait: bool = True,
        timeout: float | None = None,
        progress: ProgressCallback = no_progress,
    ) -> None:
        """Delete version ``version`` (or the version an alias names) of ``model``.

        Refused (ConflictError naming the endpoints) while the version is deployed
        anywhere: undeploy it first. Deleting a version that does not exist is a
        no-op, so a re-run converges. A deleted version's number is never reused.
        """
        raise CloudeployError(f"the {self.name} provider cannot delete model versions")

    def stop_endpoint(self, name: str) -> EndpointStatus:
        """Stop serving but keep the endpoint's state (local provider only)."""
        raise CloudeployError(f"the {self.name} provider cannot stop an endpoint; delete it instead")

    def start_endpoint(self, name: str, *, wait: bool = True, timeout: float | None = None) -> EndpointStatus:
        """Start a stopped endpoint from its recorded state (local provider only)."""
        raise CloudeployError(f"the {self.name} provider cannot start an endpoint")

    def version_metrics(
        self, endpoint: str, version: str, *, since: float, until: float | None = None
    ) -> VersionMetrics:
        """Serving metrics of ``version`` in ``[since, until]`` (see :class:`VersionMetrics`).

        Fills what the provider can see: requests, the error classes, latency
        p50/p99, non-finite answers and the live prediction distribution; what
        it cannot see stays ``None``/0 (documented in docs/rollout.md).
        """
        raise CloudeployError(f"the {self.name} provider does not report per-version metrics")

    # -- helpers for implementations -----------------------------------------

    def check_options(self, options: Mapping[str, Any] | None) -> dict[str, Any]:
        """Refuse options this provider does not know, naming them."""
        options = dict(options or {})
        unknown = sorted(set(options) - set(self.known_options))
        if unknown:
            from cloudeploy.errors import ValidationError

            known = ", ".join(sorted(self.known_options)) or "none"
            raise ValidationError(
                f"unknown option(s) for the {self.name} provider: {', '.join(unknown)} (known: {known})"
            )
        return options

    # -- capabilities ---------------------------------------------------------
    # What a provider may offer beyond the core contract (see
    # ``cloudeploy.providers.capabilities``). Workflows ask for these and never
    # look at a provider's name, clients or settings. Each default says the
    # provider has none (CapabilityError, exit code 2).

    def batch_backend(self) -> BatchBackend:
        """The :class:`~cloudeploy.providers.capabilities.BatchBackend` that runs batch jobs here."""
        from cloudeploy.providers.capabilities import missing

        raise missing(self, "batch backend", hint="batch prediction runs on: local, vertex, sagemaker")

    def monitoring_hooks(self) -> MonitoringHooks:
        """The :class:`~cloudeploy.providers.capabilities.MonitoringHooks` of this provider."""
        from cloudeploy.providers.capabilities import missing

        raise missing(self, "monitoring hooks", hint="monitoring runs on: local, vertex, sagemaker")

    def native_rollout(self) -> NativeRollout:
        """The :class:`~cloudeploy.providers.capabilities.NativeRollout` (``promote --native``)."""
        from cloudeploy.providers.capabilities import missing

        raise missing(self, "native rollout", hint="drop --native to run the plan client-side")

    def shadow_source(self) -> ShadowSource:
        """The :class:`~cloudeploy.providers.capabilities.ShadowSource` that copies live traffic here."""
        from cloudeploy.providers.capabilities import missing

        raise missing(self, "shadow traffic source", hint="shadow runs on: local, vertex, sagemaker")


def wait_until(
    check: Callable[[], Any],
    *,
    timeout: float | None,
    what: str,
    how_to_check: str,
    progress: ProgressCallback = no_progress,
    interval: float = 0.2,
    max_interval: float = 5.0,
) -> Any:
    """Call ``check()`` until it returns something truthy, and return that.

    Polls with back-off from ``interval`` to ``max_interval``. Raises
    OperationTimeout after ``timeout`` seconds (``None``: wait forever), saying
    that ``what`` may still be in progress and ``how_to_check``.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = interval
    while True:
        result = check()
        if result:
            return result
        if deadline is not None and time.monotonic() >= deadline:
            raise OperationTimeout(
                f"timed out after {timeout:g}s waiting for {what}; it may still be in progress",
                hint=how_to_check,
            )
        sleep_for = delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic()))
        time.sleep(sleep_for)
        delay = min(delay * 1.5, max_interval)
