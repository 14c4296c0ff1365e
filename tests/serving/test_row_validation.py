"""The server's fast path for numeric rows gives exactly what InputSchema.rows gives."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudeploy.packaging.schema import Feature, InputError, InputSchema
from cloudeploy.serving.payloads import RowValidator

SCHEMA = InputSchema.positional(3)
VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**6), 10**6),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
)
INSTANCES = st.lists(st.lists(VALUES, min_size=2, max_size=4), min_size=0, max_size=4)


def _outcome(function, instances):
    try:
        return "ok", function(instances)
    except InputError as error:
        return "error", (error.message, error.row, error.field)


def _same(left, right) -> bool:
    if left[0] != right[0] or left[0] == "error":
        return left == right
    return all(
        len(a) == len(b) and all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True))
        for a, b in zip(left[1], right[1], strict=True)
    )


@settings(max_examples=300, deadline=None)
@given(INSTANCES)
def test_fast_path_agrees_with_the_schema_on_any_input(instances):
    assert _same(_outcome(RowValidator(SCHEMA), instances), _outcome(SCHEMA.rows, instances))


def test_fast_path_returns_floats_in_schema_order():
    assert RowValidator(SCHEMA)([[1, 2.5, -3]]) == [[1.0, 2.5, -3.0]]


def test_integer_features_go_through_the_schema():
    schema = InputSchema(features=(Feature("a", "integer"), Feature("b")))
    assert RowValidator(schema)([[2.0, 3]]) == [[2, 3.0]]


def test_integer_feature_refuses_a_fractional_value_instead_of_truncating_it():
    schema = InputSchema(features=(Feature("rooms", "integer"), Feature("b")))
    with pytest.raises(InputError, match="'rooms' must be a whole number, got 2.5") as caught:
        RowValidator(schema)([[3, 1.0], [2.5, 1.0]])
    assert (caught.value.row, caught.value.field) == (1, "rooms")


def test_errors_name_the_row_and_field():
    with pytest.raises(InputError) as caught:
        RowValidator(SCHEMA)([[1, 2, 3], [1, float("inf"), 3]])
    assert (caught.value.row, caught.value.field) == (1, "x1")


def test_a_value_outside_a_features_categories_is_refused_naming_row_and_feature():
    schema = InputSchema(features=(Feature("rooms", "integer", categories=(1, 2, 3)), Feature("b")))
    with pytest.raises(InputError, match=r"row 1: feature 'rooms' does not accept 7; .*1, 2, 3") as caught:
        schema.rows([[2, 1.0], [7, 1.0]])
    assert (caught.value.row, caught.value.field) == (1, "rooms")


def test_number_features_with_categories_skip_the_fast_path_and_are_checked():
    schema = InputSchema(features=(Feature("a", categories=(0.5, 1.5)), Feature("b")))
    assert RowValidator(schema)([[1.5, 2]]) == [[1.5, 2.0]]
    with pytest.raises(InputError, match="'a' does not accept 2.5"):
        RowValidator(schema)([[2.5, 2]])


def test_a_nullable_categorical_feature_still_accepts_null():
    schema = InputSchema(features=(Feature("city", "string", nullable=True, categories=("lyon",)),))
    assert schema.rows([[None], ["lyon"]]) == [[None], ["lyon"]]
