"""Local endpoints: real gateway and replica processes on 127.0.0.1."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from cloudeploy.errors import ConflictError, OperationFailed, ProviderError, ValidationError
from cloudeploy.packaging import build_package
from cloudeploy.packaging.manifest import read_manifest
from cloudeploy.providers.local.processes import pid_alive
from cloudeploy.testing.conformance import fitted_classifier, sample_instances
from cloudeploy.types import Scaling, TrafficSplit


def _serve_v1(provider, tmp_path, name="ep", **options):
    package = build_package(fitted_classifier(0), tmp_path / "p0", name=name).path
    version = provider.upload_model(package, name)
    provider.create_endpoint(name, model=name, options=options or None)
    provider.deploy(name, version)
    return version


def test_every_answer_names_the_version_in_header_and_body(local_provider, tmp_path):
    _serve_v1(local_provider, tmp_path)
    url = local_provider.get_endpoint("ep").url
    answer = httpx.post(f"{url}/predict", json={"instances": sample_instances(2)})
    assert answer.status_code == 200
    assert answer.headers["x-cloudeploy-version"] == "v1"
    assert answer.json()["modelVersionId"] == "v1"


def test_sagemaker_style_invocations_work_through_the_gateway(local_provider, tmp_path):
    _serve_v1(local_provider, tmp_path)
    url = local_provider.get_endpoint("ep").url
    rows = sample_instances(3)
    csv_body = "\n".join(",".join(str(v) for v in row) for row in rows)
    answer = httpx.post(f"{url}/invocations", content=csv_body, headers={"content-type": "text/csv"})
    assert answer.status_code == 200
    expected = fitted_classifier(0).predict(rows).tolist()
    assert [int(float(line)) for line in answer.text.strip().splitlines()] == expected


def test_bad_input_is_a_validation_error_naming_the_row(local_provider, tmp_path):
    _serve_v1(local_provider, tmp_path)
    with pytest.raises(ValidationError, match="row 1"):
        local_provider.predict("ep", [[0.1, 0.2, 0.3, 0.4], [0.1, "abc", 0.3, 0.4]])


def test_endpoint_keeps_serving_after_stop_and_start(local_provider, tmp_path):
    _serve_v1(local_provider, tmp_path)
    stopped = local_provider.stop_endpoint("ep")
    assert stopped.state == "stopped"
    with pytest.raises(ProviderError, match="stopped"):
        local_provider.predict("ep", sample_instances(1))
    started = local_provider.start_endpoint("ep")
    assert (started.state, started.native_state) == ("serving", "running")
    assert started.traffic.to_dict() == {"v1": 100}
    assert local_provider.predict("ep", sample_instances(1)).version == "v1"


def test_stopping_ends_gateway_and_replicas(local_provider, tmp_path):
    _serve_v1(local_provider, tmp_path)
    status = httpx.get(f"{local_provider.get_endpoint('ep').url}/_cloudeploy/status").json()
    replica_pids = status["versions"]["v1"]["pids"]
    gateway_pid = local_provider.store.endpoint("ep").gateway_pid
    local_provider.stop_endpoint("ep")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(pid_alive(p) for p in [gateway_pid, *replica_pids]):
        time.sleep(0.1)
    assert not any(pid_alive(p) for p in [gateway_pid, *replica_pids])


def test_a_port_in_use_is_refused_and_creates_nothing(local_provider, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConflictError, match=str(port)):
            local_provider.create_endpoint("ep", model="ep", options={"port": port})
    assert local_provider.store.endpoint("ep") is None


def test_failed_deploy_leaves_the_previous_version_serving(local_provider, tmp_path):
    _serve_v1(local_provider, tmp_path)
    # Without a compiled graph (which needs no scikit-learn), so that the replica loads the pickle.
    broken = build_package(fitted_classifier(1), tmp_path / "broken", name="ep", compile=False).path
    # A package whose recorded scikit-learn differs from the installed one: the
    # replica refuses to load it, after the upload accepted it.
    manifest = read_manifest(broken)
    frameworks = {**manifest.frameworks, "scikit-learn": "0.0.1"}
    type(manifest)(**{**manifest.__dict__, "frameworks": frameworks}).write(broken)
    v2 = local_provider.upload_model(broken, "ep")
    with pytest.raises(OperationFailed, match="v2"):
        local_provider.deploy("ep", v2, traffic=50)
    status = local_provider.get_endpoint("ep")
    assert status.traffic.to_dict() == {"v1": 100}
    assert [d.version for d in status.deployments] == ["v1"]
    assert local_provider.predict("ep", sample_instances(1)).version == "v1"


def test_traffic_split_is_observed(local_provider, tmp_path):
    _serve_v1(local_provider, tmp_path)
    v2 = local_provider.upload_model(build_package(fitted_classifier(1), tmp_path / "p1", name="ep").path, "ep")
    local_provider.deploy("ep", v2, traffic=30)
    url = local_provider.get_endpoint("ep").url
    with httpx.Client() as client:
        versions = [
            client.post(f"{url}/predict", json={"instances": sample_instances(1)}).headers["x-cloudeploy-version"]
            for _ in range(600)
        ]
    share = versions.count("v2") / len(versions)
    assert abs(share - 0.30) <= 0.06


def test_autoscaler_follows_load_between_min_and_max(local_provider, tmp_path, monkeypatch):
    from tests.local.loadgen import LoadGenerator

    monkeypatch.setenv("CLOUDEPLOY_SCALE_DOWN_AFTER_S", "1")  # inherited by the gateway
    package = build_package(fitted_classifier(0), tmp_path / "p0", name="ep").path
    version = local_provider.upload_model(package, "ep")
    local_provider.create_endpoint("ep", model="ep")
    local_provider.deploy("ep", version, scaling=Scaling(1, 2, target=1, metric="requests"))
    url = local_provider.get_endpoint("ep").url

    def replicas_become(count: int, within: float) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if local_provider.get_endpoint("ep").deployment("v1").replicas == count:
                return True
            time.sleep(0.5)
        return False

    load = LoadGenerator(f"{url}/predict", {"instances": sample_instances(1)}, concurrency=8,
                         max_requests=100_000, max_seconds=60).start()
    try:
        scaled_up = replicas_become(2, within=45)
    finally:
        results = load.stop()
    assert scaled_up
    assert all(r.status == 200 for r in results)
    assert replicas_become(1, within=30)


def test_rollback_restores_the_split_before_the_last_change(local_provider, tmp_path):
    import cloudeploy

    _serve_v1(local_provider, tmp_path)
    v2 = local_provider.upload_model(build_package(fitted_classifier(1), tmp_path / "p1", name="ep").path, "ep")
    local_provider.deploy("ep", v2, traffic=10)
    cloudeploy.promote("ep", to="v2", provider=local_provider)
    assert local_provider.get_endpoint("ep").traffic.to_dict() == {"v1": 0, "v2": 100}
    status = cloudeploy.rollback("ep", provider=local_provider)
    assert status.traffic.to_dict() == {"v1": 90, "v2": 10}


def test_set_traffic_rejects_negative_percent_before_any_change(local_provider, tmp_path):
    _serve_v1(local_provider, tmp_path)
    with pytest.raises(ValidationError, match="between 0 and 100"):
        local_provider.set_traffic("ep", TrafficSplit({"v1": 110, "v2": -10}))
    assert local_provider.get_endpoint("ep").traffic.to_dict() == {"v1": 100}
