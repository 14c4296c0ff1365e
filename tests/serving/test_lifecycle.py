"""Startup, readiness, refusal of bad packages, and graceful drain on SIGTERM."""

from __future__ import annotations

import concurrent.futures
import pickle
import shutil
import signal
import time

import httpx
import pytest

from cloudeploy.packaging.manifest import read_manifest, sha256_file
from tests.serving.helpers import SLOW_ARGS, rows


def test_ready_line_names_the_listening_url(start_server, forest_package):
    server = start_server(forest_package)
    assert server.url.startswith("http://127.0.0.1:")
    assert httpx.get(f"{server.url}/livez").status_code == 200


def test_tampered_package_refuses_to_start(start_server, forest_package, tmp_path):
    package = shutil.copytree(forest_package, tmp_path / "tampered")
    model_file = package / read_manifest(package).model_file
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0x01
    model_file.write_bytes(bytes(data))
    server = start_server(package, ready=False)
    code = server.wait_exit(60)
    assert code != 0
    assert "ready on" not in server.stderr
    assert "Traceback" not in server.stderr
    assert "sha256" in server.stderr.lower() or "digest" in server.stderr.lower()


class _Payload:
    """Unpickling this runs ``open(marker, "w")``: what a malicious model file does."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("protocol", [2, 5])
def test_malicious_pickle_never_runs_when_serving(start_server, forest_package, tmp_path, protocol):
    package = shutil.copytree(forest_package, tmp_path / "malicious")
    marker = tmp_path / "pwned"
    manifest = read_manifest(package)
    model_file = package / manifest.model_file
    model_file.write_bytes(pickle.dumps(_Payload(str(marker)), protocol=protocol))
    # The manifest is rewritten to match, so only the pickle's content can give it away.
    files = dict(manifest.files) | {manifest.model_file: sha256_file(model_file)}
    type(manifest)(**{**manifest.__dict__, "files": files}).write(package)
    server = start_server(package, "--runtime", "sklearn", ready=False)  # the pickle path refuses it
    code = server.wait_exit(60)
    assert code != 0
    assert not marker.exists()
    assert "Traceback" not in server.stderr


def test_sigterm_lets_in_flight_requests_finish_then_exits_0(start_server, slow_package, breast_cancer):
    server = start_server(slow_package, *SLOW_ARGS, "--max-batch", 1)
    features, _ = breast_cancer
    body = {"instances": rows(features)}
    with httpx.Client(timeout=60) as client, concurrent.futures.ThreadPoolExecutor(6) as pool:
        pending = [pool.submit(client.post, f"{server.url}/predict", json=body) for _ in range(6)]
        _wait_for_inflight(client, server.url)
        server.process.send_signal(signal.SIGTERM)
        codes = [future.result().status_code for future in pending]
    assert codes == [200] * 6
    assert server.wait_exit(30) == 0


def test_after_sigterm_new_connections_are_refused(start_server, forest_package):
    server = start_server(forest_package)
    server.process.send_signal(signal.SIGTERM)
    assert server.wait_exit(30) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/livez")


def _wait_for_inflight(client: httpx.Client, url: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in client.get(f"{url}/metrics").text.splitlines():
            if line.startswith("cloudeploy_inflight_requests{") and float(line.rsplit(" ", 1)[1]) >= 2:
                return
        time.sleep(0.01)
    raise AssertionError("requests never became in flight")
