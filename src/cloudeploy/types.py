"""Small frozen value types shared by every layer.

They validate themselves on construction, so a bad split or scaling is refused
with a clear :class:`~cloudeploy.errors.ValidationError` before any provider call.
Workflow-specific specs live beside their workflow (``rollout.plan.RolloutPlan``,
``batch.spec.BatchSpec``, ``monitoring.spec.MonitorSpec``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from cloudeploy.errors import ValidationError

_VERSION_RE = re.compile(r"^v?([1-9][0-9]*)$")


def normalize_version(version: str | int) -> str:
    """Return the canonical version label ``"v<N>"`` for ``7``, ``"7"`` or ``"v7"``.

    Raises ValidationError for anything else.
    """
    match = _VERSION_RE.match(str(version).strip())
    if not match:
        raise ValidationError(
            f"invalid version {version!r}", hint="versions look like v1, v2, ... (or 1, 2, ...)"
        )
    return f"v{match.group(1)}"


def version_number(version: str | int) -> int:
    return int(normalize_version(version)[1:])


@dataclass(frozen=True)
class Scaling:
    """How many replicas serve one version, and when to add more.

    ``target`` is the load per replica the autoscaler aims for: CPU utilisation in
    percent when ``metric == "cpu"`` (Vertex AI's default is 60), requests in
    flight per replica for ``metric == "requests"`` (SageMaker maps it to
    invocations per instance per minute via ``options``). ``max_replicas`` defaults
    to ``min_replicas`` (no autoscaling).
    """

    min_replicas: int = 1
    max_replicas: int | None = None
    target: float | None = None
    metric: Literal["cpu", "requests"] = "cpu"

    def __post_init__(self) -> None:
        if self.max_replicas is None:
            object.__setattr__(self, "max_replicas", self.min_replicas)
        for label, value in (("min_replicas", self.min_replicas), ("max_replicas", self.max_replicas)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValidationError(f"{label} must be an integer >= 1, got {value!r}")
        if self.min_replicas > self.max_replicas:  # type: ignore[operator]
            raise ValidationError(
                f"min_replicas ({self.min_replicas}) is greater than max_replicas ({self.max_replicas})"
            )
        if self.target is not None and not (self.target > 0):
            raise ValidationError(f"scaling target must be positive, got {self.target!r}")
        if self.metric not in ("cpu", "requests"):
            raise ValidationError(f"scaling metric must be 'cpu' or 'requests', got {self.metric!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "min_replicas": self.min_replicas,
            "max_replicas": self.max_replicas,
            "target": self.target,
            "metric": self.metric,
        }


@dataclass(frozen=True)
class TrafficSplit(Mapping[str, int]):
    """Percent of an endpoint's traffic per version; integers that sum to 100.

    An empty split is allowed (an endpoint that serves nothing). Versions with 0%
    are kept: they are deployed but receive no traffic.
    """

    percents: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        cleaned: dict[str, int] = {}
        for version, percent in dict(self.percents).items():
            label = normalize_version(version)
            if isinstance(percent, bool) or not isinstance(percent, int):
                if isinstance(percent, float) and percent.is_integer():
                    percent = int(percent)
                else:
                    raise ValidationError(
                        f"traffic for {label} must be a whole percent, got {percent!r}"
                    )
            if percent < 0 or percent > 100:
                raise ValidationError(f"traffic for {label} must be between 0 and 100, got {percent}")
            cleaned[label] = percent
        if cleaned and sum(cleaned.values()) != 100:
            shown = ", ".join(f"{v}={p}" for v, p in cleaned.items())
            raise ValidationError(
                f"traffic split must sum to 100, got {sum(cleaned.values())} ({shown})"
            )
        object.__setattr__(self, "percents", dict(sorted(cleaned.items(), key=lambda kv: version_number(kv[0]))))

    def __getitem__(self, version: str) -> int:
        return self.percents[normalize_version(version)]

    def __iter__(self) -> Iterator[str]:
        return iter(self.percents)

    def __len__(self) -> int:
        return len(self.percents)

    def to_dict(self) -> dict[str, int]:
        return dict(self.percents)

    @classmethod
    def parse(cls, items: list[str] | tuple[str, ...]) -> TrafficSplit:
        """Parse CLI arguments like ``v1=90 v2=10``."""
        percents: dict[str, int] = {}
        for item in items:
            version, sep, value = item.partition("=")
            if not sep:
                raise ValidationError(f"expected VERSION=PERCENT, got {item!r}")
            try:
                percent = int(value)
            except ValueError:
                raise ValidationError(
                    f"traffic for {version} must be a whole percent, got {value!r}"
                ) from None
            percents[version] = percent
        return cls(percents)

    def with_new_version(self, version: str, percent: int) -> TrafficSplit:
        """Give ``version`` ``percent`` and shrink the others proportionally.

        This is Vertex AI's rule for deploying into an endpoint with traffic.
        Rounding leftovers go to the versions with the largest remainders, so the
        result always sums to 100.
        """
        version = normalize_version(version)
        others = {v: p for v, p in self.percents.items() if v != version}
        if not others:
            return TrafficSplit({version: 100})
        if not 0 <= percent <= 100:
            raise ValidationError(f"traffic must be between 0 and 100, got {percent}")
        remaining = 100 - percent
        total = sum(others.values())
        if total == 0:
            shares = {v: 0.0 for v in others}
            if remaining:
                first = next(iter(others))
                shares[first] = float(remaining)
        else:
            shares = {v: p * remaining / total for v, p in others.items()}
        result = {v: int(s) for v, s in shares.items()}
        leftover = remaining - sum(result.values())
        for v, _ in sorted(shares.items(), key=lambda kv: kv[1] - int(kv[1]), reverse=True)[:leftover]:
            result[v] += 1
        result[version] = percent
        return TrafficSplit(result)

    def without(self, version: str) -> TrafficSplit:
        """Drop ``version``, giving its share to the others proportionally."""
        version = normalize_version(version)
        others = {v: p for v, p in self.percents.items() if v != version}
        if not others:
            return TrafficSplit({})
        moved = self.percents.get(version, 0)
        if moved == 0:
            return TrafficSplit(others)
        total = sum(others.values())
        if total == 0:
            first = next(iter(others))
            return TrafficSplit({**others, first: 100})
        shares = {v: p + moved * p / total for v, p in others.items()}
        result = {v: int(s) for v, s in shares.items()}
        leftover = 100 - sum(result.values())
        for v, _ in sorted(shares.items(), key=lambda kv: kv[1] - int(kv[1]), reverse=True)[:leftover]:
            result[v] += 1
        return TrafficSplit(result)


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model."""

    model: str
    version: str
    digest: str
    uri: str
    aliases: tuple[str, ...] = ()
    created_at: str = ""
    framework: str = ""
    framework_version: str = ""
    provider_id: str = ""

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "digest": self.digest,
            "uri": self.uri,
            "aliases": list(self.aliases),
            "created_at": self.created_at,
            "framework": self.framework,
            "framework_version": self.framework_version,
            "provider_id": self.provider_id,
        }


@dataclass(frozen=True)
class DeployedVersion:
    """A model version as deployed on an endpoint."""

    version: str
    traffic: int
    scaling: Scaling
    machine_type: str = ""
    replicas: int = 0
    state: str = "unknown"
    provider_id: str = ""
    #: What answers predictions (``onnx`` for a verified compiled graph, ``sklearn``, ...); "" if unknown.
    runtime: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "runtime": self.runtime,
            "traffic": self.traffic,
            "scaling": self.scaling.to_dict(),
            "machine_type": self.machine_type,
            "replicas": self.replicas,
            "state": self.state,
            "provider_id": self.provider_id,
        }


#: The endpoint states every provider reports in ``EndpointStatus.state`` (docs/providers.md):
#:
#: - ``creating``: being created, nothing serves yet;
#: - ``updating``: a change is being applied, the split before it still serves;
#: - ``serving``: at least one version receives traffic;
#: - ``idle``: it exists but no version receives traffic (nothing deployed, or
#:   every version at 0% after a change made outside cloudeploy);
#: - ``stopped``: stopped on purpose, its state kept (local ``endpoints stop``);
#: - ``deleting``: being deleted;
#: - ``failed``: the provider reports it broken, or it does not answer.
#:
#: The provider's own word is kept in ``EndpointStatus.native_state``.
ENDPOINT_STATES = ("creating", "updating", "serving", "idle", "stopped", "deleting", "failed")


@dataclass(frozen=True)
class EndpointStatus:
    """What an endpoint is doing now, as read back from the provider.

    ``state`` is one of :data:`ENDPOINT_STATES`; ``native_state`` is what the
    provider itself calls it (``InService``, ``running``, ...).
    """

    name: str
    provider: str
    model: str
    state: str
    url: str
    deployments: tuple[DeployedVersion, ...] = ()
    provider_id: str = ""
    native_state: str = ""

    @property
    def traffic(self) -> TrafficSplit:
        """The split; the empty split when no version receives traffic.

        Never raises: an endpoint whose versions all have 0% (possible through
        the cloud's own API) reads as serving nothing, and ``set_traffic`` can
        repair it.
        """
        percents = {d.version: d.traffic for d in self.deployments}
        if not any(percents.values()):
            return TrafficSplit({})
        return TrafficSplit(percents)

    def deployment(self, version: str) -> DeployedVersion | None:
        version = normalize_version(version)
        return next((d for d in self.deployments if d.version == version), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "provider": self.provider,
            "model": self.model,
            "state": self.state,
            "url": self.url,
            "traffic": self.traffic.to_dict(),
            "deployments": [d.to_dict() for d in self.deployments],
            "provider_id": self.provider_id,
            "native_state": self.native_state,
        }

