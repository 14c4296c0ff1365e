"""Hypothesis strategies over each package's schema, sent to /predict and /invocations (JSON and CSV).

Valid rows get one prediction each; every kind of damage gets a 4xx that says
what was wrong; nothing gets a 5xx; the server keeps answering afterwards.
"""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability.conftest import BODY_LIMIT
from tests.reliability.strategies import (
    as_list,
    csv_body,
    csv_like_text,
    json_body,
    json_values,
    other_media_types,
    rows_of_the_wrong_shape,
    rows_with_one_bad_value,
    valid_rows,
)

FUZZ = settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
JSON_HEADERS = {"content-type": "application/json"}
CSV_HEADERS = {"content-type": "text/csv", "accept": "application/json"}


@pytest.fixture
def client():
    with httpx.Client(timeout=30) as session:
        yield session


@pytest.fixture(autouse=True)
def still_answering(target, client):
    """Whatever a test sent, the server answers readiness afterwards."""
    yield
    assert client.get(f"{target.url}/health").status_code == 200


def error_message(reply: httpx.Response) -> str:
    return reply.json()["error"]["message"]


def test_valid_json_rows_get_one_prediction_each(target, client):
    @FUZZ
    @given(st.lists(valid_rows(target.schema, target.categories), min_size=1, max_size=20))
    def check(instances):
        reply = client.post(f"{target.url}/predict", content=json_body({"instances": instances}), headers=JSON_HEADERS)
        assert reply.status_code == 200, reply.text
        assert len(reply.json()["predictions"]) == len(instances)

    check()


def test_valid_csv_rows_get_one_prediction_each(target, client):
    @FUZZ
    @given(st.lists(valid_rows(target.schema, target.categories), min_size=1, max_size=20))
    def check(instances):
        body = csv_body([as_list(row, target.schema) for row in instances])
        reply = client.post(f"{target.url}/invocations", content=body, headers=CSV_HEADERS)
        assert reply.status_code == 200, f"{reply.text}\n{body!r}"
        assert len(reply.json()["predictions"]) == len(instances)

    check()


def test_a_bad_value_gets_a_400_naming_its_row_and_feature(target, client):
    @FUZZ
    @given(rows_with_one_bad_value(target.schema, target.categories))
    def check(damaged):
        instances, row, feature = damaged
        reply = client.post(f"{target.url}/predict", content=json_body({"instances": instances}), headers=JSON_HEADERS)
        assert reply.status_code == 400, reply.text
        message = error_message(reply)
        if "not valid JSON" not in message:  # 1e999 and NaN tokens break the whole document
            assert f"row {row}" in message and feature in message, message

    check()


def test_a_misshapen_row_gets_a_400_naming_it(target, client):
    @FUZZ
    @given(rows_of_the_wrong_shape(target.schema, target.categories))
    def check(damaged):
        instances, row = damaged
        reply = client.post(f"{target.url}/predict", content=json_body({"instances": instances}), headers=JSON_HEADERS)
        assert reply.status_code == 400, reply.text
        assert f"row {row}" in error_message(reply)

    check()


@pytest.mark.parametrize("route", ["/predict", "/invocations"])
def test_empty_instances_get_a_400(target, client, route):
    reply = client.post(f"{target.url}{route}", content=b'{"instances": []}', headers=JSON_HEADERS)
    assert reply.status_code == 400
    assert "empty" in error_message(reply)


@pytest.mark.parametrize("route", ["/predict", "/invocations"])
def test_arbitrary_json_documents_never_get_a_5xx(target, client, route):
    documents = json_values | st.fixed_dictionaries({"instances": json_values}, optional={"parameters": json_values})

    @FUZZ
    @given(documents)
    def check(document):
        reply = client.post(f"{target.url}{route}", content=json_body(document), headers=JSON_HEADERS)
        assert 400 <= reply.status_code < 500 or reply.status_code == 200, reply.text

    check()


@pytest.mark.parametrize("content_type", ["application/json", "text/csv"])
@pytest.mark.parametrize("route", ["/predict", "/invocations"])
def test_arbitrary_bytes_never_get_a_5xx(target, client, route, content_type):
    @FUZZ
    @given(st.binary(max_size=300))
    def check(body):
        reply = client.post(f"{target.url}{route}", content=body, headers={"content-type": content_type})
        assert 400 <= reply.status_code < 500, reply.text

    check()


def test_malformed_csv_never_gets_a_5xx(target, client):
    @FUZZ
    @given(csv_like_text)
    def check(text):
        reply = client.post(f"{target.url}/invocations", content=text.encode(), headers=CSV_HEADERS)
        assert reply.status_code == 200 or 400 <= reply.status_code < 500, f"{reply.text}\n{text!r}"

    check()


def test_truncated_json_gets_a_400_saying_it_is_not_json(target, client):
    @FUZZ
    @given(st.lists(valid_rows(target.schema, target.categories), min_size=1, max_size=5), st.data())
    def check(instances, data):
        body = json.dumps({"instances": instances}).encode()
        cut = data.draw(st.integers(1, len(body) - 1))
        reply = client.post(f"{target.url}/predict", content=body[:cut], headers=JSON_HEADERS)
        assert reply.status_code == 400
        assert "not valid JSON" in error_message(reply)

    check()


def test_unsupported_content_types_get_a_415(target, client):
    @FUZZ
    @given(other_media_types, st.binary(max_size=50))
    def check(media_type, body):
        reply = client.post(f"{target.url}/invocations", content=body, headers={"content-type": media_type})
        assert reply.status_code == 415, reply.text
        assert media_type in error_message(reply)

    check()


def test_accept_headers_the_server_cannot_answer_get_a_406(target, client):
    @FUZZ
    @given(other_media_types)
    def check(accept):
        reply = client.post(
            f"{target.url}/invocations", content=b'{"instances": [[1]]}', headers={**JSON_HEADERS, "accept": accept}
        )
        assert reply.status_code == 406, reply.text

    check()


def test_batches_within_the_body_limit_are_answered_and_larger_ones_get_a_413(target, client):
    row_size = len(json.dumps(valid_example(target)))
    most_rows = 2 * BODY_LIMIT // row_size

    @settings(FUZZ, max_examples=25)
    @given(st.integers(1, most_rows))
    def check(count):
        body = json.dumps({"instances": [valid_example(target)] * count}).encode()
        reply = client.post(f"{target.url}/predict", content=body, headers=JSON_HEADERS)
        if len(body) <= BODY_LIMIT:
            assert reply.status_code == 200, reply.text
            assert len(reply.json()["predictions"]) == count
        else:
            assert reply.status_code == 413, reply.text

    check()


def valid_example(target) -> list:
    """One valid row in schema order (first category of categorical features, else a number)."""
    return [
        target.categories[f.name][0] if f.name in target.categories else 1.5
        for f in target.schema.features
    ]
