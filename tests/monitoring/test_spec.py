"""MonitorSpec validates itself."""

from __future__ import annotations

import pytest

from cloudeploy.errors import ValidationError
from cloudeploy.monitoring.spec import MonitorSpec, parse_duration


def test_features_without_their_own_threshold_get_vertex_default_of_0_3():
    spec = MonitorSpec(skew_thresholds={"age": 0.1})
    assert spec.threshold_for("age", "skew") == 0.1
    assert spec.threshold_for("city", "skew") == 0.3


def test_skew_and_drift_thresholds_are_separate():
    spec = MonitorSpec(skew_thresholds={"age": 0.1}, drift_thresholds={"age": 0.2})
    assert (spec.threshold_for("age", "skew"), spec.threshold_for("age", "drift")) == (0.1, 0.2)


@pytest.mark.parametrize("threshold", [-0.1, 1.5, "high", True])
def test_thresholds_outside_zero_one_are_refused(threshold):
    with pytest.raises(ValidationError, match="age"):
        MonitorSpec(skew_thresholds={"age": threshold})


@pytest.mark.parametrize("rate", [0, -1, 1.01, "all"])
def test_sample_rate_must_be_in_zero_exclusive_one_inclusive(rate):
    with pytest.raises(ValidationError, match="sample_rate"):
        MonitorSpec(sample_rate=rate)


@pytest.mark.parametrize(
    ("text", "seconds"), [("1h", 3600), ("15m", 900), ("90s", 90), ("2d", 172800), (30, 30)]
)
def test_durations_accept_numbers_and_unit_suffixes(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "0", "-5m", "1w"])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValidationError, match="window"):
        MonitorSpec(window=text)


def test_the_interval_is_rounded_up_to_whole_hours_for_vertex():
    assert MonitorSpec(interval="61m").interval_hours == 2


def test_a_bad_webhook_url_is_refused():
    with pytest.raises(ValidationError, match="webhook_url"):
        MonitorSpec(webhook_url="ftp://example")


def test_a_bad_alert_email_is_refused():
    with pytest.raises(ValidationError, match="e-mail"):
        MonitorSpec(alert_emails=("ops",))


def test_from_dict_round_trips_to_dict():
    spec = MonitorSpec(
        skew_thresholds={"a": 0.2}, window="2h", alert_emails=("ops@example.com",), features=("a",)
    )
    assert MonitorSpec.from_dict(spec.to_dict()) == spec


def test_from_dict_names_unknown_settings():
    with pytest.raises(ValidationError, match="treshold"):
        MonitorSpec.from_dict({"treshold": 0.3})
