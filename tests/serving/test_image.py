"""The serving image's build context: Dockerfile, pinned requirements, the package."""

from __future__ import annotations

import json
import shlex

import pytest
from click.testing import CliRunner

from cloudeploy.cli import cli
from cloudeploy.errors import ValidationError
from cloudeploy.packaging import read_manifest, verify_package
from cloudeploy.serving import write_image_context


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    joined = dockerfile.replace("\\\n", " ")
    pairs = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def _one(instructions, keyword: str) -> str:
    found = [rest for key, rest in instructions if key == keyword]
    assert len(found) == 1, f"expected one {keyword}, found {found}"
    return found[0]


@pytest.fixture
def context(forest_package, tmp_path):
    return write_image_context(forest_package, tmp_path / "context")


@pytest.fixture
def instructions(context):
    return _instructions(context.dockerfile.read_text())


def test_entrypoint_is_exec_form_cloudeploy_serve(instructions):
    entrypoint = json.loads(_one(instructions, "ENTRYPOINT"))
    assert entrypoint[:2] == ["cloudeploy", "serve"]


def test_the_package_location_and_all_interfaces_come_from_the_environment(instructions, context):
    env = dict(
        item.split("=", 1) for key, rest in instructions if key == "ENV" for item in shlex.split(rest)
    )
    assert env["CLOUDEPLOY_HOST"] == "0.0.0.0"
    copied = [rest.split() for key, rest in instructions if key == "COPY"]
    assert ["model", env["CLOUDEPLOY_PACKAGE"]] in copied


def test_port_8080_is_exposed(instructions):
    assert _one(instructions, "EXPOSE") == "8080"


def test_runs_as_a_non_root_user(instructions):
    user = _one(instructions, "USER")
    assert user not in ("root", "0") and not user.startswith("0:")
    keys = [key for key, _ in instructions]
    assert keys.index("USER") > max(i for i, key in enumerate(keys) if key == "RUN")


def test_healthcheck_probes_readiness_in_exec_form(instructions):
    healthcheck = _one(instructions, "HEALTHCHECK")
    command = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert command[0] == "python" and "/readyz" in command[-1]


def test_requirements_pin_the_manifests_versions(context, forest_package):
    manifest = read_manifest(forest_package)
    lines = [line for line in (context.path / "requirements.txt").read_text().splitlines() if not line.startswith("#")]
    pins = dict(line.split("==") for line in lines)
    assert all(line.count("==") == 1 for line in lines)
    recorded = {name: version for name, version in manifest.frameworks.items() if name != "python"}
    assert recorded and all(pins[name] == version for name, version in recorded.items())
    assert {"starlette", "uvicorn", "orjson", "prometheus-client"} <= set(pins)


def test_pins_follow_the_manifest_rather_than_this_install(forest_package, tmp_path):
    import shutil

    package = shutil.copytree(forest_package, tmp_path / "older")
    manifest = read_manifest(package)
    older = type(manifest)(**{**manifest.__dict__, "frameworks": {**manifest.frameworks, "scikit-learn": "1.5.2"}})
    older.write(package)
    context = write_image_context(package, tmp_path / "context")
    assert "scikit-learn==1.5.2\n" in (context.path / "requirements.txt").read_text()


def test_context_holds_the_package_intact(context):
    verify_package(context.path / "model")


def test_context_holds_an_installable_cloudeploy(context):
    source = context.path / "cloudeploy-src"
    assert (source / "src" / "cloudeploy" / "cli.py").is_file()
    assert 'cloudeploy = "cloudeploy.cli:main"' in (source / "pyproject.toml").read_text()


def test_a_non_empty_output_directory_is_refused(forest_package, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    with pytest.raises(ValidationError, match="not empty"):
        write_image_context(forest_package, tmp_path / "busy")


def test_cli_reports_the_context_as_json(forest_package, tmp_path):
    result = CliRunner().invoke(cli, ["image", "context", str(forest_package), "-o", str(tmp_path / "ctx"), "--output", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["dockerfile"] == str(tmp_path / "ctx" / "Dockerfile")
    assert (tmp_path / "ctx" / "Dockerfile").is_file()
