"""Metrics and row pairs of a shadow run, from the answers a source saw.

Helpers for :class:`~cloudeploy.providers.capabilities.ShadowSource`
implementations: :func:`metrics_from_answers` turns per-request answers into
:class:`~cloudeploy.providers.base.VersionMetrics` (error classes as
everywhere), :func:`row_pairs` pairs two answers to one request row by row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from cloudeploy.providers.base import VersionMetrics
from cloudeploy.providers.capabilities import MAX_PAIRS


def flat_values(value: Any) -> list[Any]:
    """Every scalar in ``value`` (lists flattened, mappings by sorted key)."""
    if isinstance(value, (list, tuple)):
        return [item for part in value for item in flat_values(part)]
    if isinstance(value, Mapping):
        return [item for key in sorted(value, key=str) for item in flat_values(value[key])]
    return [value]


def metrics_from_answers(version: str, answers: Iterable[tuple[int, float | None, Any]], *,
                         since: float, until: float) -> VersionMetrics:
    """VersionMetrics of ``version`` from ``(status, latency_ms or None, predictions or None)`` per request.

    Status classes as everywhere: 4xx input errors, 504 (and 0: no answer in time)
    timeouts, other 5xx model errors; answers with NaN/inf are model errors too.
    """
    requests = input_errors = model_errors = timeouts = non_finite = 0
    latencies: list[float] = []
    labels: dict[str, int] = {}
    values: list[float] = []
    for status, latency, predictions in answers:
        requests += 1
        if latency is not None:
            latencies.append(latency)
        if status in (0, 504):
            timeouts += 1
            continue
        if 400 <= status < 500:
            input_errors += 1
            continue
        if status >= 500:
            model_errors += 1
            continue
        rows = predictions if isinstance(predictions, list) else []
        flat = [v for row in rows for v in flat_values(row)]
        if any(isinstance(v, float) and not math.isfinite(v) for v in flat):
            non_finite += 1
            model_errors += 1
            continue
        for row in rows:
            if isinstance(row, float) and not row.is_integer():
                if len(values) < MAX_PAIRS:
                    values.append(row)
            elif not isinstance(row, (list, dict)):
                labels[str(row)] = labels.get(str(row), 0) + 1
    latencies.sort()
    return VersionMetrics(
        version=version, requests=requests, errors=input_errors + model_errors + timeouts,
        p99_ms=_percentile(latencies, 99), window_start=since, window_end=until,
        input_errors=input_errors, model_errors=model_errors, timeouts=timeouts,
        p50_ms=_percentile(latencies, 50), non_finite=non_finite,
        prediction_counts=labels or None, prediction_values=tuple(values) if values else None,
    )


def _percentile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def row_pairs(serving: Any, candidate: Any) -> list[tuple[Any, Any]]:
    """Row pairs of two answers to one request (none when either is not a list of the same length)."""
    if not isinstance(serving, list) or not isinstance(candidate, list) or len(serving) != len(candidate):
        return []
    return list(zip(serving, candidate, strict=True))
