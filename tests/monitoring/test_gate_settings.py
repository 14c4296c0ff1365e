"""The drift gate's settings: vertex (``max``) or a preset, refused clearly when they conflict."""

from __future__ import annotations

import pytest

from cloudeploy.errors import ValidationError
from cloudeploy.monitoring.gate import drift_gate
from cloudeploy.rollout.gates import gate_factory


def test_max_builds_a_vertex_gate():
    gate = drift_gate({"max": 0.2})
    assert (gate.preset, gate.max_score) == ("vertex", 0.2)
    assert "≤ 0.2" in gate.describe()


def test_preset_sensitive_builds_a_gate_that_judges_by_each_statistic():
    gate = drift_gate({"preset": "sensitive", "min_rows": 50})
    assert (gate.preset, gate.min_rows) == ("sensitive", 50)
    assert "sensitive" in gate.describe()


def test_the_drift_gate_is_found_through_the_entry_point_group():
    assert gate_factory("drift")({"preset": "sensitive"}).preset == "sensitive"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"preset": "sensitive", "max": 0.3}, "max applies to the vertex preset"),
        ({"preset": "strict"}, "unknown preset 'strict'"),
        ({}, "needs max"),
        ({"max": 0.3, "metric": "psi"}, "takes max, preset and min_rows"),
    ],
)
def test_conflicting_or_unknown_settings_are_refused(settings, message):
    with pytest.raises(ValidationError, match=message):
        drift_gate(settings)


def test_the_outliers_gate_is_registered_and_checks_its_settings():
    gate = gate_factory("outliers")({"max": 0.1, "min_rows": 20})
    assert (gate.max_share, gate.min_rows) == (0.1, 20)
    assert "outliers" in gate.describe()
    with pytest.raises(ValidationError, match="share in"):
        gate_factory("outliers")({"max": 5})
    with pytest.raises(ValidationError, match="takes max and min_rows"):
        gate_factory("outliers")({"limit": 0.1})


def test_the_attribution_gate_is_registered_and_checks_its_settings():
    gate = gate_factory("attribution")({"max": 0.2, "max_rank": 1})
    assert (gate.max_share, gate.max_rank) == (0.2, 1)
    with pytest.raises(ValidationError, match="max_rank must be a whole number"):
        gate_factory("attribution")({"max_rank": -1})
    with pytest.raises(ValidationError, match="takes max, max_rank and min_rows"):
        gate_factory("attribution")({"share": 0.1})
