"""``ServerSettings``: every knob of the model server, with the container contracts' defaults.

Defaults follow the two cloud contracts: the port is ``$AIP_HTTP_PORT`` (Vertex AI)
or else 8080 (SageMaker), and the Vertex routes come from ``$AIP_PREDICT_ROUTE`` and
``$AIP_HEALTH_ROUTE``. The SageMaker routes (``/ping``, ``/invocations``) are always
served as well. ``validate()`` refuses nonsense with a :class:`ValidationError`
naming the setting.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from cloudeploy.errors import ValidationError

DEFAULT_PORT = 8080
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
#: What ``runtime`` may force: the compiled graph, or the original model (scikit-learn, or XGBoost/LightGBM's own).
RUNTIMES = ("onnx", "sklearn")


def env_port() -> int:
    raw = os.environ.get("AIP_HTTP_PORT")
    if not raw:
        return DEFAULT_PORT
    try:
        return int(raw)
    except ValueError:
        raise ValidationError(f"AIP_HTTP_PORT must be a port number, got {raw!r}") from None


def _env_capture_dir() -> Path | None:
    raw = os.environ.get("CLOUDEPLOY_CAPTURE_DIR")
    return Path(raw) if raw else None


@dataclass(frozen=True)
class ServerSettings:
    """How one model server process behaves.

    - ``model`` / ``version``: the names reported with every prediction (headers
      ``X-Cloudeploy-Model`` / ``X-Cloudeploy-Version`` and ``modelVersionId``);
      ``model=None`` means the package manifest's name.
    - ``max_body_bytes``: larger request bodies get 413.
    - ``max_queue``: requests admitted (queued or being predicted) per process;
      beyond it a request gets 503 with ``Retry-After``.
    - ``max_batch``: most rows coalesced into one ``predict`` call; ``batch_wait_ms``:
      how long the batcher may hold a batch open for more requests, only while it
      sees concurrent traffic, and only while requests keep coming (0 = purely
      greedy: take whatever is queued).
    - ``capture_dir`` / ``capture_sample``: sampled request/response capture (JSONL).
    - ``trust`` / ``allowed_globals`` / ``allow_version_mismatch``: passed to
      ``load_package`` (what a pickle may import beyond the default allowlist).
    - ``runtime``: None serves what the package says (its verified compiled graph
      on onnxruntime, one intra-op thread, when it has one: nothing is then
      unpickled); ``"onnx"`` or ``"sklearn"`` forces one. Default ``$CLOUDEPLOY_RUNTIME``.
    - ``drain_timeout``: seconds in-flight requests get to finish after SIGTERM.
    - ``workers``: SO_REUSEPORT listener processes (only :func:`serve` uses it).
    """

    host: str = "127.0.0.1"
    port: int = field(default_factory=env_port)
    workers: int = 1
    model: str | None = None
    version: str = "v1"
    trust: bool = False
    allowed_globals: tuple[str, ...] = ()
    allow_version_mismatch: bool = False
    runtime: str | None = field(default_factory=lambda: os.environ.get("CLOUDEPLOY_RUNTIME") or None)
    capture_dir: Path | None = field(default_factory=_env_capture_dir)
    capture_sample: float | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_queue: int = 1024
    max_batch: int = 64
    batch_wait_ms: float = 2.0
    drain_timeout: float = 25.0
    log_level: str = "warning"
    predict_route: str = field(default_factory=lambda: os.environ.get("AIP_PREDICT_ROUTE") or "/predict")
    health_route: str = field(default_factory=lambda: os.environ.get("AIP_HEALTH_ROUTE") or "/health")

    def __post_init__(self) -> None:
        if self.capture_dir is not None and not isinstance(self.capture_dir, Path):
            object.__setattr__(self, "capture_dir", Path(self.capture_dir))

    @property
    def capture_rate(self) -> float:
        """The sampling rate in effect: 0 without a capture dir, else the given rate or 1."""
        if self.capture_dir is None:
            return 0.0
        return 1.0 if self.capture_sample is None else self.capture_sample

    def validate(self) -> ServerSettings:
        """Return self, or raise ValidationError naming the first bad setting."""
        checks = [
            (0 <= self.port <= 65535, f"port must be between 0 and 65535, got {self.port}"),
            (self.workers >= 1, f"workers must be >= 1, got {self.workers}"),
            (self.max_body_bytes >= 1, f"max_body_bytes must be >= 1, got {self.max_body_bytes}"),
            (self.max_queue >= 1, f"max_queue must be >= 1, got {self.max_queue}"),
            (self.max_batch >= 1, f"max_batch must be >= 1, got {self.max_batch}"),
            (self.batch_wait_ms >= 0, f"batch_wait_ms must be >= 0, got {self.batch_wait_ms}"),
            (self.drain_timeout >= 0, f"drain_timeout must be >= 0, got {self.drain_timeout}"),
            (
                self.capture_sample is None or 0.0 <= self.capture_sample <= 1.0,
                f"capture_sample must be between 0 and 1, got {self.capture_sample}",
            ),
            (bool(self.version), "version label must not be empty"),
            (
                self.runtime in (None, *RUNTIMES),
                f"runtime must be one of {', '.join(RUNTIMES)}, got {self.runtime!r}",
            ),
        ]
        for route_name in ("predict_route", "health_route"):
            route = getattr(self, route_name)
            checks.append((route.startswith("/"), f"{route_name} must start with '/', got {route!r}"))
        for ok, message in checks:
            if not ok:
                raise ValidationError(message)
        return self

    def with_changes(self, **changes) -> ServerSettings:
        return replace(self, **changes)
