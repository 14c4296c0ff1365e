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
