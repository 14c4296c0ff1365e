"""A profile written from the sample Terraform outputs works against the emulators.

The emulators run with the sample's project/region (Vertex) and region
(SageMaker), as if Terraform had applied the modules there.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cloudeploy.cli import cli
from cloudeploy.config import load_profile
from cloudeploy.providers import get_provider
from tests.terraform.hcl import DATA


def sample_values(cloud: str) -> dict:
    document = json.loads((DATA / f"{cloud}-outputs.json").read_text())
    return {name: entry["value"] for name, entry in document.items()}


def profile_from_terraform(tmp_path, cloud: str, *flags: str):
    config = tmp_path / "cloudeploy.toml"
    result = CliRunner().invoke(
        cli,
        [
            "config",
            "from-terraform",
            str(DATA / f"{cloud}-outputs.json"),
            "--profile",
            "tf",
            "--config",
            str(config),
            *flags,
        ],
    )
    assert result.exit_code == 0, result.output
    return load_profile("tf", path=config)


@pytest.fixture(scope="module")
def vertex():
    from cloudeploy.testing.vertex import start_emulator

    values = sample_values("vertex")
    with start_emulator(project=values["project"], region=values["region"]) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def sagemaker():
    from cloudeploy.testing.sagemaker import start_emulation

    with start_emulation(region=sample_values("sagemaker")["region"]) as emulation:
        yield emulation


@pytest.fixture
def vertex_provider(vertex, tmp_path):
    vertex.reset()
    profile = profile_from_terraform(
        tmp_path,
        "vertex",
        "--api-endpoint",
        vertex.api_endpoint,
        "--storage-endpoint",
        vertex.storage_endpoint,
        "--monitoring-endpoint",
        vertex.monitoring_endpoint,
        "--bigquery-endpoint",
        vertex.profile_settings()["bigquery_endpoint"],
    )
    return get_provider(profile)


def test_vertex_profile_from_terraform_points_gate_metrics_at_the_emulator(vertex_provider, vertex):
    assert vertex_provider.settings.monitoring_endpoint == vertex.monitoring_endpoint


def test_vertex_profile_from_terraform_points_request_logs_at_the_emulator(vertex_provider, vertex):
    assert vertex_provider.settings.bigquery_endpoint == vertex.profile_settings()["bigquery_endpoint"]


def endpoints_url(emulator) -> str:
    values = sample_values("vertex")
    return f"{emulator.api_endpoint}/v1/projects/{values['project']}/locations/{values['region']}/endpoints"


def create_endpoint_as_terraform_does(emulator, name: str) -> None:
    """What google_vertex_ai_endpoint does: POST .../endpoints?endpointId=NAME, then poll
    the long-running operation until it is done."""
    import httpx

    response = httpx.post(
        endpoints_url(emulator),
        params={"endpointId": name},
        json={
            "displayName": name,
            "labels": {"cloudeploy-managed": "true", "managed-by": "terraform"},
        },
    )
    response.raise_for_status()
    operation = response.json()
    for _ in range(50):
        if operation.get("done"):
            assert "error" not in operation, operation
            return
        operation = httpx.get(f"{emulator.api_endpoint}/v1/{operation['name']}").json()
    raise AssertionError(f"creating endpoint {name} did not finish: {operation}")


def endpoint_ids_on_the_emulator(emulator) -> list[str]:
    import httpx

    response = httpx.get(endpoints_url(emulator))
    response.raise_for_status()
    return [e["name"].rsplit("/", 1)[-1] for e in response.json().get("endpoints", [])]


def test_vertex_provider_from_the_terraform_profile_lists_endpoints(vertex_provider):
    assert vertex_provider.list_endpoints() == []


def test_vertex_provider_sees_the_endpoint_terraform_created(vertex, vertex_provider):
    create_endpoint_as_terraform_does(vertex, "house-price")
    assert [e.name for e in vertex_provider.list_endpoints()] == ["house-price"]


def test_vertex_provider_adopts_the_terraform_endpoint_instead_of_creating_another(
    vertex, vertex_provider
):
    create_endpoint_as_terraform_does(vertex, "house-price")
    status = vertex_provider.create_endpoint("house-price", model="house-price")
    assert (status.name, endpoint_ids_on_the_emulator(vertex)) == ("house-price", ["house-price"])


def test_sagemaker_provider_from_the_terraform_profile_lists_endpoints(sagemaker, tmp_path):
    sagemaker.reset()
    sagemaker.client("s3").create_bucket(Bucket=sample_values("sagemaker")["bucket"])
    profile = profile_from_terraform(
        tmp_path, "sagemaker", "--endpoint-url", sagemaker.endpoint_url
    )
    assert get_provider(profile).list_endpoints() == []
