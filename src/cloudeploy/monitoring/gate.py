"""The ``drift`` rollout gate: the new version's serving data must not show skew above ``max``.

At each step the gate scores the requests the new version captured in the
step's window (``StepWindow.new.window_start``/``window_end``) against the new
version's training baseline and fails when any feature's score exceeds ``max``
(the gate's own threshold for every feature). Fewer than ``min_rows`` captured
rows (default 30) is "cannot judge yet", which neither fails nor blocks a step.

Registered as ``drift`` through the entry-point group ``cloudeploy.rollout_gates``;
``promote --max-drift 0.3`` is ``--gate drift:max=0.3``. ``--gate drift:preset=sensitive``
scores with the ``sensitive`` preset instead (each statistic at its own threshold:
KS / chi² p-values below 0.05, Wasserstein / JS distance above 0.1); ``max`` then
has no meaning and is refused. Works where the
monitoring backend can read captures: local; SageMaker with data capture on;
Vertex AI with the endpoint's request-response logging on (``monitor
configure`` turns it on), read from its BigQuery table. Where captures cannot
be read (logging off, no baseline) the gate reports "not judged" with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from cloudeploy.errors import CloudeployError, ValidationError
from cloudeploy.gating import Gate, GateResult, StepWindow
from cloudeploy.monitoring.backend import backend_for
from cloudeploy.monitoring.capture import capture_columns, has_captures
from cloudeploy.monitoring.metrics import check_preset
from cloudeploy.monitoring.novelty import outlier_share
from cloudeploy.monitoring.run import score, window_attributions
from cloudeploy.monitoring.spec import MonitorSpec

DEFAULT_MIN_ROWS = 30


class DriftGate(Gate):
    """Fails when any feature of the new version's step traffic has skew above ``max_score``."""

    name = "drift"

    def __init__(self, max_score: float, min_rows: int = DEFAULT_MIN_ROWS, preset: str = "vertex") -> None:
        self.max_score = max_score
        self.min_rows = min_rows
        self.preset = preset
        self._baselines: dict[tuple[str, str], dict[str, Any]] = {}

    def describe(self) -> str:
        if self.preset != "vertex":
            return f"no feature of the new version's traffic drifted by the {self.preset} preset's tests"
        return f"skew of every feature in the new version's traffic ≤ {self.max_score:g}"

    def evaluate(self, window: StepWindow) -> GateResult:
        try:
            backend = backend_for(window.provider)
            key = (window.endpoint, window.version)
            if key not in self._baselines:
                self._baselines[key] = backend.baseline(window.endpoint, window.version)
            until = window.new.window_end or time.time()
            since = window.new.window_start or until - 3600.0
            spec = MonitorSpec(default_threshold=self.max_score, window=max(until - since, 1e-3),
                               preset=self.preset)
            source = backend.capture(window.endpoint, window.version, since=since, until=until)
            result = score(source, self._baselines[key], spec, kind="skew", version=window.version,
                           end=until, labels={"endpoint": window.endpoint, "version": window.version})
        except CloudeployError as error:
            return GateResult(self.name, None, None, self.max_score, f"not judged: {error}")
        if result.serving_rows < self.min_rows:
            return GateResult(self.name, None, None, self.max_score,
                              f"{result.serving_rows} captured rows in the window (< {self.min_rows}): not judged")
        worst = result.by_severity()[0] if result.features else None
        value = worst.score if worst is not None and worst.score is not None else 0.0
        breached = [f.name for f in result.breached]
        if self.preset != "vertex":
            return self._preset_result(result, worst, breached)
        detail = (f"skew above {self.max_score:g} on {', '.join(breached)}" if breached
                  else f"largest skew {value:.3f} ({worst.name if worst else '-'})")
        return GateResult(self.name, not breached, value, self.max_score,
                          f"{detail}; {result.serving_rows} rows")

    def _preset_result(self, result: Any, worst: Any, breached: list[str]) -> GateResult:
        """Mixed metrics: the number judged is the worst feature's score against its own threshold."""
        if worst is None or worst.score is None:
            return GateResult(self.name, True, 0.0, 0.0, f"no feature scored; {result.serving_rows} rows")
        described = ", ".join(f"{f.name} ({f.metric} {f.score:.3g} vs {f.threshold:g})"
                              for f in result.breached) if breached else (
            f"worst {worst.name}: {worst.metric} {worst.score:.3g} vs {worst.threshold:g}")
        detail = f"{'drift on ' if breached else ''}{described}; {result.serving_rows} rows"
        return GateResult(self.name, not breached, worst.score, worst.threshold, detail)


def drift_gate(settings: Mapping[str, Any]) -> DriftGate:
    """Gate factory: ``{"max": 0.3, "min_rows": 30}`` or ``{"preset": "sensitive", "min_rows": 30}``."""
    unknown = set(settings) - {"max", "min_rows", "preset"}
    if unknown:
        raise ValidationError(
            f"the drift gate takes max, preset and min_rows, not {', '.join(sorted(unknown))}"
        )
    preset = check_preset(str(settings.get("preset", "vertex")))
    if preset != "vertex":
        if "max" in settings:
            raise ValidationError(
                f"the drift gate's max applies to the vertex preset; the {preset} preset judges each "
                "feature by its own statistic's threshold",
                hint=f"use drift:preset={preset} alone, or drift:max=0.3",
            )
        return DriftGate(0.3, _min_rows(settings), preset)
    if "max" not in settings:
        raise ValidationError("the drift gate needs max, e.g. drift:max=0.3 (or drift:preset=sensitive)")
    limit = settings["max"]
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not 0.0 <= float(limit) <= 1.0:
        raise ValidationError(f"drift gate max must be a number in [0, 1], got {limit!r}")
    return DriftGate(float(limit), _min_rows(settings))


def _min_rows(settings: Mapping[str, Any]) -> int:
    rows = settings.get("min_rows", DEFAULT_MIN_ROWS)
    if isinstance(rows, float) and rows.is_integer():
        rows = int(rows)
    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 1:
        raise ValidationError(f"gate min_rows must be a positive integer, got {rows!r}")
    return rows


class OutlierGate(Gate):
    """Fails when more than ``max_share`` of the new version's step traffic is flagged as outliers.

    The detector is the one in the new version's package (fitted on its training
    data, see :mod:`cloudeploy.monitoring.novelty`); a package without one, or
    fewer than ``min_rows`` captured rows, is "not judged".
    """

    name = "outliers"

    def __init__(self, max_share: float, min_rows: int = DEFAULT_MIN_ROWS) -> None:
        self.max_share = max_share
        self.min_rows = min_rows

    def describe(self) -> str:
        return f"share of the new version's requests flagged as outliers ≤ {self.max_share:.1%}"

    def evaluate(self, window: StepWindow) -> GateResult:
        try:
            backend = backend_for(window.provider)
            detector = backend.novelty(window.endpoint, window.version)
            if detector is None:
                return GateResult(self.name, None, None, self.max_share,
                                  "not judged: the package has no novelty detector (build it with baseline=X_train)")
            until = window.new.window_end or time.time()
            since = window.new.window_start or until - 3600.0
            source = backend.capture(window.endpoint, window.version, since=since, until=until)
            chunks = (capture_columns(source, detector.names, since=since, until=until, version=window.version)
                      if has_captures(source) else [])
            share = outlier_share(detector, chunks, self.max_share)
        except CloudeployError as error:
            return GateResult(self.name, None, None, self.max_share, f"not judged: {error}")
        if share.rows < self.min_rows:
            return GateResult(self.name, None, None, self.max_share,
                              f"{share.rows} captured rows in the window (< {self.min_rows}): not judged")
        return GateResult(self.name, not share.breached, share.share, self.max_share,
                          f"{share.outliers} of {share.rows} rows flagged as outliers")


def outlier_gate(settings: Mapping[str, Any]) -> OutlierGate:
    """Gate factory: ``{"max": 0.05, "min_rows": 30}``."""
    unknown = set(settings) - {"max", "min_rows"}
    if unknown:
        raise ValidationError(f"the outliers gate takes max and min_rows, not {', '.join(sorted(unknown))}")
    limit = settings.get("max", 0.05)
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not 0.0 <= float(limit) <= 1.0:
        raise ValidationError(f"outliers gate max must be a share in [0, 1], got {limit!r}")
    return OutlierGate(float(limit), _min_rows(settings))


class AttributionGate(Gate):
    """Fails when a feature's share of the new version's attributions moves by more than ``max_share``
    from training (or its rank by more than ``max_rank`` places) on the step's traffic."""

    name = "attribution"

    def __init__(self, max_share: float, max_rank: int, min_rows: int = DEFAULT_MIN_ROWS) -> None:
        self.max_share = max_share
        self.max_rank = max_rank
        self.min_rows = min_rows

    def describe(self) -> str:
        return (f"no feature's share of the attributions moves by more than {self.max_share:g} "
                f"(or {self.max_rank} ranks) from training")

    def evaluate(self, window: StepWindow) -> GateResult:
        until = window.new.window_end or time.time()
        since = window.new.window_start or until - 3600.0
        try:
            backend = backend_for(window.provider)
            source = backend.capture(window.endpoint, window.version, since=since, until=until)
        except CloudeployError as error:
            return GateResult(self.name, None, None, self.max_share, f"not judged: {error}")
        spec = MonitorSpec(attribution_threshold=self.max_share, attribution_rank_threshold=self.max_rank)
        drift = window_attributions(backend, window.endpoint, window.version, source, spec, since=since, until=until)
        if "note" in drift:
            return GateResult(self.name, None, None, self.max_share, f"not judged: {drift['note']}")
        if drift["rows"] < self.min_rows:
            return GateResult(self.name, None, None, self.max_share,
                              f"{drift['rows']} captured rows in the window (< {self.min_rows}): not judged")
        worst = drift["features"][0] if drift["features"] else None
        value = abs(worst["share_change"]) if worst else 0.0
        dominant = drift["dominant"]
        detail = (f"attribution drift on {', '.join(drift['breached'])}" if drift["breached"]
                  else "attributions as in training") + (
            f"; dominant feature {dominant['baseline']} -> {dominant['serving']}; {drift['rows']} rows")
        return GateResult(self.name, not drift["breached"], value, self.max_share, detail)


def attribution_gate(settings: Mapping[str, Any]) -> AttributionGate:
    """Gate factory: ``{"max": 0.1, "max_rank": 2, "min_rows": 30}``."""
    unknown = set(settings) - {"max", "max_rank", "min_rows"}
    if unknown:
        raise ValidationError(
            f"the attribution gate takes max, max_rank and min_rows, not {', '.join(sorted(unknown))}")
    limit = settings.get("max", 0.1)
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not 0.0 <= float(limit) <= 1.0:
        raise ValidationError(f"attribution gate max must be a share change in [0, 1], got {limit!r}")
    rank = settings.get("max_rank", 2)
    if isinstance(rank, float) and rank.is_integer():
        rank = int(rank)
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 0:
        raise ValidationError(f"attribution gate max_rank must be a whole number ≥ 0, got {rank!r}")
    return AttributionGate(float(limit), rank, _min_rows(settings))
