"""An in-memory provider and a fake clock, to test the executor without processes or waiting.

The provider serves one endpoint whose metrics come from ``behaviour``: a
function ``(version, percent, seconds_in_window) -> (requests, errors, p99_ms)``
(or a full VersionMetrics) so a test says how a version behaves at a given share of traffic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from cloudeploy.config import Profile
from cloudeploy.errors import NotFoundError
from cloudeploy.providers.base import VersionMetrics
from cloudeploy.types import (
    DeployedVersion,
    EndpointStatus,
    ModelVersion,
    Scaling,
    TrafficSplit,
    normalize_version,
)

Behaviour = Callable[[str, int, float], tuple[int, int, float | None]]


def healthy(version: str, percent: int, seconds: float) -> tuple[int, int, float | None]:
    """100 requests per second in total, no errors, 20 ms p99."""
    requests = int(100 * seconds * percent / 100)
    return requests, 0, 20.0 if requests else None


class FakeClock:
    """Wall-clock stand-in: ``sleep`` moves time forward at once."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        self.on_sleep: Callable[[float], None] | None = None

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if self.on_sleep is not None:
            self.on_sleep(seconds)
        self.now += max(seconds, 0.01)


class FakeProvider:
    """Just enough of the provider contract for the rollout executor."""

    name = "fake"

    def __init__(self, home, clock: FakeClock, behaviours: dict[str, Behaviour] | None = None,
                 split: dict[str, int] | None = None) -> None:
        self.home = home
        self.profile = Profile(name="fake", provider="fake")
        self.clock = clock
        self.behaviours = behaviours or {}
        self.split = dict(split or {"v1": 100, "v2": 0})
        self.history: list[tuple[float, dict[str, int]]] = [(clock(), dict(self.split))]
        self.traffic_calls: list[dict[str, int]] = []

    def get_endpoint(self, name: str) -> EndpointStatus:
        if name != "ep":
            raise NotFoundError(f"endpoint {name!r} not found")
        return EndpointStatus(
            name="ep", provider=self.name, model="m", state="running", url="http://fake",
            deployments=tuple(DeployedVersion(v, p, Scaling()) for v, p in self.split.items()),
        )

    def get_model_version(self, model: str, version: str = "latest") -> ModelVersion:
        label = normalize_version(version)
        if label not in self.split:
            raise NotFoundError(f"model {model!r} has no version {version!r}")
        return ModelVersion(model=model, version=label, digest="d", uri="u")

    def set_traffic(self, endpoint: str, split: TrafficSplit, **kwargs) -> EndpointStatus:
        self.split = {v: split.get(v, 0) for v in self.split}
        self.traffic_calls.append(dict(self.split))
        self.history.append((self.clock(), dict(self.split)))
        return self.get_endpoint(endpoint)

    def previous_traffic(self, endpoint: str) -> TrafficSplit | None:
        return TrafficSplit(self.history[-2][1]) if len(self.history) > 1 else None

    def version_metrics(self, endpoint: str, version: str, *, since: float, until: float | None = None):
        until = self.clock() if until is None else until
        percent = self.split.get(version, 0)
        measured = self.behaviours.get(version, healthy)(version, percent, until - since)
        if isinstance(measured, VersionMetrics):  # a behaviour that reports every field
            return replace(measured, version=version, window_start=since, window_end=until)
        requests, errors, p99 = measured
        return VersionMetrics(version, requests, errors, p99, since, until)
