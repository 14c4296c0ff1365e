"""Traffic arguments checked once, for every provider.

:class:`~cloudeploy.providers.base.Provider` validates what callers give it
here before any provider primitive runs, so the three providers cannot drift
apart (they did: one accepted ``True`` and ``12.5`` as a percent):

- a percent is a whole ``int`` 0..100: ``True``, ``12.5``, ``12.0`` and ``"12"`` are refused;
- a split gives whole percents summing to 100 to versions that are deployed;
  versions it leaves out get 0;
- the empty split ``{}`` is refused while a version is deployed: an endpoint
  sends all its traffic somewhere (to stop serving, undeploy or delete).

It also plans the split a deploy or undeploy leads to (Vertex AI's rule: the
others shrink or grow proportionally), once, instead of in each provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudeploy.errors import NotFoundError, ValidationError
from cloudeploy.types import EndpointStatus, TrafficSplit, normalize_version, version_number


def check_percent(percent: Any, what: str = "traffic") -> int:
    """``percent`` if it is a whole int 0..100, else ValidationError naming it."""
    if isinstance(percent, bool) or not isinstance(percent, int):
        raise ValidationError(f"{what} must be a whole percent 0..100, got {percent!r}")
    if not 0 <= percent <= 100:
        raise ValidationError(f"{what} must be between 0 and 100, got {percent}")
    return percent


def check_split(split: Mapping[str, Any] | TrafficSplit) -> TrafficSplit:
    """``split`` as a TrafficSplit, its percents whole ints (floats and bools refused)."""
    if isinstance(split, TrafficSplit):
        return split
    if not isinstance(split, Mapping):
        raise ValidationError(f"a traffic split maps versions to percents, got {type(split).__name__}")
    for version, percent in split.items():
        check_percent(percent, f"traffic for {version}")
    return TrafficSplit(dict(split))


def full_split(split: TrafficSplit, current: EndpointStatus) -> TrafficSplit:
    """``split`` over every version deployed on ``current`` (those left out get 0).

    NotFoundError if it names a version not deployed there; ValidationError if
    it is empty while a version is deployed.
    """
    deployed = [d.version for d in current.deployments]
    unknown = sorted((v for v in split if v not in deployed), key=version_number)
    if unknown:
        raise NotFoundError(
            f"{', '.join(unknown)} not deployed on endpoint {current.name} "
            f"(deployed: {', '.join(deployed) or 'none'})",
            hint="deploy a version before giving it traffic",
        )
    if not split and deployed:
        raise ValidationError(
            f"an empty traffic split would leave endpoint {current.name} serving nothing",
            hint=f"give the deployed versions ({', '.join(deployed)}) 100% in total; "
            "to stop serving, undeploy versions or delete the endpoint",
        )
    return TrafficSplit({v: split.percents.get(v, 0) for v in deployed})


def deploy_split(current: EndpointStatus, version: str, traffic: int | None) -> TrafficSplit:
    """The split after deploying ``version`` with ``traffic`` (see ``Provider.deploy``).

    ``None`` keeps an already deployed version's percent; a new version gets
    100 when no other version receives traffic, else 0. The others shrink
    proportionally.
    """
    version = normalize_version(version)
    before = current.traffic
    deployed = current.deployment(version) is not None
    if traffic is None:
        if deployed and before:
            return full_split(before, current)
        others_serve = any(p for v, p in before.items() if v != version)
        traffic = 0 if others_serve else 100
    others = {d.version: before.percents.get(d.version, 0) for d in current.deployments if d.version != version}
    if not any(others.values()):
        # Nothing else serves: this version takes all the traffic whatever was asked,
        # or the endpoint would serve nothing.
        return TrafficSplit({**others, version: 100})
    return full_split(before, current).with_new_version(version, traffic)


def undeploy_split(current: EndpointStatus, version: str) -> TrafficSplit:
    """The split of the versions left after ``version`` goes (its share moves proportionally)."""
    version = normalize_version(version)
    before = current.traffic
    if not before:
        return TrafficSplit({})
    return TrafficSplit({d.version: before.percents.get(d.version, 0) for d in current.deployments}).without(version)
