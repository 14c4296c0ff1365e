"""Prometheus metrics and sampled request/response capture, from a real server process."""

from __future__ import annotations

import re
import signal
import time

import httpx
import pytest

from tests.serving.helpers import ServerProcess, rows

CAPTURE_KEYS = {"ts", "request_id", "model", "version", "features", "instances", "predictions", "latency_ms"}


@pytest.fixture(scope="module")
def capture_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("capture")


@pytest.fixture(scope="module")
def capturing_server(forest_package, capture_dir):
    server = ServerProcess(
        [str(forest_package), "--port", "0", "--version", "v2", "--capture-dir", str(capture_dir)]
    )
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_count_requests_by_route_and_code(capturing_server, breast_cancer):
    features, _ = breast_cancer
    url = capturing_server.url
    before = httpx.get(f"{url}/metrics").text
    for i in range(3):
        httpx.post(f"{url}/predict", json={"instances": rows(features, i)})
    httpx.post(f"{url}/invocations", json={"instances": [[1.0]]})
    after = httpx.get(f"{url}/metrics").text

    def delta(**labels):
        return _metric(after, "cloudeploy_requests_total", **labels) - _metric(before, "cloudeploy_requests_total", **labels)

    assert delta(route="predict", code="200", version="v2", model="breast-cancer") == 3
    assert delta(route="invocations", code="400") == 1


def test_metrics_count_errors_separately(capturing_server):
    url = capturing_server.url
    before = _metric(httpx.get(f"{url}/metrics").text, "cloudeploy_request_errors_total", code="400")
    httpx.post(f"{url}/predict", json={"instances": []})
    after = _metric(httpx.get(f"{url}/metrics").text, "cloudeploy_request_errors_total", code="400")
    assert after - before == 1


def test_metrics_have_latency_and_batch_size_histograms(capturing_server, breast_cancer):
    features, _ = breast_cancer
    url = capturing_server.url
    httpx.post(f"{url}/predict", json={"instances": rows(features, 0, 5)})
    text = httpx.get(f"{url}/metrics").text
    assert _metric(text, "cloudeploy_request_duration_seconds_bucket", route="predict", le="+Inf") >= 1
    assert _metric(text, "cloudeploy_batch_rows_bucket", le="4.0") < _metric(text, "cloudeploy_batch_rows_bucket", le="+Inf")


def test_capture_writes_one_line_per_request_in_the_shared_format(capturing_server, capture_dir, breast_cancer, forest):
    features, _ = breast_cancer
    instances = rows(features, 100, 2)
    reply = httpx.post(
        f"{capturing_server.url}/predict", json={"instances": instances}, headers={"X-Request-Id": "capture-test"}
    )
    record = _wait_for_record(capture_dir, "capture-test")
    assert set(record) == CAPTURE_KEYS
    assert record["instances"] == instances
    assert record["predictions"] == reply.json()["predictions"] == forest.predict(features.iloc[100:102]).tolist()
    assert record["features"] == list(features.columns)
    assert (record["model"], record["version"]) == ("breast-cancer", "v2")
    assert abs(record["ts"] - time.time()) < 60 and record["latency_ms"] > 0


def test_capture_files_are_named_by_pid_and_utc_hour(capturing_server, capture_dir, breast_cancer):
    features, _ = breast_cancer
    httpx.post(f"{capturing_server.url}/predict", json={"instances": rows(features)}, headers={"X-Request-Id": "name-test"})
    record = _wait_for_record(capture_dir, "name-test")
    hour = time.strftime("%Y%m%d%H", time.gmtime(record["ts"]))
    assert (capture_dir / f"capture-{capturing_server.pid}-{hour}.raw").is_file()


def test_failed_requests_are_not_captured(capturing_server, capture_dir):
    httpx.post(f"{capturing_server.url}/predict", json={"instances": [[1]]}, headers={"X-Request-Id": "bad-one"})
    httpx.post(f"{capturing_server.url}/predict", json={"instances": [[0.0] * 30]}, headers={"X-Request-Id": "after-bad"})
    _wait_for_record(capture_dir, "after-bad")
    assert "bad-one" not in [r["request_id"] for r in _records(capture_dir)]


def test_capture_sample_zero_writes_nothing(start_server, forest_package, tmp_path, breast_cancer):
    features, _ = breast_cancer
    server = start_server(forest_package, "--capture-dir", tmp_path, "--capture-sample", 0)
    for i in range(3):
        httpx.post(f"{server.url}/predict", json={"instances": rows(features, i)})
    server.process.send_signal(signal.SIGTERM)
    assert server.wait_exit() == 0
    assert list(tmp_path.iterdir()) == []


def _records(directory) -> list[dict]:
    from cloudeploy.monitoring.capture import read_capture

    # The server writes raw lines (serving/capture_raw.py); read_capture reads every capture format.
    return list(read_capture(directory))


def _wait_for_record(directory, request_id: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in _records(directory):
            if record["request_id"] == request_id:
                return record
        time.sleep(0.02)
    raise AssertionError(f"no capture record for {request_id}")
