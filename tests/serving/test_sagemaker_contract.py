"""The SageMaker container contract, over HTTP against a real server process."""

from __future__ import annotations

import httpx

from tests.serving.helpers import rows


def _csv(frame) -> str:
    return "\n".join(",".join(repr(float(v)) for v in row) for row in frame.to_numpy()) + "\n"


def test_ping_answers_200_once_ready(shared_server):
    assert httpx.get(f"{shared_server.url}/ping").status_code == 200


def test_invocations_accepts_the_vertex_json_shape(shared_server, breast_cancer, forest):
    features, _ = breast_cancer
    reply = httpx.post(f"{shared_server.url}/invocations", json={"instances": rows(features, 20, 4)})
    assert reply.status_code == 200
    assert reply.json()["predictions"] == forest.predict(features.iloc[20:24]).tolist()


def test_invocations_accepts_a_bare_json_list(shared_server, breast_cancer, forest):
    features, _ = breast_cancer
    reply = httpx.post(f"{shared_server.url}/invocations", json=rows(features, 30, 3))
    assert reply.json()["predictions"] == forest.predict(features.iloc[30:33]).tolist()


def test_csv_in_gives_csv_out(shared_server, breast_cancer, forest):
    features, _ = breast_cancer
    reply = httpx.post(
        f"{shared_server.url}/invocations", content=_csv(features.iloc[40:46]), headers={"Content-Type": "text/csv"}
    )
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/csv")
    assert reply.text.splitlines() == [str(p) for p in forest.predict(features.iloc[40:46])]


def test_accept_json_answers_csv_input_in_json(shared_server, breast_cancer, forest):
    features, _ = breast_cancer
    reply = httpx.post(
        f"{shared_server.url}/invocations",
        content=_csv(features.iloc[50:52]),
        headers={"Content-Type": "text/csv", "Accept": "application/json"},
    )
    assert reply.json()["predictions"] == forest.predict(features.iloc[50:52]).tolist()


def test_accept_csv_answers_json_input_in_csv(shared_server, breast_cancer, forest):
    features, _ = breast_cancer
    reply = httpx.post(
        f"{shared_server.url}/invocations", json=rows(features, 60, 2), headers={"Accept": "text/csv"}
    )
    assert reply.text.splitlines() == [str(p) for p in forest.predict(features.iloc[60:62])]


def test_csv_header_line_with_the_feature_names_is_skipped(shared_server, breast_cancer, forest):
    features, _ = breast_cancer
    body = ",".join(features.columns) + "\n" + _csv(features.iloc[70:72])
    reply = httpx.post(f"{shared_server.url}/invocations", content=body, headers={"Content-Type": "text/csv"})
    assert reply.text.splitlines() == [str(p) for p in forest.predict(features.iloc[70:72])]


def test_unsupported_content_type_is_415(shared_server):
    reply = httpx.post(
        f"{shared_server.url}/invocations", content=b"<xml/>", headers={"Content-Type": "application/xml"}
    )
    assert reply.status_code == 415
    assert "application/xml" in reply.json()["error"]["message"]


def test_unsatisfiable_accept_is_406(shared_server, breast_cancer):
    features, _ = breast_cancer
    reply = httpx.post(
        f"{shared_server.url}/invocations", json=rows(features), headers={"Accept": "application/x-protobuf"}
    )
    assert reply.status_code == 406


def test_csv_errors_are_plain_text(shared_server):
    reply = httpx.post(f"{shared_server.url}/invocations", content="1,2,3\n", headers={"Content-Type": "text/csv"})
    assert reply.status_code == 400
    assert reply.headers["content-type"].startswith("text/plain")
    assert "row 0" in reply.text
