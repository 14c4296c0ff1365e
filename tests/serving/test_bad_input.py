"""Bad input gets a 4xx that names the row and the field; never a 5xx."""

from __future__ import annotations

import httpx
import pytest

from tests.serving.helpers import rows


def _error(reply: httpx.Response) -> dict:
    assert reply.headers["content-type"].startswith("application/json")
    return reply.json()["error"]


def test_wrong_feature_count_names_the_row(shared_server, breast_cancer):
    features, _ = breast_cancer
    instances = rows(features, 0, 3)
    instances[2] = instances[2][:-1]
    reply = httpx.post(f"{shared_server.url}/predict", json={"instances": instances})
    assert reply.status_code == 400
    error = _error(reply)
    assert error["status"] == "INVALID_ARGUMENT"
    assert "row 2" in error["message"] and "30" in error["message"]


def test_unknown_feature_name_is_named(shared_server, breast_cancer):
    features, _ = breast_cancer
    instance = features.iloc[0].to_dict() | {"colour": 1.0}
    reply = httpx.post(f"{shared_server.url}/predict", json={"instances": [instance]})
    assert reply.status_code == 400
    assert "colour" in _error(reply)["message"]


def test_missing_feature_name_is_named(shared_server, breast_cancer):
    features, _ = breast_cancer
    instance = features.iloc[0].to_dict()
    del instance["mean radius"]
    reply = httpx.post(f"{shared_server.url}/predict", json={"instances": [instance]})
    assert reply.status_code == 400
    assert "mean radius" in _error(reply)["message"]


def test_non_numeric_value_names_row_and_field(shared_server, breast_cancer):
    features, _ = breast_cancer
    instances = features.iloc[0:2].to_dict(orient="records")
    instances[1]["mean texture"] = "rough"
    reply = httpx.post(f"{shared_server.url}/predict", json={"instances": instances})
    assert reply.status_code == 400
    message = _error(reply)["message"]
    assert "row 1" in message and "mean texture" in message


def test_null_value_is_refused_for_a_non_nullable_feature(shared_server, breast_cancer):
    features, _ = breast_cancer
    instance = rows(features)[0]
    instance[4] = None
    reply = httpx.post(f"{shared_server.url}/predict", json={"instances": [instance]})
    assert reply.status_code == 400
    assert "mean smoothness" in _error(reply)["message"]


def test_nan_in_csv_names_row_and_field(shared_server, breast_cancer):
    features, _ = breast_cancer
    cells = [str(v) for v in rows(features)[0]]
    cells[0] = "nan"
    body = ",".join(str(v) for v in rows(features, 1)[0]) + "\n" + ",".join(cells) + "\n"
    reply = httpx.post(
        f"{shared_server.url}/invocations", content=body, headers={"Content-Type": "text/csv", "Accept": "application/json"}
    )
    assert reply.status_code == 400
    message = _error(reply)["message"]
    assert "row 1" in message and "mean radius" in message


def test_empty_csv_cell_is_a_missing_value(shared_server, breast_cancer):
    features, _ = breast_cancer
    cells = [str(v) for v in rows(features)[0]]
    cells[29] = ""
    reply = httpx.post(
        f"{shared_server.url}/invocations", content=",".join(cells), headers={"Content-Type": "text/csv"}
    )
    assert reply.status_code == 400
    assert "worst fractal dimension" in reply.text


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"rows": [[1, 2]]}', "instances"),
        (b'{"instances": []}', "empty"),
        (b'{"instances": "abc"}', "list of rows"),
        (b'{"instances": [5]}', "row 0"),
        (b'{"instances": [[1]], "parameters": 3}', "parameters"),
        (b"[[1, 2, 3]]", "instances"),
        (b'{"instances": [[NaN]]}', "not valid JSON"),
    ],
)
def test_malformed_predict_body_is_400_with_a_reason(shared_server, body, fragment):
    reply = httpx.post(f"{shared_server.url}/predict", content=body, headers={"Content-Type": "application/json"})
    assert reply.status_code == 400
    assert fragment in _error(reply)["message"]


def test_unknown_route_is_a_json_404(shared_server):
    reply = httpx.get(f"{shared_server.url}/nothing-here")
    assert reply.status_code == 404
    assert _error(reply)["status"] == "NOT_FOUND"


def test_wrong_method_is_405(shared_server):
    assert httpx.get(f"{shared_server.url}/predict").status_code == 405
