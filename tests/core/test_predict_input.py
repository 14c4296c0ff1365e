"""`cloudeploy predict --instances` accepts inline JSON and files."""

from __future__ import annotations

import json

import pytest

from cloudeploy.commands.predict import parse_instances
from cloudeploy.errors import ValidationError


def test_inline_json_rows():
    assert parse_instances("[[1, 2], [3, 4]]") == [[1, 2], [3, 4]]


def test_vertex_body_shape():
    assert parse_instances('{"instances": [{"a": 1}]}') == [{"a": 1}]


def test_a_bare_row_becomes_one_instance():
    assert parse_instances("[1, 2, 3]") == [[1, 2, 3]]


def test_csv_file_rows_keyed_by_header(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("a,b,color\n1,2.5,red\n3,4,blue\n")
    assert parse_instances(f"@{path}") == [{"a": 1.0, "b": 2.5, "color": "red"}, {"a": 3.0, "b": 4.0, "color": "blue"}]


def test_jsonl_file(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ([1, 2], [3, 4])) + "\n")
    assert parse_instances(f"@{path}") == [[1, 2], [3, 4]]


def test_invalid_json_names_the_position():
    with pytest.raises(ValidationError, match="line 1 column"):
        parse_instances("[[1, 2]")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ValidationError, match="not found"):
        parse_instances(f"@{tmp_path / 'nope.json'}")


def test_nan_in_inline_json_is_sent_as_null():
    assert parse_instances("[[1, NaN], [NaN, 2]]") == [[1, None], [None, 2]]


def test_infinity_is_refused_naming_row_and_feature():
    with pytest.raises(ValidationError, match=r"row 1, feature #0: inf is not a finite number"):
        parse_instances("[[1, 2], [Infinity, 2]]")
    with pytest.raises(ValidationError, match=r"row 0, feature 'b'"):
        parse_instances('[{"a": 1, "b": -Infinity}]')


def test_csv_without_a_header_is_sent_as_positional_rows(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("1,2.5,red\n")
    assert parse_instances(f"@{path}") == [[1.0, 2.5, "red"]]


def test_csv_empty_cells_are_missing_values(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("a,b\n1,\n,2\n")
    assert parse_instances(f"@{path}") == [{"a": 1.0, "b": None}, {"a": None, "b": 2.0}]


def test_csv_with_only_a_header_says_so(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("a,b,color\n")
    with pytest.raises(ValidationError, match="the only row is a header"):
        parse_instances(f"@{path}")


def test_dataframe_missing_values_become_null():
    import numpy as np
    import pandas as pd

    from cloudeploy.api import _as_instances

    frame = pd.DataFrame({"a": [1.0, np.nan], "b": ["x", None], "c": pd.array([1, pd.NA], dtype="Int64")})
    assert _as_instances(frame) == [{"a": 1.0, "b": "x", "c": 1}, {"a": None, "b": None, "c": None}]
    assert _as_instances(np.array([[1.0, np.nan]])) == [[1.0, None]]
