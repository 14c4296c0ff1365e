"""What a provider may offer beyond the core contract: the workflows' interfaces.

The workflows (``batch/``, ``monitoring/``, ``rollout/``) never look at a
provider's name, its SDK clients or its settings: they ask the provider for a
capability and talk to that object only.

=====================  ==============================  ==========================================
Provider method        Returns                         Used by
=====================  ==============================  ==========================================
``batch_backend()``    :class:`BatchBackend`           ``batch_predict``, ``cloudeploy batch``
``monitoring_hooks()`` :class:`MonitoringHooks`        ``monitor configure/run/status``, drift gate
``native_rollout()``   :class:`NativeRollout`          ``promote --native``
``shadow_source()``    :class:`ShadowSource`           ``cloudeploy shadow``, a plan's shadow phase
=====================  ==============================  ==========================================

A batch backend is an :class:`EngineBatch` (cloudeploy's engine runs the
job here) or a :class:`CloudBatchBackend` (primitives a cloud service's jobs
need). A provider that lacks one raises
:class:`~cloudeploy.errors.CapabilityError` ("the X provider has no batch
backend"), exit code 2 like other unusable input. Each implementation
lives in its provider's package (``providers/<name>/batch.py`` …), is named
in the provider's ``capabilities`` mapping (method -> ``"module:Class"``),
imported only when the capability is asked for, and is the only code that
calls the provider's SDK for that job. A third-party provider offers a
capability the same way, or by overriding the method.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudeploy.errors import ConflictError, ValidationError
from cloudeploy.providers.base import ProgressCallback, VersionMetrics, no_progress

if TYPE_CHECKING:
    from cloudeploy.providers.base import Provider


# -- batch ------------------------------------------------------------------------------


class BatchBackend:
    """Who runs batch prediction jobs on a provider.

    Two kinds exist, and ``cloudeploy.batch`` drives both the same way (the
    spec, staging, resuming, the output and errors files are its business):

    - :class:`EngineBatch`: cloudeploy's own engine runs the job on this
      machine, scoring with the provider's registered models (local provider);
    - :class:`CloudBatchBackend`: a cloud service runs the job; cloudeploy
      checks and stages the input, the backend hands it to the service and
      reads the answers back.
    """

    #: Keys a spec's ``options`` may hold on this provider; others are refused by name.
    known_options: frozenset[str] = frozenset()

    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    def objects(self, scheme: str) -> Any:
        """Object primitives (``list``, ``download``, ``read_range``, ``upload``: see
        ``batch.remote.ObjectStore``) for ``scheme`` (``gs``, ``s3``) with this provider's
        own client and credentials; None to use the SDK's defaults."""
        return None


class EngineBatch(BatchBackend):
    """Jobs run by cloudeploy's local engine on this machine (``cloudeploy.batch.engine``).

    ``model`` may be a fitted estimator; ``gs://`` and ``s3://`` inputs use the SDK defaults.
    """


class CloudBatchBackend(BatchBackend, ABC):
    """A cloud service runs the job; the primitives ``cloudeploy.batch`` calls, in order.

    A job's *record* is the dict kept in its local job directory: ``spec``,
    ``provider``, ``model`` (``name@vN``), ``input_uri``, ``output_uri`` plus
    what :meth:`new_record` adds; the backend updates it in place and calls
    ``save(record)`` to persist it. Staged part ``i`` is a local file
    ``part-{i:05d}.{staged_format}`` uploaded under ``input_uri``: JSON Lines of
    feature lists (``jsonl``), or header-less CSV of the carried columns then the
    features (``csv``). Every call is idempotent: a re-run after a crash finds the
    remote job it created instead of starting another. Errors are cloudeploy errors.
    """

    #: Crash points are ``<name>.batch.<step>``; records say ``provider: <name>``.
    name: str = ""
    #: What the remote job is called in messages ("batch prediction job", "transform job").
    job_kind: str = "batch job"
    #: ``jsonl`` or ``csv`` (see the class docstring).
    staged_format: str = "jsonl"

    @abstractmethod
    def staging_uri(self, job_id: str) -> str:
        """Where the job's input and output go: ``<uri>/input``, ``<uri>/output``."""

    @abstractmethod
    def schema_of(self, uri: str) -> Any:
        """The input schema in the manifest of the registered artifact at ``uri`` (manifest reading)."""

    def new_record(self, spec: Any, version: Any, schema: Any) -> dict[str, Any]:
        """Fields this backend keeps in a new job's record."""
        return {}

    @abstractmethod
    def start(self, spec: Any, record: dict[str, Any], version: Any, parts: Sequence[int], *,
              save: Callable[[dict[str, Any]], None], progress: ProgressCallback = no_progress) -> None:
        """Create the remote job over the staged ``parts`` (or find the one already created)."""

    @abstractmethod
    def state(self, record: dict[str, Any]) -> tuple[str, str]:
        """``(state, message)`` of the remote job: pending, running, succeeded or failed."""

    @abstractmethod
    def predictions(self, record: dict[str, Any], index: int, staged: Path) -> Iterable[Any]:
        """The predictions of staged part ``index`` (its local file ``staged``), in input order."""

    @abstractmethod
    def upload(self, path: Path, uri: str) -> None:
        """Copy the local file ``path`` to ``uri``."""

    def remote_ids(self, record: dict[str, Any]) -> dict[str, str]:
        """Identifiers of the remote resources, shown in status reports."""
        return {}


# -- monitoring -------------------------------------------------------------------------


class MonitoringHooks(ABC):
    """What monitoring needs from one provider; ``cloudeploy.monitoring`` does the rest.

    Manifest reading (:meth:`manifest`, :meth:`package`), captured requests
    (:meth:`capture_dir` where the provider keeps cloudeploy capture files,
    else :meth:`captured` records read from its own capture/logging), and its
    own monitoring services: capture, jobs and alarms (:meth:`configure`),
    metrics (:meth:`publish`) and their state (:meth:`status`). The workflow
    (``monitoring.backend.MonitoringBackend``) resolves versions, keeps the
    specs, writes capture files and loads the package's artifacts.
    """

    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    @abstractmethod
    def manifest(self, endpoint: str, version: str) -> Any:
        """The :class:`~cloudeploy.packaging.manifest.Manifest` of ``version``'s stored package."""

    @abstractmethod
    def package(self, endpoint: str, version: str, folder: Path) -> tuple[Path, Any]:
        """``(directory, manifest)`` of ``version``'s package on this machine: copied into the
        empty ``folder`` (manifest and every file it lists; a name leaving ``folder`` is never
        written), or the provider's own local copy. Files are digest-checked when loaded."""

    def capture_dir(self, endpoint: str, version: str) -> Path | None:
        """The directory where ``version``'s requests already are cloudeploy capture files, or None."""
        return None

    def captured(self, endpoint: str, version: str, features: Sequence[str], *, since: float | None,
                 until: float | None) -> Iterable[dict[str, Any]]:
        """``version``'s captured requests in ``[since, until)`` as capture records (``ts``,
        ``request_id``, ``features``, ``instances`` as rows in ``features`` order,
        ``predictions``). ValidationError (one-line hint) when the endpoint captures nothing."""
        raise ValidationError(f"the {self.provider.name} provider keeps no captured requests",
                              hint="score an export with `cloudeploy monitor run ENDPOINT --capture DIR`")

    def configure(self, endpoint: str, spec: Any, *, serving: Callable[[], tuple[str, list[str]]],
                  saved: Any) -> dict[str, Any]:
        """Set monitoring up in the provider's services for ``spec``; returns what was done.

        ``serving()`` gives (on demand: it reads the manifest) the version serving most
        traffic and the monitored feature names; ``saved`` is the spec saved for the
        endpoint (this one), or None.
        """
        return {}

    def publish(self, endpoint: str, result: Any, spec: Any, *, saved: Any) -> dict[str, Any]:
        """Send a pass's result to the provider's own monitoring service; returns what was sent."""
        return {}

    def status(self, endpoint: str) -> dict[str, Any]:
        """What the provider's own services have configured for ``endpoint``."""
        return {}


# -- native rollout ---------------------------------------------------------------------


@dataclass(frozen=True)
class NativeStep:
    """One entry of a native rollout's log: ``action`` is ``step``, ``promoted`` or ``rollback``."""

    action: str
    percent: int
    reason: str
    split: dict[str, int]


@dataclass(frozen=True)
class NativeOutcome:
    """How the service's own rollout ended: ``promoted`` or ``rolled_back`` (with its reason)."""

    version: str
    outcome: str
    reason: str
    from_split: dict[str, int]
    traffic: dict[str, int]
    steps: tuple[NativeStep, ...]
    compiled: dict[str, Any] = field(default_factory=dict)


class NativeRollout(ABC):
    """A rollout plan run by the provider's own service (``promote --native``).

    ``plan`` is a :class:`~cloudeploy.rollout.plan.RolloutPlan`, read by attribute.
    """

    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    @abstractmethod
    def compile(self, plan: Any, *, endpoint: str, version: str) -> Mapping[str, Any]:
        """The request ``plan`` becomes (for ``--dry-run``); ValidationError if it cannot be expressed."""

    @abstractmethod
    def run(self, endpoint: str, version: str, plan: Any, *, progress: ProgressCallback = no_progress,
            timeout: float | None = None, poll_s: float | None = None) -> NativeOutcome:
        """Run ``plan`` moving ``endpoint`` to ``version`` and block until the service is done.

        Re-running after a crash follows the update already in progress. A
        timeout raises OperationTimeout (the update may still be in progress).
        """


# -- shadow traffic ---------------------------------------------------------------------

#: The most row pairs a source hands back per read (a bounded sample of the window).
MAX_PAIRS = 10_000


class ShadowUnavailable(ConflictError):
    """The endpoint cannot shadow as it is (capture or logging off); the hint says how to fix it."""


@dataclass(frozen=True)
class ShadowWindow:
    """What a source saw between ``since`` and ``until``.

    ``pairs`` are (serving answer, candidate answer) per row on the same input
    (at most :data:`MAX_PAIRS`); ``candidate`` the candidate's metrics on the
    copies; ``serving`` the serving version's on the requests that were copied
    (or on its traffic in the window, where the source sees only that).
    ``mirrored`` counts copies sent, ``dropped`` copies not sent (queue full).
    """

    pairs: Sequence[tuple[Any, Any]]
    candidate: VersionMetrics
    serving: VersionMetrics | None
    mirrored: int = 0
    dropped: int = 0
    note: str = ""


class ShadowSource(ABC):
    """How one provider gives a candidate copies of live traffic."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    def check(self, endpoint: str) -> None:
        """Raise ShadowUnavailable (one-line hint) when ``endpoint`` cannot shadow as it is.

        The default accepts every endpoint.
        """
        return None

    @abstractmethod
    def start(self, endpoint: str, serving: str, candidate: str, share: float, *,
              progress: ProgressCallback = no_progress) -> None:
        """Begin copying ``share`` of ``serving``'s requests to ``candidate``.

        Raises ShadowUnavailable (one-line hint) when the endpoint cannot shadow as it is.
        """

    @abstractmethod
    def read(self, endpoint: str, serving: str, candidate: str, *, since: float, until: float) -> ShadowWindow:
        """What was copied and answered in ``[since, until]``. Cheap enough to call every few seconds."""

    @abstractmethod
    def stop(self, endpoint: str, serving: str, candidate: str, *,
             progress: ProgressCallback = no_progress) -> None:
        """Stop copying; leaves the endpoint as :meth:`start` found it. Safe to call twice."""
