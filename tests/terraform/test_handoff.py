"""cloudeploy.terraform: reading `terraform output -json` and checking what it says."""

from __future__ import annotations

import json

import pytest

from cloudeploy.config import load_profile, write_profile
from cloudeploy.errors import ConfigError, ValidationError
from cloudeploy.terraform import from_terraform, handoff_from_outputs, read_outputs
from tests.terraform.hcl import DATA


def values(cloud: str, **changes) -> dict:
    document = json.loads((DATA / f"{cloud}-outputs.json").read_text())
    plain = {name: entry["value"] for name, entry in document.items()}
    plain.update(changes)
    return {k: v for k, v in plain.items() if v is not ...}


# -- reading ------------------------------------------------------------------


def test_reads_the_shape_terraform_output_json_writes():
    assert read_outputs(DATA / "vertex-outputs.json")["project"] == "test-project"


def test_reads_a_plain_name_to_value_mapping(tmp_path):
    path = tmp_path / "plain.json"
    path.write_text(json.dumps({"cloudeploy_provider": "sagemaker", "region": "eu-west-1"}))
    assert read_outputs(path) == {"cloudeploy_provider": "sagemaker", "region": "eu-west-1"}


def test_reads_a_directory_holding_outputs_json(tmp_path):
    (tmp_path / "outputs.json").write_text((DATA / "sagemaker-outputs.json").read_text())
    assert read_outputs(tmp_path)["cloudeploy_provider"] == "sagemaker"


def test_reads_standard_input_for_a_dash(monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO((DATA / "vertex-outputs.json").read_text()))
    assert read_outputs("-")["region"] == "us-central1"


def test_directory_without_outputs_is_a_config_error_naming_the_files_looked_for(tmp_path):
    with pytest.raises(ConfigError, match="outputs.json"):
        read_outputs(tmp_path)


def test_terraform_root_without_a_terraform_binary_says_so(tmp_path, monkeypatch):
    (tmp_path / "main.tf").write_text('output "x" { value = 1 }\n')
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="no terraform binary"):
        read_outputs(tmp_path)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        read_outputs(tmp_path / "nope.json")


def test_file_that_is_not_json_is_a_config_error(tmp_path):
    path = tmp_path / "outputs.json"
    path.write_text("project = 1\n")
    with pytest.raises(ConfigError, match="not JSON"):
        read_outputs(path)


def test_json_that_is_not_an_object_is_a_config_error(tmp_path):
    path = tmp_path / "outputs.json"
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="JSON object"):
        read_outputs(path)


# -- checking -----------------------------------------------------------------


def test_document_without_cloudeploy_provider_is_refused():
    with pytest.raises(ConfigError, match="cloudeploy_provider"):
        handoff_from_outputs(values("vertex", cloudeploy_provider=...))


def test_unknown_provider_is_refused_naming_the_known_ones():
    with pytest.raises(ConfigError, match="sagemaker, vertex"):
        handoff_from_outputs(values("vertex", cloudeploy_provider="azure"))


def test_every_missing_required_output_is_named_at_once():
    with pytest.raises(ConfigError) as caught:
        handoff_from_outputs(values("sagemaker", bucket=..., role_arn=...))
    assert "'bucket' is missing" in str(caught.value) and "'role_arn' is missing" in str(
        caught.value
    )


def test_absent_optional_outputs_are_left_out_of_the_profile():
    handoff = handoff_from_outputs(
        values("vertex", network=..., encryption_key=None, alert_emails=[])
    )
    assert not {"network", "encryption_key", "alert_emails"} & set(handoff.settings)


def test_malformed_value_is_named_with_what_it_should_be():
    with pytest.raises(ConfigError, match="'role_arn' must be an IAM role ARN"):
        handoff_from_outputs(values("sagemaker", role_arn="cloudeploy-execution"))


def test_value_of_the_wrong_type_is_refused():
    with pytest.raises(ConfigError, match="'subnets' must be a list of strings"):
        handoff_from_outputs(values("sagemaker", subnets="subnet-0abc"))


def test_staging_bucket_must_be_a_gs_url():
    with pytest.raises(ConfigError, match="gs://BUCKET"):
        handoff_from_outputs(values("vertex", staging_bucket="my-bucket"))


def test_vertex_endpoint_whose_id_differs_from_its_name_is_refused():
    endpoints = {"house-price": "projects/test-project/locations/us-central1/endpoints/1234567"}
    with pytest.raises(ConfigError, match="adopts an endpoint only if its id equals its name"):
        handoff_from_outputs(values("vertex", endpoints=endpoints))


def test_vertex_endpoint_in_another_region_is_refused():
    endpoints = {
        "house-price": "projects/test-project/locations/europe-west4/endpoints/house-price"
    }
    with pytest.raises(ConfigError, match="not in region us-central1"):
        handoff_from_outputs(values("vertex", endpoints=endpoints))


def test_vertex_endpoints_are_reported_for_adoption_not_written_to_the_profile():
    handoff = handoff_from_outputs(values("vertex"))
    assert list(handoff.endpoints) == ["house-price"] and "endpoints" not in handoff.settings


def test_deployer_identity_is_reported():
    assert handoff_from_outputs(values("sagemaker")).deployer.endswith(
        ":policy/cloudeploy-deployer"
    )


def test_sagemaker_key_in_another_region_is_refused():
    key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    with pytest.raises(ConfigError, match="'kms_key_id' is in region eu-west-1, not us-east-1"):
        handoff_from_outputs(values("sagemaker", kms_key_id=key))


def test_sagemaker_subnets_without_security_groups_are_refused():
    with pytest.raises(ConfigError, match="go together"):
        handoff_from_outputs(values("sagemaker", subnets=["subnet-0abc"]))


def test_outputs_the_module_does_not_declare_are_ignored():
    handoff = handoff_from_outputs(values("sagemaker", vpc_id="vpc-123"))
    assert "vpc_id" not in handoff.settings


def test_emulator_urls_are_added_to_the_profile():
    handoff = handoff_from_outputs(
        values("sagemaker"), emulator={"endpoint_url": "http://127.0.0.1:5000/"}
    )
    assert handoff.settings["endpoint_url"] == "http://127.0.0.1:5000"


def test_emulator_flag_of_the_other_provider_is_refused():
    with pytest.raises(ValidationError, match="endpoint_url do not apply to vertex"):
        handoff_from_outputs(values("vertex"), emulator={"endpoint_url": "http://127.0.0.1:5000"})


def test_emulator_url_must_be_http():
    with pytest.raises(ValidationError, match="api_endpoint must be an http"):
        handoff_from_outputs(values("vertex"), emulator={"api_endpoint": "127.0.0.1:8080"})


# -- writing ------------------------------------------------------------------


def test_from_terraform_replaces_the_profile_and_keeps_the_others(tmp_path):
    config = tmp_path / "cloudeploy.toml"
    write_profile("dev", "local", {}, path=config)
    write_profile("prod", "vertex", {"project": "old-project"}, path=config)
    from_terraform(DATA / "vertex-outputs.json", "prod", config=config)
    assert load_profile("prod", path=config).settings["project"] == "test-project"
    assert load_profile("dev", path=config).provider == "local"


def test_from_terraform_can_make_the_profile_the_default(tmp_path):
    config = tmp_path / "cloudeploy.toml"
    from_terraform(DATA / "sagemaker-outputs.json", "aws", config=config, make_default=True)
    assert load_profile(path=config).name == "aws"


def test_from_terraform_refuses_a_profile_name_that_toml_would_need_quoted(tmp_path):
    with pytest.raises(ValidationError, match="profile name"):
        from_terraform(DATA / "sagemaker-outputs.json", "my profile", config=tmp_path / "c.toml")


def test_provider_output_that_is_not_a_string_is_refused():
    with pytest.raises(ConfigError, match="cloudeploy_provider"):
        handoff_from_outputs(values("vertex", cloudeploy_provider=["vertex"]))


def test_region_with_a_two_digit_number_is_accepted():
    handoff = handoff_from_outputs(values("vertex", region="europe-west10", endpoints=...))
    assert handoff.settings["region"] == "europe-west10"
