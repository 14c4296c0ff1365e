"""BatchSpec: formats from extensions, refusal of bad specs, errors file naming."""

from __future__ import annotations

import pytest

from cloudeploy.batch.spec import BatchSpec, errors_uri
from cloudeploy.errors import ValidationError


@pytest.mark.parametrize(
    ("uri", "expected"),
    [("data.csv", "csv"), ("gs://b/x/*.jsonl", "jsonl"), ("s3://b/rows.parquet", "parquet"), ("d.ndjson", "jsonl")],
)
def test_formats_default_from_the_extensions(uri, expected):
    spec = BatchSpec(model="m", source=uri, destination=uri)

    assert (spec.input_format, spec.output_format) == (expected, expected)


def test_an_explicit_format_wins_over_the_extension():
    spec = BatchSpec(model="m", source="a.csv", destination="b.csv", output_format="parquet")

    assert spec.output_format == "parquet"


def test_an_unknown_format_is_refused_naming_the_known_ones():
    with pytest.raises(ValidationError, match="unknown output format 'xml'.*csv, jsonl, parquet"):
        BatchSpec(model="m", source="a.csv", destination="b.xml", output_format="xml")


def test_carrying_the_prediction_column_is_refused():
    with pytest.raises(ValidationError, match="prediction"):
        BatchSpec(model="m", source="a.csv", destination="b.csv", carry_columns=("id", "prediction"))


def test_a_column_carried_twice_is_refused():
    with pytest.raises(ValidationError, match="twice: id"):
        BatchSpec(model="m", source="a.csv", destination="b.csv", carry_columns=("id", "id"))


@pytest.mark.parametrize("rate", [-0.1, 1.5, True])
def test_max_error_rate_must_be_a_fraction(rate):
    with pytest.raises(ValidationError, match="max_error_rate"):
        BatchSpec(model="m", source="a.csv", destination="b.csv", max_error_rate=rate)


def test_max_replicas_below_replicas_is_refused():
    with pytest.raises(ValidationError, match="max_replica_count"):
        BatchSpec(model="m", source="a.csv", destination="b.csv", replica_count=3, max_replica_count=2)


def test_output_columns_are_the_carried_columns_then_prediction():
    spec = BatchSpec(model="m", source="a.csv", destination="b.csv", carry_columns=("id", "region"))

    assert spec.output_columns == ["id", "region", "prediction"]


def test_a_spec_survives_a_round_trip_through_a_dict():
    spec = BatchSpec(model="m@v2", source="a.csv", destination="b.parquet", carry_columns=("id",),
                     features=("a", "b"), job_id="nightly-1")

    assert BatchSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(
    ("destination", "expected"),
    [("out/preds.csv", "out/preds.errors.jsonl"), ("gs://b/p/preds.parquet", "gs://b/p/preds.errors.jsonl"),
     ("preds.jsonl", "preds.errors.jsonl")],
)
def test_the_errors_file_sits_beside_the_destination(destination, expected):
    assert errors_uri(destination) == expected
