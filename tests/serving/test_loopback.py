"""A model server bound to loopback answers local programs only, never a web page."""

from __future__ import annotations

import httpx
import pytest

from tests.serving.helpers import ServerProcess, rows


@pytest.fixture(scope="module")
def server(forest_package):
    process = ServerProcess([str(forest_package), "--port", "0"])
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


def test_a_foreign_host_name_is_refused(server, breast_cancer):
    features, _ = breast_cancer
    body = {"instances": rows(features, 0, 1)}
    assert httpx.post(f"{server.url}/predict", json=body, headers={"host": "evil.example"}).status_code == 403
    assert httpx.get(f"{server.url}/metrics", headers={"host": "evil.example:80"}).status_code == 403
    assert httpx.post(f"{server.url}/predict", json=body).status_code == 200


def test_a_cross_site_post_is_refused(server, breast_cancer):
    features, _ = breast_cancer
    content = httpx.Request("POST", "/", json={"instances": rows(features, 0, 1)}).content
    reply = httpx.post(f"{server.url}/predict", content=content,
                       headers={"origin": "https://evil.example", "content-type": "text/plain"})
    assert reply.status_code == 403
    same_machine = httpx.post(f"{server.url}/predict", content=content,
                              headers={"origin": "http://localhost:3000", "content-type": "application/json"})
    assert same_machine.status_code == 200
