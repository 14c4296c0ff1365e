"""`cloudeploy config show` and `cloudeploy config from-terraform` on the command line."""

from __future__ import annotations

import json

from click.testing import CliRunner

from cloudeploy.cli import cli
from cloudeploy.config import load_profile, write_profile
from tests.terraform.hcl import DATA

VERTEX = str(DATA / "vertex-outputs.json")
SAGEMAKER = str(DATA / "sagemaker-outputs.json")


def run(*args, input=None, env=None):
    return CliRunner().invoke(cli, list(args), input=input, env=env)


def test_from_terraform_writes_the_profile_and_reports_it_as_json(tmp_path):
    config = tmp_path / "cloudeploy.toml"
    result = run(
        "config",
        "from-terraform",
        SAGEMAKER,
        "--profile",
        "aws",
        "--config",
        str(config),
        "-O",
        "json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["settings"] == dict(load_profile("aws", path=config).settings)


def test_from_terraform_reads_standard_input(tmp_path):
    config = tmp_path / "cloudeploy.toml"
    result = run(
        "config",
        "from-terraform",
        "-",
        "--profile",
        "gcp",
        "--config",
        str(config),
        input=(DATA / "vertex-outputs.json").read_text(),
    )
    assert result.exit_code == 0, result.output
    assert load_profile("gcp", path=config).provider == "vertex"


def test_from_terraform_text_output_names_the_adopted_endpoint(tmp_path):
    result = run(
        "config", "from-terraform", VERTEX, "--profile", "gcp", "--config", str(tmp_path / "c.toml")
    )
    assert result.exit_code == 0, result.output
    assert "adopts endpoint house-price" in result.output


def test_from_terraform_bad_outputs_give_one_error_line_and_exit_code_2(tmp_path):
    bad = tmp_path / "outputs.json"
    bad.write_text(json.dumps({"cloudeploy_provider": "sagemaker", "region": "eu-west-1"}))
    result = run(
        "config",
        "from-terraform",
        str(bad),
        "--profile",
        "aws",
        "--config",
        str(tmp_path / "c.toml"),
    )
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and "'role_arn' is missing" in result.output
    assert "Traceback" not in result.output


def test_from_terraform_writes_nothing_when_the_outputs_are_bad(tmp_path):
    bad = tmp_path / "outputs.json"
    bad.write_text(json.dumps({"cloudeploy_provider": "vertex"}))
    run(
        "config",
        "from-terraform",
        str(bad),
        "--profile",
        "gcp",
        "--config",
        str(tmp_path / "c.toml"),
    )
    assert not (tmp_path / "c.toml").exists()


def test_from_terraform_needs_a_profile_name(tmp_path):
    result = run("config", "from-terraform", VERTEX, "--config", str(tmp_path / "c.toml"))
    assert result.exit_code == 2 and "--profile" in result.output


def test_from_terraform_refuses_an_emulator_flag_of_the_other_cloud(tmp_path):
    result = run(
        "config",
        "from-terraform",
        VERTEX,
        "--profile",
        "gcp",
        "--config",
        str(tmp_path / "c.toml"),
        "--endpoint-url",
        "http://127.0.0.1:5000",
    )
    assert result.exit_code == 2 and "endpoint_url do not apply to vertex" in result.output


def test_show_lists_profiles_and_the_one_in_use_as_json(tmp_path):
    config = tmp_path / "cloudeploy.toml"
    write_profile("dev", "local", {}, path=config)
    write_profile("aws", "sagemaker", {"region": "eu-west-1"}, path=config, make_default=True)
    result = run(
        "config", "show", "--config", str(config), "-O", "json", env={"CLOUDEPLOY_PROFILE": None}
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [(p["name"], p["provider"], p["in_use"]) for p in data["profiles"]] == [
        ("aws", "sagemaker", True),
        ("dev", "local", False),
    ]
    assert data["resolved"] == {
        "name": "aws",
        "provider": "sagemaker",
        "settings": {"region": "eu-west-1"},
    }


def test_show_resolves_the_profile_asked_for(tmp_path):
    config = tmp_path / "cloudeploy.toml"
    write_profile("dev", "local", {}, path=config)
    write_profile("aws", "sagemaker", {"region": "eu-west-1"}, path=config, make_default=True)
    result = run("config", "show", "--config", str(config), "--profile", "dev", "-O", "json")
    assert json.loads(result.output)["resolved"]["name"] == "dev"


def test_show_without_a_config_file_resolves_the_local_provider(tmp_path):
    result = run(
        "config",
        "show",
        "--config",
        str(tmp_path / "none.toml"),
        "-O",
        "json",
        env={"CLOUDEPLOY_PROFILE": None},
    )
    data = json.loads(result.output)
    assert (data["exists"], data["profiles"], data["resolved"]["provider"]) == (False, [], "local")


def test_show_of_an_unknown_profile_is_an_error_naming_the_known_ones(tmp_path):
    config = tmp_path / "cloudeploy.toml"
    write_profile("dev", "local", {}, path=config)
    result = run("config", "show", "--config", str(config), "--profile", "prod")
    assert result.exit_code == 2 and "profiles: dev" in result.output


def test_show_text_marks_the_profile_in_use(tmp_path):
    config = tmp_path / "cloudeploy.toml"
    write_profile("dev", "local", {}, path=config, make_default=True)
    result = run("config", "show", "--config", str(config), env={"CLOUDEPLOY_PROFILE": None})
    assert result.exit_code == 0 and "in use: dev (provider local)" in result.output


def test_config_command_module_imports_no_toml_writer_or_console():
    # cloudeploy.terraform (the handoff, stdlib only) is imported at module top since
    # internal imports went there (issue 17); the third-party writer and console stay lazy.
    import subprocess
    import sys

    code = (
        "import sys, cloudeploy.commands.config; "
        "print(sorted(m for m in ('tomlkit', 'rich', 'hcl2') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
