"""The loopback guard refuses what a web page can send to a local server, and nothing an SDK sends."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from cloudeploy.serving.guard import LoopbackGuard, WSGILoopbackGuard, refusal

ALLOWED = frozenset({"models.internal"})


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.0.0.1:8080", "localhost:1", "[::1]:9000", "127.3.4.5", "models.internal:80"]
)
def test_loopback_and_configured_hosts_pass(host):
    assert refusal("POST", "/predict", {"host": host, "content-type": "application/json"}, allowed=ALLOWED) is None


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "", "127.0.0.1.evil.example", "10.0.0.1"])
def test_other_hosts_are_refused(host):
    status, message = refusal("GET", "/_cloudeploy/status", {"host": host}, allowed=ALLOWED)
    assert status == 403 and "not allowed" in message


def test_cross_origin_writes_are_refused_but_reads_are_not():
    headers = {"host": "127.0.0.1:9", "origin": "https://evil.example", "content-type": "text/plain"}
    assert refusal("POST", "/predict", headers, allowed=ALLOWED)[0] == 403
    assert refusal("GET", "/metrics", headers, allowed=ALLOWED) is None
    assert refusal("POST", "/predict", {**headers, "origin": "http://localhost:3000"}, allowed=ALLOWED) is None
    assert refusal("POST", "/x", {"host": "127.0.0.1", "sec-fetch-site": "cross-site"}, allowed=ALLOWED)[0] == 403
    assert refusal("POST", "/x", {"host": "127.0.0.1", "origin": "null"}, allowed=ALLOWED)[0] == 403


def test_json_control_routes_need_a_json_content_type():
    headers = {"host": "127.0.0.1", "content-type": "text/plain"}
    assert refusal("POST", "/cloudeploy/faults", headers, allowed=ALLOWED, json_paths=("/cloudeploy/",))[0] == 415
    ok = {**headers, "content-type": "application/json; charset=utf-8"}
    assert refusal("POST", "/cloudeploy/faults", ok, allowed=ALLOWED, json_paths=("/cloudeploy/",)) is None


def test_the_environment_adds_allowed_hosts(monkeypatch):
    monkeypatch.setenv("CLOUDEPLOY_ALLOWED_HOSTS", "box.lan, other.lan")
    app = LoopbackGuard(_app())
    with TestClient(app, base_url="http://box.lan") as client:
        assert client.get("/").status_code == 200


def test_asgi_guard_answers_json_and_passes_sdk_requests():
    app = LoopbackGuard(_app(), json_paths=("/control",))
    with TestClient(app, base_url="http://127.0.0.1:5") as client:
        assert client.post("/control", json={}).status_code == 200
        refused = client.post("/control", content=b"{}", headers={"content-type": "text/plain"})
        assert refused.status_code == 415 and refused.json()["error"]["code"] == 415
        assert client.get("/", headers={"host": "evil.example"}).status_code == 403


def test_wsgi_guard():
    def inner(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    guard = WSGILoopbackGuard(inner)
    seen = {}

    def start_response(status, headers):
        seen["status"] = status

    assert guard({"REQUEST_METHOD": "POST", "PATH_INFO": "/", "HTTP_HOST": "localhost:5000"}, start_response) == [b"ok"]
    body = guard({"REQUEST_METHOD": "POST", "PATH_INFO": "/", "HTTP_HOST": "evil.example"}, start_response)
    assert seen["status"].startswith("403") and b"not allowed" in body[0]
    guard({"REQUEST_METHOD": "POST", "PATH_INFO": "/", "HTTP_HOST": "127.0.0.1", "HTTP_ORIGIN": "https://x.example"},
          start_response)
    assert seen["status"].startswith("403")


def _app():
    async def ok(request):
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/", ok, methods=["GET", "POST"]), Route("/control", ok, methods=["POST"])])
