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
  (seconds for the whole call; ``None`` means the provider's default, ``0`` or
  ``wait=False`` means return as soon as the request is accepted). When the
  timeout passes, :class:`OperationTimeout` is raised saying the operation may
  still be in progress and how to check. The public methods of
  :class:`Provider` make one :class:`~cloudeploy.providers.deadline.Deadline`
  per call and hand it to every step (docs/providers.md).
- **Progress** is reported through ``progress(message)`` when given.
- **Nothing lost.** A failed deploy or traffic change leaves the previous split
  serving. Old resources are deleted only once the new ones serve.
- **Errors** are cloudeploy errors (``cloudeploy.errors``), never SDK exceptions.
- **Provider-only settings** come in ``options``, checked into the provider's
  typed options class (:attr:`Provider.options_class`, see
  ``cloudeploy.providers.options``): an option that is unknown, of the wrong
  kind, or not read by the called step is a ValidationError naming it, and
  every accepted option has an effect.
- **Versions** are labelled ``v1, v2, ...`` per model, in upload order.
"""

from __future__ import annotations

import contextlib
import importlib
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudeploy.errors import (
    CapabilityError,
    CloudeployError,
    ConfigError,
    ConflictError,
    NotFoundError,
    ValidationError,
)
from cloudeploy.providers.deadline import Deadline
from cloudeploy.providers.options import (
    CREATE_ENDPOINT,
    DEPLOY,
    UPLOAD,
    NoOptions,
    ProviderOptions,
)
from cloudeploy.providers.traffic import (
    check_percent,
    check_split,
    deploy_split,
    full_split,
    undeploy_split,
)
from cloudeploy.types import EndpointStatus, ModelVersion, Scaling, TrafficSplit, normalize_version

if TYPE_CHECKING:
    from cloudeploy.config import Profile
    from cloudeploy.providers.capabilities import (
        BatchBackend,
        MonitoringHooks,
        NativeRollout,
        ShadowSource,
    )
    from cloudeploy.providers.state_store import StateStore

ProgressCallback = Callable[[str], None]


#: Attempts per cloud API call by default (the first and 4 retries), and the most a profile may set.
DEFAULT_MAX_ATTEMPTS = 5
MAX_ATTEMPTS_LIMIT = 20


def max_attempts_setting(profile: str, settings: Mapping[str, Any]) -> int:
    """A cloud profile's ``max_attempts`` (default 5); ConfigError unless a whole number 1..20."""
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

    **A template.** The public methods below do the shared work once, for
    every provider: they check the arguments (:mod:`.traffic`), turn ``wait``
    and ``timeout`` into one :class:`~.deadline.Deadline` for the whole call,
    decide what the call leads to (the split after a deploy or undeploy, what
    is refused), and then call a small primitive (``_deploy``,
    ``_set_traffic``, ``_undeploy``, ...) that a provider implements. A
    primitive receives arguments already checked and planned, waits only
    while ``deadline.waits`` and never past ``deadline``, and raises
    :class:`OperationTimeout` (via ``deadline.expired_error``) when it passes.

    Contract sentences decided here, each checked by one conformance test:

    - a percent is a whole int 0..100; a split sums to 100 over deployed
      versions; the empty split is refused while a version is deployed;
    - ``wait=False`` and ``timeout=0`` return as soon as the request is
      accepted; a positive ``timeout`` bounds the whole call;
    - undeploying the endpoint's last version is refused (ConflictError):
      delete the endpoint to stop serving;
    - ``create_endpoint`` for a name that serves another model is refused
      (ConflictError); one created outside cloudeploy (no model recorded) is
      adopted;
    - an endpoint whose versions all have 0% reads as the empty split (state
      ``idle``) without error, and ``set_traffic`` repairs it;
    - ``state`` is one of :data:`~cloudeploy.types.ENDPOINT_STATES`;
    - predictions come back as the model answered them in JSON (a classifier's
      int labels stay ints on every provider, unpinned or pinned);
    - a prediction on an endpoint where no version receives traffic is a
      ConflictError (exit code 5) on every provider.
    """

    #: The registry name (``local``, ``vertex``, ``sagemaker``).
    name: str = ""
    #: The provider's options: a frozen :class:`~cloudeploy.providers.options.ProviderOptions`
    #: subclass whose fields say what each option takes and which steps read it.
    options_class: type[ProviderOptions] = NoOptions
    #: Seconds a mutating call waits when the caller gives ``timeout=None``.
    default_timeout: float = 3600.0

    #: Capability flags: what a provider may legitimately lack (fsspec-style class
    #: attributes). A method whose flag is False raises CloudeployError saying so;
    #: workflows and the conformance suite read the flag instead of trying.
    #: ``stop_endpoint`` / ``start_endpoint``: stop serving but keep the state.
    supports_stop: bool = False
    #: ``version_metrics``: per-version serving metrics for promotion gates.
    supports_version_metrics: bool = False
    #: ``delete_model_version``.
    supports_delete_model_version: bool = False

    def __init__(self, profile: Profile) -> None:
        self.profile = profile

    def _deadline(self, wait: bool, timeout: float | None) -> Deadline:
        return Deadline.start(timeout, wait=wait, default=self.default_timeout)

    def _within(self, deadline: Deadline) -> contextlib.AbstractContextManager[Any]:
        """A scope every step of a public call runs in, reads included: a provider
        whose SDK retries bounds those retries by ``deadline`` here (Vertex AI)."""
        return contextlib.nullcontext()

    # -- registry -------------------------------------------------------------

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
        other. The registration is always awaited (the version label exists only
        then), within ``timeout``.
        """
        options = self.check_options(options, step=UPLOAD)
        if isinstance(aliases, str):
            aliases = [aliases]
        deadline = self._deadline(wait, timeout)
        with self._within(deadline):
            return self._upload_model(
                Path(package_dir), model, aliases=tuple(aliases), deadline=deadline, progress=progress, options=options
            )

    @abstractmethod
    def _upload_model(
        self,
        package_dir: Path,
        model: str,
        *,
        aliases: tuple[str, ...],
        deadline: Deadline,
        progress: ProgressCallback,
        options: ProviderOptions,
    ) -> ModelVersion:
        """Primitive of :meth:`upload_model`."""

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
        if not self.supports_delete_model_version:
            raise CloudeployError(f"the {self.name} provider cannot delete model versions")
        deadline = self._deadline(wait, timeout)
        with self._within(deadline):
            try:
                target = self.get_model_version(model, version)
            except NotFoundError:
                return
            in_use = [s.name for s in self.list_endpoints() if s.model == model and s.deployment(target.version)]
            if in_use:
                raise ConflictError(
                    f"{model}@{target.version} is deployed on {', '.join(in_use)}",
                    hint=f"undeploy it first: cloudeploy undeploy {in_use[0]} {target.version}",
                )
            self._delete_model_version(target, deadline=deadline, progress=progress)

    def _delete_model_version(self, target: ModelVersion, *, deadline: Deadline, progress: ProgressCallback) -> None:
        """Primitive of :meth:`delete_model_version` (``target`` exists and is deployed nowhere)."""
        raise CloudeployError(f"the {self.name} provider cannot delete model versions")

    # -- endpoints ------------------------------------------------------------

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
        if it exists for ``model``.

        An endpoint created outside cloudeploy (e.g. by Terraform: no model
        recorded) is adopted for ``model``. One that serves another model is
        refused (ConflictError): an endpoint serves the versions of one model.
        """
        options = self.check_options(options, step=CREATE_ENDPOINT)
        deadline = self._deadline(wait, timeout)
        with self._within(deadline):
            try:
                existing: EndpointStatus | None = self.get_endpoint(name)
            except NotFoundError:
                existing = None
            if existing is not None and existing.model and existing.model != model:
                raise ConflictError(
                    f"endpoint {name!r} serves model {existing.model!r}, not {model!r}",
                    hint="use another endpoint name, or deploy versions of the same model",
                )
            return self._create_endpoint(
                name, model=model, existing=existing, deadline=deadline, progress=progress, options=options
            )

    @abstractmethod
    def _create_endpoint(
        self,
        name: str,
        *,
        model: str,
        existing: EndpointStatus | None,
        deadline: Deadline,
        progress: ProgressCallback,
        options: ProviderOptions,
    ) -> EndpointStatus:
        """Primitive of :meth:`create_endpoint` (``existing``: the endpoint if it exists, for ``model`` or adoptable)."""

    @abstractmethod
    def get_endpoint(self, name: str) -> EndpointStatus:
        """The endpoint as the provider reports it now. NotFoundError if unknown.

        Never fails on an endpoint in a state cloudeploy would not make itself
        (every version at 0%): such an endpoint reads as ``idle``.
        """

    @abstractmethod
    def list_endpoints(self) -> list[EndpointStatus]:
        """Every endpoint managed by cloudeploy, sorted by name."""

    def _current(self, endpoint: str, *, deadline: Deadline, progress: ProgressCallback) -> EndpointStatus:
        """The endpoint a change starts from (``get_endpoint``). A provider that refuses
        a change while another is in progress (SageMaker) waits here for it to end,
        within ``deadline`` (or its default bound when the caller does not wait)."""
        return self.get_endpoint(endpoint)

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
        """Serve ``version`` on ``endpoint`` (which must exist and serve ``version.model``).

        ``traffic`` is the new version's percent (a whole int 0..100); the other
        versions shrink proportionally (Vertex AI's rule). ``None`` means 100
        when no other version receives traffic and 0 otherwise; a version that is
        the only one with traffic always gets 100. Deploying a version that is
        already deployed updates its scaling/traffic in place (``None`` keeps its
        percent). On failure the previous split keeps serving and nothing
        half-made is left behind.
        """
        options = self.check_options(options, step=DEPLOY)
        if not isinstance(version, ModelVersion):
            raise ValidationError(f"deploy takes a ModelVersion (from upload_model), got {type(version).__name__}")
        if traffic is not None:
            traffic = check_percent(traffic)
        if scaling is not None and not isinstance(scaling, Scaling):
            raise ValidationError(f"scaling must be a Scaling, got {type(scaling).__name__}")
        deadline = self._deadline(wait, timeout)
        with self._within(deadline):
            current = self._current(endpoint, deadline=deadline, progress=progress)
            if current.model and version.model != current.model:
                raise ValidationError(
                    f"endpoint {endpoint!r} serves model {current.model!r}; {version.ref} is another model"
                )
            split = deploy_split(current, version.version, traffic)
            return self._deploy(
                endpoint,
                version,
                split=split,
                traffic=traffic,
                scaling=scaling,
                machine_type=machine_type,
                current=current,
                deadline=deadline,
                progress=progress,
                options=options,
            )

    @abstractmethod
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
        options: ProviderOptions,
    ) -> EndpointStatus:
        """Primitive of :meth:`deploy`: make ``current`` serve ``split`` (which includes ``version``).

        ``traffic`` is what the caller asked (None: keep), for providers that
        only change traffic when asked.
        """

    def set_traffic(
        self,
        endpoint: str,
        split: TrafficSplit | Mapping[str, int],
        *,
        wait: bool = True,
        timeout: float | None = None,
        progress: ProgressCallback = no_progress,
    ) -> EndpointStatus:
        """Apply ``split``: whole percents summing to 100 over deployed versions
        (versions left out get 0; NotFoundError for one not deployed).

        The empty split is refused (ValidationError) while a version is
        deployed, and a no-op on an endpoint with nothing deployed. Applied to
        the running endpoint without a failed request. The split before the
        change is remembered for :meth:`previous_traffic`. Works on an endpoint
        where no version receives traffic (it repairs it).
        """
        split = check_split(split)
        if split and sum(split.values()) != 100:  # pragma: no cover - TrafficSplit refuses it already
            raise ValidationError(f"traffic split must sum to 100, got {sum(split.values())}")
        deadline = self._deadline(wait, timeout)
        with self._within(deadline):
            current = self._current(endpoint, deadline=deadline, progress=progress)
            full = full_split(split, current)
            if not full:
                return current
            return self._set_traffic(endpoint, full, current=current, deadline=deadline, progress=progress)

    @abstractmethod
    def _set_traffic(
        self,
        endpoint: str,
        split: TrafficSplit,
        *,
        current: EndpointStatus,
        deadline: Deadline,
        progress: ProgressCallback,
    ) -> EndpointStatus:
        """Primitive of :meth:`set_traffic`: ``split`` names every deployed version and sums to 100."""

    @abstractmethod
    def previous_traffic(self, endpoint: str) -> TrafficSplit | None:
        """The split before the last traffic change, or None if there was none."""

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
        (proportionally), then remove it and release its replicas.

        Undeploying a version that carries all the traffic while other versions
        are deployed is refused (ConflictError: move traffic first). Undeploying
        the endpoint's last version is refused (ConflictError): delete the
        endpoint to stop serving. Undeploying a version that is not deployed is
        a no-op.
        """
        label = normalize_version(version)
        deadline = self._deadline(wait, timeout)
        with self._within(deadline):
            current = self._current(endpoint, deadline=deadline, progress=progress)
            if current.deployment(label) is None:
                return current
            others = [d.version for d in current.deployments if d.version != label]
            if not others:
                raise ConflictError(
                    f"{label} is the last version deployed on endpoint {endpoint}",
                    hint=f"delete the endpoint instead: cloudeploy endpoints delete {endpoint} --force",
                )
            if current.traffic.get(label, 0) == 100:
                raise ConflictError(
                    f"{label} carries all of endpoint {endpoint}'s traffic",
                    hint=f"move traffic to another version first: cloudeploy traffic {endpoint} {others[0]}=100",
                )
            remaining = undeploy_split(current, label)
            return self._undeploy(endpoint, label, split=remaining, current=current, deadline=deadline, progress=progress)

    @abstractmethod
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
        """Primitive of :meth:`undeploy`: move traffic to ``split`` (the others), then remove ``version``."""

    def predict(self, endpoint: str, instances: list[Any], *, version: str | None = None) -> Prediction:
        """Predict through the endpoint's traffic split, or on ``version`` only.

        Predictions come back as the model server answered them in JSON, on
        every provider. ConflictError when no version receives traffic (and no
        version is pinned); NotFoundError for an unknown endpoint or a pinned
        version not deployed there.
        """
        if isinstance(instances, tuple):
            instances = list(instances)
        if not isinstance(instances, list):
            raise ValidationError(f"instances must be a list of rows, got {type(instances).__name__}")
        label = normalize_version(version) if version is not None else None
        try:
            return self._predict(endpoint, instances, version=label)
        except CloudeployError as error:
            if label is not None or isinstance(error, ValidationError):
                raise  # a pinned version, or bad input: nothing to do with the split
            try:
                status = self.get_endpoint(endpoint)
            except CloudeployError:
                raise error from None
            if status.traffic:
                raise
            raise ConflictError(
                f"no version of endpoint {endpoint} receives traffic ({error.message})",
                hint=f"deploy a version or give one traffic: cloudeploy traffic {endpoint} VERSION=100",
            ) from None

    @abstractmethod
    def _predict(self, endpoint: str, instances: list[Any], *, version: str | None) -> Prediction:
        """Primitive of :meth:`predict` (``version`` normalised, or None)."""

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
        Deleting an endpoint that does not exist is a no-op. ``timeout`` bounds
        the whole call, every undeploy included.
        """
        deadline = self._deadline(wait, timeout)
        with self._within(deadline):
            try:
                current: EndpointStatus | None = self.get_endpoint(name)
            except NotFoundError:
                current = None
            if current is not None and current.deployments and not force:
                raise ConflictError(
                    f"endpoint {name!r} still serves {', '.join(d.version for d in current.deployments)}",
                    hint=f"undeploy them first, or pass force=True (CLI: cloudeploy endpoints delete {name} --force)",
                )
            self._delete_endpoint(name, current=current, deadline=deadline, progress=progress)

    @abstractmethod
    def _delete_endpoint(
        self, name: str, *, current: EndpointStatus | None, deadline: Deadline, progress: ProgressCallback
    ) -> None:
        """Primitive of :meth:`delete_endpoint`: undeploy everything and delete.

        ``current`` is None when the endpoint was not found: tidy what an
        interrupted earlier delete may have left, if anything, and return.
        """

    # -- optional -------------------------------------------------------------

    def stop_endpoint(self, name: str) -> EndpointStatus:
        """Stop serving but keep the endpoint's state (when :attr:`supports_stop`)."""
        raise CloudeployError(f"the {self.name} provider cannot stop an endpoint; delete it instead")

    def start_endpoint(self, name: str, *, wait: bool = True, timeout: float | None = None) -> EndpointStatus:
        """Start a stopped endpoint from its recorded state (when :attr:`supports_stop`)."""
        raise CloudeployError(f"the {self.name} provider cannot start an endpoint")

    def version_metrics(
        self, endpoint: str, version: str, *, since: float, until: float | None = None
    ) -> VersionMetrics:
        """Serving metrics of ``version`` in ``[since, until]`` (see :class:`VersionMetrics`),
        when :attr:`supports_version_metrics`.

        Fills what the provider can see: requests, the error classes, latency
        p50/p99, non-finite answers and the live prediction distribution; what
        it cannot see stays ``None``/0 (documented in docs/rollout.md).
        """
        raise CloudeployError(f"the {self.name} provider does not report per-version metrics")

    # -- helpers for implementations -----------------------------------------

    @property
    def known_options(self) -> frozenset[str]:
        """Names of the options this provider accepts (any step)."""
        return frozenset(self.options_class.specs())

    def check_options(self, options: Mapping[str, Any] | ProviderOptions | None, *, step: str) -> Any:
        """``options`` as this provider's typed options for ``step`` (``upload``,
        ``create_endpoint``, ``deploy``, ``batch``).

        ValidationError naming an option that is unknown, of the wrong kind, or
        not read by ``step``. The result is an instance of :attr:`options_class`
        (fields left at None were not given).
        """
        return self.options_class.parse(options, step=step)

    # -- capabilities ---------------------------------------------------------
    # What a provider may offer beyond the core contract (see
    # ``cloudeploy.providers.capabilities``). Workflows ask for these and never
    # look at a provider's name, clients or settings. One a provider does not
    # list says the provider has none (CapabilityError, exit code 2).

    #: What this provider offers: a method below (``batch_backend``, ``monitoring_hooks``,
    #: ``native_rollout``, ``shadow_source``) -> the dotted ``"module:Class"`` implementing
    #: it, imported on first use and constructed with the provider. A third party may
    #: list its own classes here or override the methods.
    capabilities: Mapping[str, str] = {}

    def _capability(self, method: str, what: str, *, hint: str) -> Any:
        target = self.capabilities.get(method)
        if target is None:
            raise CapabilityError(f"the {self.name or type(self).__name__} provider has no {what}", hint=hint)
        module_name, _, class_name = target.partition(":")
        return getattr(importlib.import_module(module_name), class_name)(self)

    def batch_backend(self) -> BatchBackend:
        """The :class:`~cloudeploy.providers.capabilities.BatchBackend` that runs batch jobs here."""
        return self._capability("batch_backend", "batch backend",
                                hint="batch prediction runs on: local, vertex, sagemaker")

    def monitoring_hooks(self) -> MonitoringHooks:
        """The :class:`~cloudeploy.providers.capabilities.MonitoringHooks` of this provider."""
        return self._capability("monitoring_hooks", "monitoring hooks", hint="monitoring runs on: local, vertex, sagemaker")

    def native_rollout(self) -> NativeRollout:
        """The :class:`~cloudeploy.providers.capabilities.NativeRollout` (``promote --native``)."""
        return self._capability("native_rollout", "native rollout", hint="drop --native to run the plan client-side")

    def shadow_source(self) -> ShadowSource:
        """The :class:`~cloudeploy.providers.capabilities.ShadowSource` that copies live traffic here."""
        return self._capability("shadow_source", "shadow traffic source", hint="shadow runs on: local, vertex, sagemaker")

    # -- state store ------------------------------------------------------------

    def state_store(self) -> StateStore | None:
        """The :class:`~cloudeploy.providers.state_store.StateStore` where workflow state (rollouts,
        endpoint locks, split history) lives with the endpoint, for every machine that reaches it.

        None: this provider keeps none; workflows then keep it in SQLite under
        ``$CLOUDEPLOY_HOME``, on this machine only. The same object on every call: made
        once by :meth:`_new_state_store`, which a provider overrides.
        """
        store = self.__dict__.get("_state_store")
        if store is None:
            store = self.__dict__["_state_store"] = self._new_state_store()
        return store

    def _new_state_store(self) -> StateStore | None:
        """A new store for :meth:`state_store` (None: this provider keeps none)."""
        return None


def wait_until(
    check: Callable[[], Any],
    *,
    timeout: float | Deadline | None,
    what: str,
    how_to_check: str,
    progress: ProgressCallback = no_progress,
    interval: float = 0.2,
    max_interval: float = 5.0,
) -> Any:
    """Call ``check()`` until it returns something truthy, and return that.

    Polls with back-off from ``interval`` to ``max_interval``. Raises
    OperationTimeout when ``timeout`` passes: a :class:`Deadline` (the call's
    one bound, shared by its steps), or seconds from now (``None``: wait
    forever), saying that ``what`` may still be in progress and ``how_to_check``.
    """
    if not isinstance(timeout, Deadline):
        timeout = Deadline.unbounded() if timeout is None else Deadline(timeout=float(timeout))
    deadline = timeout
    delay = interval
    while True:
        result = check()
        if result:
            return result
        if deadline.expired:
            raise deadline.expired_error(what, how_to_check)
        time.sleep(min(delay, deadline.remaining()))
        delay = min(delay * 1.5, max_interval)
