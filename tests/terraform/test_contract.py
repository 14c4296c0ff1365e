"""The contract between the Terraform modules and `cloudeploy config from-terraform`.

The outputs each module declares are exactly the keys the handoff reads; the
examples re-export all of them; a sample `terraform output -json` document
becomes a profile that loads and has every key its provider needs.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cloudeploy.cli import cli
from cloudeploy.config import load_profile
from cloudeploy.terraform import EMULATOR_SETTINGS, OUTPUTS, output_names
from tests.terraform.hcl import DATA, EXAMPLES, MODULES, blocks

CLOUDS = ["vertex", "sagemaker"]


def sample(cloud: str) -> dict:
    return json.loads((DATA / f"{cloud}-outputs.json").read_text())


def provider_settings(cloud: str):
    if cloud == "vertex":
        from cloudeploy.providers.vertex.settings import KNOWN_KEYS, VertexSettings

        return VertexSettings, KNOWN_KEYS
    from cloudeploy.providers.sagemaker.settings import KNOWN, SageMakerSettings

    return SageMakerSettings, KNOWN


def write_sample_profile(tmp_path, cloud: str) -> tuple[object, dict]:
    emulator_flags = {
        "vertex": [
            "--api-endpoint",
            "http://127.0.0.1:8080",
            "--storage-endpoint",
            "http://127.0.0.1:9023",
            "--monitoring-endpoint",
            "127.0.0.1:9090",
            "--bigquery-endpoint",
            "http://127.0.0.1:8080",
        ],
        "sagemaker": ["--endpoint-url", "http://127.0.0.1:5000"],
    }[cloud]
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
            *emulator_flags,
            "--output",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    return load_profile("tf", path=config), json.loads(result.output)


@pytest.mark.parametrize("cloud", CLOUDS)
def test_module_outputs_are_exactly_the_keys_from_terraform_reads(cloud):
    assert set(blocks(MODULES[cloud], "output")) == output_names(cloud)


@pytest.mark.parametrize("cloud", CLOUDS)
def test_module_names_its_provider_in_the_cloudeploy_provider_output(cloud):
    assert blocks(MODULES[cloud], "output")["cloudeploy_provider"]["value"] == cloud


@pytest.mark.parametrize("cloud", CLOUDS)
def test_example_reexports_every_module_output_under_its_own_name(cloud):
    outputs = blocks(EXAMPLES[cloud], "output")
    assert {name: body["value"] for name, body in outputs.items()} == {
        name: f"${{module.cloudeploy.{name}}}" for name in blocks(MODULES[cloud], "output")
    }


@pytest.mark.parametrize("cloud", CLOUDS)
def test_sample_document_has_only_module_outputs_and_every_required_one(cloud):
    # Like real `terraform output -json`, the vertex sample leaves out its null output (network).
    required = {o.name for o in OUTPUTS[cloud] if o.required}
    assert required <= set(sample(cloud)) <= set(blocks(MODULES[cloud], "output"))


@pytest.mark.parametrize("cloud", CLOUDS)
def test_profile_settings_are_keys_the_provider_knows(cloud):
    _, known = provider_settings(cloud)
    settings = {o.setting for o in OUTPUTS[cloud] if o.setting} | set(EMULATOR_SETTINGS[cloud])
    assert settings <= set(known)


@pytest.mark.parametrize("cloud", CLOUDS)
def test_sample_document_writes_a_profile_that_loads(tmp_path, cloud):
    profile, _ = write_sample_profile(tmp_path, cloud)
    assert profile.provider == cloud


@pytest.mark.parametrize("cloud", CLOUDS)
def test_written_profile_is_accepted_by_the_provider_settings(tmp_path, cloud):
    settings_class, _ = provider_settings(cloud)
    profile, _ = write_sample_profile(tmp_path, cloud)
    settings = settings_class.from_profile(profile.name, dict(profile.settings))
    assert settings.region == profile.settings["region"]


@pytest.mark.parametrize("cloud", CLOUDS)
def test_written_profile_has_every_non_null_output_that_maps_to_a_setting(tmp_path, cloud):
    profile, _ = write_sample_profile(tmp_path, cloud)
    document = {name: entry["value"] for name, entry in sample(cloud).items()}
    expected = {
        o.setting: document[o.name]
        for o in OUTPUTS[cloud]
        if o.setting and document.get(o.name) not in (None, "", [])
    }
    assert {k: v for k, v in profile.settings.items() if k in expected} == expected


@pytest.mark.parametrize("cloud", CLOUDS)
def test_written_profile_points_at_the_emulator(tmp_path, cloud):
    profile, _ = write_sample_profile(tmp_path, cloud)
    assert all(
        profile.settings[key].startswith(("http://127.0.0.1:", "127.0.0.1:"))
        for key in EMULATOR_SETTINGS[cloud]
    )


def test_vertex_sample_reports_the_endpoint_terraform_created_for_adoption(tmp_path):
    _, report = write_sample_profile(tmp_path, "vertex")
    assert report["endpoints"] == {
        "house-price": "projects/test-project/locations/us-central1/endpoints/house-price"
    }
