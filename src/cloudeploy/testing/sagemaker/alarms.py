"""Evaluating CloudWatch metric alarms the way CloudWatch does; moto only stores them.

:func:`evaluate` reads an alarm's metric (its namespace, name and exact set of
dimensions, and its unit when it has one) from moto's stored datapoints, and
sets the alarm's state from the last ``EvaluationPeriods`` periods:

- each period of ``Period`` seconds gets the alarm's ``Statistic`` (SampleCount,
  Sum, Average, Minimum, Maximum) or ``ExtendedStatistic`` (``p99``...) of its
  datapoints; a period without datapoints is missing;
- ``TreatMissingData`` ``breaching`` / ``notBreaching`` count a missing period as
  breaching / not breaching; ``missing`` (the default) and ``ignore`` leave it
  out, and an alarm with no datapoint at all keeps its state (a new alarm stays
  INSUFFICIENT_DATA; a state set by SetAlarmState stays too);
- ALARM when at least ``DatapointsToAlarm`` (default ``EvaluationPeriods``)
  periods breach, or when fewer periods than that have data and all of them
  breach (CloudWatch's rule for sparse data); OK otherwise.

Approximations, stated here so nobody mistakes them for CloudWatch's: periods
slide back from the moment of evaluation instead of being aligned to the clock,
there is no look-back beyond the evaluation range, ``StateReason`` follows
CloudWatch's wording ("Threshold Crossed: 1 datapoint [0.62 (21/11/26 12:00:00)]
was greater than the threshold (0.3).") but not letter for letter, and metric
math, anomaly-detection and composite alarms are never evaluated.

A state change goes through moto's ``Alarm.update_state`` (which keeps a
history item) and then runs the new state's actions (see ``alarm_actions``).
"""

from __future__ import annotations

import datetime as dt
import json
import operator
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cloudeploy.testing.sagemaker import alarm_actions, backends
from cloudeploy.testing.sagemaker.percentiles import _naive, percentile

INITIAL_REASON = "Unchecked: Initial alarm creation"

_COMPARE = {
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}
# Evaluations come from request threads of the server; one at a time, so a
# transition (and its notification) happens once.
LOCK = threading.RLock()


@dataclass(frozen=True)
class Period:
    """One evaluation period: its start (naive UTC), statistic value (None: no data) and sample count."""

    start: dt.datetime
    value: float | None
    samples: float


def evaluate(account: str, region: str, alarm: Any, *, now: dt.datetime | None = None) -> bool:
    """Re-evaluate one moto ``Alarm`` and apply a state change; True if the state changed."""
    return bool(evaluate_many(account, region, [alarm], now=now))


def evaluate_many(
    account: str, region: str, alarms: Iterable[Any], *, now: dt.datetime | None = None
) -> list[str]:
    """Re-evaluate ``alarms`` (one pass over the stored datapoints); names of those that changed state."""
    now = _naive(now) if now is not None else dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with LOCK:
        evaluable = [a for a in alarms if _evaluable(a)]
        if not evaluable:
            return []
        series = _series(backends.cloudwatch(account, region), evaluable, now)
        changed = []
        for alarm in evaluable:
            periods = _periods(alarm, series.get(_key(alarm), []), now)
            decision = _decide(alarm, periods)
            if decision is None or decision[0] == alarm.state_value:
                continue
            old = alarm.state_value
            state, reason = decision
            alarm.update_state(reason, _reason_data(alarm, periods, now), state)
            alarm_actions.run(account, region, alarm, old)
            changed.append(alarm.name)
        return changed


def evaluate_for_metric(
    account: str, region: str, namespace: str, metric_names: Iterable[str]
) -> list[str]:
    """Re-evaluate every alarm on ``namespace``/``metric_names`` (after PutMetricData)."""
    names = set(metric_names)
    alarms = backends.cloudwatch(account, region).alarms.values()
    return evaluate_many(
        account, region, [a for a in alarms if a.namespace == namespace and a.metric_name in names]
    )


def evaluate_all(account: str, region: str) -> list[str]:
    """Re-evaluate every alarm of the account and region (before DescribeAlarms answers)."""
    return evaluate_many(
        account, region, list(backends.cloudwatch(account, region).alarms.values())
    )


def created(alarm: Any, previous: Any | None) -> None:
    """PutMetricAlarm semantics: a new alarm starts INSUFFICIENT_DATA, an updated one keeps its state.

    moto replaces the alarm object and resets it to OK; this restores what
    CloudWatch keeps. Call it right after moto stored ``alarm``.
    """
    if previous is None:
        alarm.state_value, alarm.state_reason = "INSUFFICIENT_DATA", INITIAL_REASON
        return
    for name in (
        "state_value",
        "state_reason",
        "state_reason_data",
        "state_updated_timestamp",
        "history",
    ):
        setattr(alarm, name, getattr(previous, name))


# -- evaluation ------------------------------------------------------------------


def _evaluable(alarm: Any) -> bool:
    return (
        alarm.rule is None
        and not alarm.metric_data_queries
        and alarm.comparison_operator in _COMPARE
        and bool(alarm.statistic or alarm.extended_statistic)
        and int(alarm.period or 0) > 0
        and int(alarm.evaluation_periods or 0) > 0
    )


def _key(alarm: Any) -> tuple[str, str, frozenset[tuple[str, str]]]:
    return (
        alarm.namespace,
        alarm.metric_name,
        frozenset((d.name, d.value) for d in alarm.dimensions),
    )


def _span(alarm: Any) -> dt.timedelta:
    return dt.timedelta(seconds=int(alarm.period) * int(alarm.evaluation_periods))


def _series(
    backend: Any, alarms: list[Any], now: dt.datetime
) -> dict[tuple, list[tuple[dt.datetime, Any]]]:
    """The stored datapoints of every alarm's metric within the longest evaluation range."""
    wanted = {_key(a) for a in alarms}
    since = now - max(_span(a) for a in alarms)
    found: dict[tuple, list[tuple[dt.datetime, Any]]] = {}
    for datum in backend.metric_data:
        key = (datum.namespace, datum.name, frozenset((d.name, d.value) for d in datum.dimensions))
        if key in wanted:
            timestamp = _naive(datum.timestamp)
            if since < timestamp <= now:
                found.setdefault(key, []).append((timestamp, datum))
    return found


def _periods(alarm: Any, points: list[tuple[dt.datetime, Any]], now: dt.datetime) -> list[Period]:
    """The alarm's evaluation periods, oldest first."""
    length = dt.timedelta(seconds=int(alarm.period))
    count = int(alarm.evaluation_periods)
    buckets: list[list[Any]] = [[] for _ in range(count)]
    for timestamp, datum in points:
        if alarm.unit and datum.unit and datum.unit != alarm.unit:
            continue
        back = int((now - timestamp) / length)
        if back < count:
            buckets[count - 1 - back].append(datum)
    return [
        Period(now - (count - index) * length, *_statistic(alarm, data))
        for index, data in enumerate(buckets)
    ]


def _statistic(alarm: Any, data: list[Any]) -> tuple[float | None, float]:
    """(value, sample count) of one period's datapoints; value None when there is none to compute."""
    values = [float(d.value) for d in data if hasattr(d, "value")]
    stats = [d for d in data if not hasattr(d, "value")]  # datapoints put as StatisticValues
    samples = len(values) + sum(float(d.sample_count) for d in stats)
    if not samples:
        return None, 0.0
    if alarm.extended_statistic:
        # Percentiles need the raw values; aggregated datapoints cannot give them.
        return (
            percentile(values, float(alarm.extended_statistic[1:])) if values else None
        ), samples
    total = sum(values) + sum(float(d.sum) for d in stats)
    value = {
        "SampleCount": samples,
        "Sum": total,
        "Average": total / samples,
        "Minimum": min(values + [float(d.min) for d in stats]),
        "Maximum": max(values + [float(d.max) for d in stats]),
    }.get(alarm.statistic)
    return value, samples


def _decide(alarm: Any, periods: list[Period]) -> tuple[str, str] | None:
    """(new state, reason) from the periods; None when there is no datapoint to decide on."""
    compare, words = _COMPARE[alarm.comparison_operator]
    threshold = float(alarm.threshold)
    treat = alarm.treat_missing_data or "missing"
    present = [p for p in periods if p.value is not None]
    missing = len(periods) - len(present)
    filled = missing if treat in ("breaching", "notBreaching") else 0
    if not present and not filled:
        return None
    breaching = [p for p in present if compare(p.value, threshold)]
    breaches = len(breaching) + (filled if treat == "breaching" else 0)
    outcomes = len(present) + filled
    needed = int(alarm.datapoints_to_alarm or len(periods))
    alarmed = breaches >= needed or (outcomes < needed and breaches == outcomes)
    state = "ALARM" if alarmed else "OK"
    shown = breaching if alarmed else [p for p in present if not compare(p.value, threshold)]
    return state, _reason(
        state, alarm.state_value, shown, len(periods), needed, words, threshold, filled, treat
    )


def _reason(
    state: str,
    old: str,
    shown: list[Period],
    total: int,
    needed: int,
    words: str,
    threshold: float,
    filled: int,
    treat: str,
) -> str:
    """CloudWatch's "Threshold Crossed: ..." wording, approximately."""
    relation = words if state == "ALARM" else f"not {words}"
    points = ", ".join(f"{p.value!r} ({p.start:%d/%m/%y %H:%M:%S})" for p in reversed(shown))
    if shown and total == 1:
        text = f"1 datapoint [{points}] was {relation} the threshold ({threshold!r})"
    elif shown:
        text = (
            f"{len(shown)} out of the last {total} datapoints [{points}] "
            f"{'was' if len(shown) == 1 else 'were'} {relation} the threshold ({threshold!r})"
        )
    else:
        text = f"no datapoints were received for {filled} period{'s' if filled != 1 else ''}"
    if filled:
        label = "Breaching" if treat == "breaching" else "NonBreaching"
        text += f" and {filled} missing datapoint{'s were' if filled != 1 else ' was'} treated as [{label}]"
    if total > 1:
        text += f" (minimum {needed} datapoint{'s' if needed != 1 else ''} for {old} -> {state} transition)"
    return f"Threshold Crossed: {text}."


def _reason_data(alarm: Any, periods: list[Period], now: dt.datetime) -> str:
    present = [p for p in periods if p.value is not None]
    return json.dumps(
        {
            "version": "1.0",
            "queryDate": alarm_actions.timestamp(now),
            "startDate": alarm_actions.timestamp(periods[0].start),
            "statistic": alarm.statistic or None,
            **({"extendedStatistic": alarm.extended_statistic} if alarm.extended_statistic else {}),
            "period": int(alarm.period),
            "recentDatapoints": [p.value for p in present],
            "threshold": float(alarm.threshold),
            "evaluatedDatapoints": [
                {
                    "timestamp": alarm_actions.timestamp(p.start),
                    "sampleCount": p.samples,
                    "value": p.value,
                }
                for p in reversed(present)
            ],
        }
    )
