"""Body size limit and overload protection."""

from __future__ import annotations

import concurrent.futures

import httpx
import pytest

from tests.serving.helpers import SLOW_ARGS, ServerProcess, rows


@pytest.fixture(scope="module")
def limited_server(forest_package):
    server = ServerProcess([str(forest_package), "--port", "0", "--max-body-bytes", "2000"])
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def test_body_over_the_limit_is_413(limited_server, breast_cancer):
    server = limited_server
    features, _ = breast_cancer
    reply = httpx.post(f"{server.url}/predict", json={"instances": rows(features, 0, 20)})
    assert reply.status_code == 413
    assert "2000" in reply.json()["error"]["message"]


def test_chunked_body_over_the_limit_is_413(limited_server):
    server = limited_server

    def chunks():
        for _ in range(10):
            yield b"[" * 500

    reply = httpx.post(f"{server.url}/predict", content=chunks())
    assert reply.status_code == 413


def test_body_under_the_limit_is_served(limited_server, breast_cancer):
    server = limited_server
    features, _ = breast_cancer
    assert httpx.post(f"{server.url}/predict", json={"instances": rows(features)}).status_code == 200


def test_overload_beyond_the_queue_is_503_with_retry_after(start_server, slow_package, breast_cancer):
    server = start_server(slow_package, *SLOW_ARGS, "--max-queue", 2, "--max-batch", 1)
    features, _ = breast_cancer
    body = {"instances": rows(features)}
    with httpx.Client(timeout=60) as client, concurrent.futures.ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda _: client.post(f"{server.url}/predict", json=body), range(16)))
    codes = [reply.status_code for reply in replies]
    assert set(codes) == {200, 503}
    rejected = [reply for reply in replies if reply.status_code == 503]
    assert all(reply.headers.get("retry-after") for reply in rejected)
    assert all(reply.json()["error"]["status"] == "UNAVAILABLE" for reply in rejected)


@pytest.mark.parametrize("client", ["requests", "urllib", "httpx"])
def test_a_large_body_gets_a_413_every_python_client_can_read(limited_server, client):
    """The server reads and drops the rest of the body before answering, so the
    client finishes sending and reads the 413 instead of a broken pipe or a reset."""
    url = f"{limited_server.url}/predict"
    body = b"[" + b"1," * (8 << 20) + b"1]"  # 16 MiB: far past the socket buffers
    headers = {"content-type": "application/json"}
    if client == "requests":
        import requests

        status = requests.post(url, data=body, headers=headers, timeout=60).status_code
    elif client == "urllib":
        import urllib.error
        import urllib.request

        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers, method="POST"), timeout=60)
        status = raised.value.code
    else:
        status = httpx.post(url, content=body, headers=headers, timeout=60).status_code
    assert status == 413


def test_a_client_that_disconnects_mid_request_is_not_a_failure(limited_server):
    """Half a body, then the socket closes: no 'prediction failed', no traceback, no error counted."""
    import socket
    import time
    from urllib.parse import urlsplit

    parts = urlsplit(limited_server.url)
    for _ in range(3):
        with socket.create_connection((parts.hostname, parts.port)) as sock:
            sock.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 1000\r\n\r\n{\"instances\": [[")
    time.sleep(1.0)
    metrics = httpx.get(f"{limited_server.url}/metrics").text
    assert "prediction failed" not in limited_server.stderr
    assert "Traceback" not in limited_server.stderr
    assert 'class="internal"' not in metrics
