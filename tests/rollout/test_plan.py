"""RolloutPlan: parsing, validation, files and overrides."""

from __future__ import annotations

import pytest

from cloudeploy.errors import ValidationError
from cloudeploy.rollout.plan import (
    RolloutPlan,
    format_duration,
    parse_duration,
    parse_rate,
    parse_steps,
)


@pytest.mark.parametrize("text, seconds", [("10m", 600), ("30s", 30), ("1h", 3600), ("500ms", 0.5), ("45", 45),
                                           (2.5, 2.5)])
def test_durations_parse_units(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("seconds", [0.5, 30, 600, 3600, 90])
def test_format_duration_round_trips(seconds):
    assert parse_duration(format_duration(seconds)) == seconds


def test_bad_duration_names_the_value():
    with pytest.raises(ValidationError, match="'ten minutes'"):
        parse_duration("ten minutes", what="bake time")


def test_error_rate_accepts_a_fraction_or_a_percent():
    assert parse_rate("1%") == parse_rate(0.01) == pytest.approx(0.01)


def test_error_rate_above_one_is_refused():
    with pytest.raises(ValidationError, match="between 0 and 1"):
        parse_rate("150%")


@pytest.mark.parametrize("steps, message", [("5,25,50", "must be 100"), ("50,25,100", "rise strictly"),
                                            ("0,100", "between 1 and 100"), ("5,x,100", "'x'"), ("", "at least one")])
def test_bad_steps_are_refused_with_the_reason(steps, message):
    with pytest.raises(ValidationError, match=message):
        parse_steps(steps)


def test_plan_normalises_its_fields():
    plan = RolloutPlan(steps="5,25,100", bake_s="2s", max_error_rate="2%", max_p99_ms=300)
    assert (plan.steps, plan.bake_s, plan.max_error_rate, plan.max_p99_ms) == ((5, 25, 100), 2.0, 0.02, 300.0)


def test_max_wait_shorter_than_the_bake_is_refused():
    with pytest.raises(ValidationError, match="shorter than the bake"):
        RolloutPlan(bake_s="1m", max_wait_s="30s")


def test_plan_reads_a_toml_file(tmp_path):
    path = tmp_path / "rollout.toml"
    path.write_text('steps = [10, 100]\nbake = "30s"\nmin_requests = 50\nmax_error_rate = "1%"\nmax_p99_ms = 250\n')
    plan = RolloutPlan.from_file(path)
    assert plan == RolloutPlan(steps=(10, 100), bake_s=30, min_requests=50, max_error_rate=0.01, max_p99_ms=250)


def test_plan_reads_a_yaml_file_under_a_rollout_key(tmp_path):
    path = tmp_path / "rollout.yaml"
    path.write_text("rollout:\n  steps: [20, 60, 100]\n  bake: 1m\n  max_p99_ratio: 1.5\n")
    plan = RolloutPlan.from_file(path)
    assert (plan.steps, plan.bake_s, plan.max_p99_ratio) == ((20, 60, 100), 60.0, 1.5)


def test_unknown_key_in_a_plan_file_is_named(tmp_path):
    path = tmp_path / "rollout.toml"
    path.write_text("stepz = [10, 100]\n")
    with pytest.raises(ValidationError, match="stepz"):
        RolloutPlan.from_file(path)


def test_plan_file_with_another_suffix_is_refused(tmp_path):
    path = tmp_path / "rollout.json"
    path.write_text("{}")
    with pytest.raises(ValidationError, match=".toml, .yaml or .yml"):
        RolloutPlan.from_file(path)


def test_overrides_replace_only_the_given_fields():
    plan = RolloutPlan(steps=(10, 100), bake_s=30, max_p99_ms=200)
    changed = plan.with_overrides(bake_s="5s", max_p99_ms=None)
    assert (changed.steps, changed.bake_s, changed.max_p99_ms) == ((10, 100), 5.0, 200.0)


def test_plan_survives_a_round_trip_through_its_dict():
    plan = RolloutPlan(steps=(25, 50, 75, 100), bake_s=12, min_requests=7, max_p99_ratio=2.0, final_bake=False)
    assert RolloutPlan.from_dict(plan.to_dict()) == plan


def test_unknown_gate_name_is_refused_when_the_plan_is_made():
    with pytest.raises(ValidationError, match="unknown rollout gate 'nonesuch'"):
        RolloutPlan(gates={"nonesuch": {"max": 1}})


def test_describe_lists_steps_bake_and_gates():
    lines = RolloutPlan(steps=(50, 100), bake_s=60, max_error_rate=0.05, max_p99_ms=300).describe()
    assert lines[0] == "steps: 50% → 100%"
    assert any("5.00%" in line for line in lines) and any("300 ms" in line for line in lines)
