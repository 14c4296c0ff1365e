"""Scores over time: the same monitoring pass on consecutive windows, for the report's trend plots.

:func:`history` scores ``windows`` consecutive windows of ``spec.window``
seconds ending at ``end`` (oldest first) against the training baseline, and
counts each window's outlier share when a novelty detector is given. Each entry
is ``{"start", "end", "start_iso", "end_iso", "serving_rows", "scores":
{feature: score}, "thresholds": {feature: threshold}, "metrics": {feature: metric},
"outlier_share"}``, JSON-ready; times are epoch seconds and ISO-8601 (UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cloudeploy.errors import ValidationError
from cloudeploy.monitoring.capture import capture_columns, has_captures
from cloudeploy.monitoring.detection import compute_skew
from cloudeploy.monitoring.novelty import outlier_share
from cloudeploy.monitoring.spec import MonitorSpec


def iso(ts: float) -> str:
    """``2026-12-07T12:00:00Z`` for epoch seconds."""
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def history(
    source: Any,
    baseline: dict[str, Any],
    spec: MonitorSpec,
    *,
    end: float,
    windows: int,
    version: str | None = None,
    detector: Any = None,
) -> list[dict[str, Any]]:
    """Skew (and outlier share) of each of the last ``windows`` windows ending at ``end``."""
    if isinstance(windows, bool) or not isinstance(windows, int) or not 1 <= windows <= 500:
        raise ValidationError(f"windows must be a whole number from 1 to 500, got {windows!r}")
    width = float(spec.window)
    captured = has_captures(source)
    entries = []
    for index in range(windows, 0, -1):
        start, stop = end - index * width, end - (index - 1) * width
        result = compute_skew(baseline, source if captured else [], spec, since=start if captured else None,
                              until=stop if captured else None, version=version if captured else None)
        share = None
        if detector is not None and captured:
            chunks = capture_columns(source, detector.names, since=start, until=stop, version=version)
            share = outlier_share(detector, chunks, spec.outlier_threshold).share
        entries.append({
            "start": start, "end": stop, "start_iso": iso(start), "end_iso": iso(stop),
            "serving_rows": result.serving_rows,
            "scores": {f.name: f.score for f in result.features},
            "thresholds": {f.name: f.threshold for f in result.features},
            "metrics": {f.name: f.metric for f in result.features},
            "outlier_share": share,
        })
    return entries
