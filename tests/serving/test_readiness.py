"""Liveness is distinct from readiness: ready only once the model is loaded."""

from __future__ import annotations

import threading
import time
import warnings

from cloudeploy.packaging import load_package
from cloudeploy.serving import ServerSettings, create_app

with warnings.catch_warnings():  # starlette nags about httpx; the client works the same
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def _app_loading_until(gate: threading.Event, package):
    def loader():
        gate.wait(10)
        return load_package(package)

    return create_app(settings=ServerSettings(), loader=loader)


def _wait_for(client: TestClient, path: str, status: int) -> None:
    deadline = time.monotonic() + 10
    while client.get(path).status_code != status:
        assert time.monotonic() < deadline, f"{path} never answered {status}"
        time.sleep(0.01)


def test_liveness_answers_while_the_model_is_loading(forest_package):
    gate = threading.Event()
    with TestClient(_app_loading_until(gate, forest_package)) as client:
        assert client.get("/livez").status_code == 200
        gate.set()


def test_readiness_routes_answer_503_until_the_model_is_loaded(forest_package):
    gate = threading.Event()
    with TestClient(_app_loading_until(gate, forest_package)) as client:
        assert [client.get(path).status_code for path in ("/health", "/ping", "/readyz")] == [503] * 3
        gate.set()
        _wait_for(client, "/health", 200)
        assert [client.get(path).status_code for path in ("/ping", "/readyz")] == [200, 200]


def test_predict_before_the_model_is_loaded_is_503_with_retry_after(forest_package):
    gate = threading.Event()
    with TestClient(_app_loading_until(gate, forest_package)) as client:
        reply = client.post("/predict", json={"instances": [[0.0] * 30]})
        gate.set()
    assert reply.status_code == 503
    assert reply.headers["retry-after"]


def test_readiness_turns_503_while_draining(forest_package):
    app = create_app(load_package(forest_package), ServerSettings())
    with TestClient(app) as client:
        app.state.server.draining = True
        assert client.get("/health").status_code == 503
        assert client.get("/livez").status_code == 200


def test_a_failed_load_is_reported_and_never_ready(tmp_path):
    failures = []

    def loader():
        raise RuntimeError("disk on fire")

    app = create_app(settings=ServerSettings(), loader=loader, on_failed=failures.append)
    with TestClient(app) as client:
        deadline = time.monotonic() + 5
        while not failures and time.monotonic() < deadline:
            time.sleep(0.01)
        assert client.get("/health").status_code == 503
    assert str(failures[0]) == "disk on fire"
