"""Shadow variants on SageMaker: the service copies live requests to a candidate model.

``start_shadow`` switches the endpoint to a config whose one production variant
is the serving version (its live weight) and whose ``ShadowProductionVariants``
holds the candidate's model as variant ``<version>-shadow``, with
``InitialVariantWeight`` = ``share`` × the production weight: the ratio of the two
weights is the share of requests SageMaker replicates to the shadow variant
(our reading of the developer guide's "shadow variants"; the console calls it
the traffic sampling percentage). Clients are answered by the production variant
only. The service allows exactly one production and one shadow variant in such
a config, so versions deployed at 0% leave the endpoint during the run and come
back with ``stop_shadow``, which re-applies the variants (live weights and
counts) recorded at the start. The shadow variant reports its own CloudWatch
metrics (``VariantName = <version>-shadow``) and, with data capture on, its
captured answers under ``{destination}/{endpoint}/<version>-shadow/``.

:class:`SageMakerShadow` is the provider's shadow source (``provider.shadow_source()``):
``check``/``start`` need the endpoint's data capture on (the shadow variant's
answers are read back from it to compute agreement) and put the candidate in a
shadow variant; ``read`` takes the shadow variant's CloudWatch metrics as the
candidate's, the serving variant's as the baseline, and pairs both variants'
captured answers on the same input; ``stop`` restores the variants as they were.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from cloudeploy.errors import ConflictError, NotFoundError
from cloudeploy.providers.base import ProgressCallback, VersionMetrics, no_progress
from cloudeploy.providers.capabilities import (
    MAX_PAIRS,
    ShadowSource,
    ShadowUnavailable,
    ShadowWindow,
)
from cloudeploy.providers.sagemaker import metrics, naming
from cloudeploy.providers.sagemaker.capture import (
    CapturedEvent,
    _file_time,
    hour_prefixes,
    parse_event,
    split_s3,
)
from cloudeploy.providers.sagemaker.endpoint_config import update_config
from cloudeploy.providers.sagemaker.errors import translated

if TYPE_CHECKING:
    from cloudeploy.providers.sagemaker.provider import SageMakerProvider

SUFFIX = "-shadow"


def shadow_variant(version: str) -> str:
    """The shadow variant's name for ``version`` (never a production variant's name)."""
    return f"{version}{SUFFIX}"


def capture_destination(provider: SageMakerProvider, endpoint: str) -> str | None:
    """The endpoint's data capture ``DestinationS3Uri``, or None when capture is off."""
    description = provider._describe(endpoint)
    if description is None:
        raise NotFoundError(f"endpoint {endpoint!r} not found on sagemaker")
    config = provider._config(description.get("EndpointConfigName")) or {}
    capture = config.get("DataCaptureConfig") or {}
    if not capture.get("EnableCapture", True) or not capture.get("DestinationS3Uri"):
        return None
    return capture["DestinationS3Uri"]


def start_shadow(provider: SageMakerProvider, endpoint: str, serving: str, candidate: str, share: float, *,
                 timeout: float | None = None, progress: ProgressCallback = no_progress) -> list[dict[str, Any]]:
    """Serve ``serving`` with ``candidate`` as its shadow variant; returns the variants to restore."""
    description = provider._ready_description(endpoint, timeout, progress)
    if description is None:
        raise NotFoundError(f"endpoint {endpoint!r} does not exist on sagemaker yet")
    live = provider._live_variants(description)
    for version in (serving, candidate):
        if version not in live:
            raise NotFoundError(f"{version} is not deployed on {endpoint}")
    carrying = sorted(name for name, spec in live.items() if float(spec.get("InitialVariantWeight", 0)) > 0)
    if carrying != [serving]:
        raise ConflictError(
            f"SageMaker copies requests from one production variant only; {endpoint} splits its traffic "
            f"between {', '.join(carrying)}",
            hint=f"move all traffic to one version first (cloudeploy traffic {endpoint} {serving}=100)",
        )
    production = dict(live[serving])
    shadow = {**live[candidate], "VariantName": shadow_variant(candidate),
              "InitialVariantWeight": round(float(production["InitialVariantWeight"]) * share, 6)}
    current = provider._config(description["EndpointConfigName"]) or {}
    progress(f"shadow variant {shadow['VariantName']} on {endpoint}")
    update_config(provider, endpoint, [production], description=description,
                  capture=current.get("DataCaptureConfig"), shadow=[shadow], timeout=timeout, progress=progress,
                  tags=naming.tags(**{"cloudeploy-endpoint": endpoint, "cloudeploy-shadow-of": serving}),
                  failure_hint="the serving version still answers every request")
    return list(live.values())


def stop_shadow(provider: SageMakerProvider, endpoint: str, variants: list[dict[str, Any]], *,
                timeout: float | None = None, progress: ProgressCallback = no_progress) -> None:
    """Serve ``variants`` (as ``start_shadow`` recorded them) again, without the shadow variant."""
    description = provider._ready_description(endpoint, timeout, progress)
    progress(f"removing the shadow variant from {endpoint}")
    current = provider._config((description or {}).get("EndpointConfigName")) or {}
    name = update_config(provider, endpoint, variants, description=description,
                         capture=current.get("DataCaptureConfig"), timeout=timeout, progress=progress,
                         failure_hint="the shadow variant may still receive copies; run the command again")
    provider._delete_old_configs(endpoint, keep=name)


def shadow_metrics(provider: SageMakerProvider, endpoint: str, candidate: str, *, since: float,
                   until: float) -> VersionMetrics:
    """The shadow variant's CloudWatch metrics in the window, labelled as ``candidate``."""
    with translated(f"reading metrics of the shadow variant of {candidate} on {endpoint}"):
        found = metrics.version_metrics(provider.clients.cloudwatch, endpoint=endpoint,
                                        variant=shadow_variant(candidate), since=since, until=until)
    return replace(found, version=candidate)


#: Parsed capture objects kept (they never change once written): a run reads a growing window.
_CACHE: OrderedDict[tuple[str, str], list[CapturedEvent]] = OrderedDict()
_CACHE_SIZE = 50_000
_FILE_SPAN_S = 300.0  # a capture object holds events from its name's time on
#: Capture objects fetched per variant and read at most (see ``captured``).
FETCH_BUDGET = 100


def captured(provider: SageMakerProvider, destination: str, endpoint: str, variant: str, *, since: float,
             until: float, budget: int = FETCH_BUDGET) -> Iterator[CapturedEvent]:
    """``variant``'s captured invocations with ``since <= ts < until``.

    Each object is fetched once; at most ``budget`` objects not fetched before
    are fetched per call (the rest wait for the next call), so a read stays
    cheap where every invocation is its own object (the emulation).
    """
    s3 = provider.clients.s3
    fetched = 0
    bucket, root = split_s3(f"{destination.rstrip('/')}/{endpoint}/{variant}/")
    with translated(f"reading the captures of {endpoint}/{variant}"):
        keys = []
        for prefix in hour_prefixes(root, since - _FILE_SPAN_S, until):
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    stamp = _file_time(item["Key"])
                    if stamp is None or since - _FILE_SPAN_S <= stamp < until:
                        keys.append(item["Key"])
        for key in sorted(keys, reverse=True):  # newest first: the budget goes to the window's own objects
            if (bucket, key) not in _CACHE:
                if fetched >= budget:
                    continue
                fetched += 1
            for event in _object(s3, bucket, key):
                if since <= event.ts < until:
                    yield event


def _object(s3: Any, bucket: str, key: str) -> list[CapturedEvent]:
    events = _CACHE.get((bucket, key))
    if events is None:
        text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode(errors="replace")
        events = [e for e in (parse_event(line) for line in text.splitlines() if line) if e]
        _CACHE[(bucket, key)] = events
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return events


def answer_pairs(provider: SageMakerProvider, destination: str, endpoint: str, serving: str, candidate: str, *,
                 since: float, until: float, limit: int = 10_000) -> list[tuple[Any, Any]]:
    """(serving, candidate) answers per row on the same input, from both variants' captures.

    Captured events are matched on their input: a copied request's shadow
    record has the same payload as the production record it was copied from.
    """
    served: dict[str, Any] = {}
    for event in captured(provider, destination, endpoint, serving, since=since, until=until):
        served[json.dumps(event.instances, sort_keys=True)] = event.predictions
    pairs: list[tuple[Any, Any]] = []
    for event in captured(provider, destination, endpoint, shadow_variant(candidate), since=since, until=until):
        answer = served.get(json.dumps(event.instances, sort_keys=True))
        if isinstance(answer, list) and isinstance(event.predictions, list) and len(answer) == len(event.predictions):
            pairs.extend(zip(answer, event.predictions, strict=True))
    return pairs[-limit:]


class SageMakerShadow(ShadowSource):
    def __init__(self, provider: Any) -> None:
        super().__init__(provider)
        self._restore: dict[str, list[dict[str, Any]]] = {}
        self._destination: dict[str, str] = {}

    def check(self, endpoint: str) -> None:
        destination = capture_destination(self.provider, endpoint)
        if destination is None:
            raise ShadowUnavailable(
                f"endpoint {endpoint} does not capture its requests, so the shadow variant's answers "
                "cannot be compared",
                hint=f"turn data capture on: cloudeploy monitor configure {endpoint} --provider sagemaker",
            )
        self._destination[endpoint] = destination

    def start(self, endpoint: str, serving: str, candidate: str, share: float, *,
              progress: ProgressCallback = no_progress) -> None:
        if endpoint not in self._destination:
            self.check(endpoint)
        self._restore[endpoint] = start_shadow(self.provider, endpoint, serving, candidate, share,
                                                      progress=progress)

    def read(self, endpoint: str, serving: str, candidate: str, *, since: float, until: float) -> ShadowWindow:
        new = shadow_metrics(self.provider, endpoint, candidate, since=since, until=until)
        base = self.provider.version_metrics(endpoint, serving, since=since, until=until)
        pairs = answer_pairs(self.provider, self._destination[endpoint], endpoint, serving, candidate,
                                    since=since, until=until, limit=MAX_PAIRS)
        return ShadowWindow(pairs=pairs, candidate=new, serving=base, mirrored=new.requests)

    def stop(self, endpoint: str, serving: str, candidate: str, *,
             progress: ProgressCallback = no_progress) -> None:
        variants = self._restore.pop(endpoint, None)
        if variants is not None:
            stop_shadow(self.provider, endpoint, variants, progress=progress)
