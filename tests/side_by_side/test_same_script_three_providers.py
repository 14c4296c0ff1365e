"""The same CLI script on local, Vertex AI and SageMaker (emulators) gives the same answers.

Issue 17 found what a user switching providers meets: three words for a serving
endpoint, floats on one provider and ints on the others, different exit codes for
the same mistake, an empty split accepted on one provider (after which nothing
could repair the endpoint) and refused on the others. This test does not restate
the contract's decisions: it runs one script of commands — good ones and the
usual mistakes — on each provider and asserts that the transcripts (exit code and
the provider-neutral part of each JSON answer) are identical. The Python-level
contract is checked sentence by sentence in ``cloudeploy.testing.conformance``.
"""

from __future__ import annotations

import json
from typing import Any

import joblib
import pytest
from click.testing import CliRunner

from cloudeploy.cli import cli
from cloudeploy.config import write_profile
from tests.vertex.conftest import fitted_model, instances

ENDPOINT = "side-by-side"
ROWS = json.dumps(instances(5))


def endpoint_view(data: dict[str, Any]) -> dict[str, Any]:
    """What a user reads of an endpoint whatever the provider: state, split, versions."""
    return {
        "state": data.get("state"),
        "traffic": data.get("traffic"),
        "versions": sorted((d["version"], d["traffic"]) for d in data.get("deployments", [])),
    }


def view(command: list[str], data: Any) -> Any:
    """The provider-neutral part of a command's JSON answer to ``command``."""
    name = command[0] if command[0] != "endpoints" else "delete"
    if not isinstance(data, dict):
        return data
    if name in ("deploy", "traffic", "rollback", "undeploy"):
        return endpoint_view(data.get("endpoint", data))
    if name == "predict":
        return {"predictions": data["predictions"],
                "types": sorted({type(p).__name__ for p in data["predictions"]}),
                "version": data["version"] if "--version" in command else None}  # else the split decides
    if name == "status":
        return [dict(name=e["name"], **endpoint_view(e)) for e in data["endpoints"]]
    return sorted(data)


def script(model_files: list[str]) -> list[list[str]]:
    first, second = model_files
    return [
        ["deploy", first, "--name", ENDPOINT],
        ["deploy", second, "--name", ENDPOINT, "--traffic", "10"],
        ["predict", ENDPOINT, "--instances", ROWS],
        ["predict", ENDPOINT, "--instances", ROWS, "--version", "v2"],
        ["status"],
        # the usual mistakes
        ["traffic", ENDPOINT, "v1=50", "v2=40"],            # does not sum to 100
        ["traffic", ENDPOINT, "v1=50", "v9=50"],            # a version that is not deployed
        ["traffic", ENDPOINT, "v1=true", "v2=0"],           # not a percent
        ["traffic", ENDPOINT, "v1=12.5", "v2=87.5"],        # not a whole percent
        ["traffic", ENDPOINT],                              # no split at all
        ["predict", "no-such-endpoint", "--instances", ROWS],
        ["models", "delete", f"{ENDPOINT}@v1"],             # still deployed
        ["undeploy", ENDPOINT, "v9"],                       # not deployed
        # changes and their undoing
        ["traffic", ENDPOINT, "v1=50", "v2=50"],
        ["rollback", ENDPOINT],
        ["traffic", ENDPOINT, "v2=100"],
        ["undeploy", ENDPOINT, "v1"],
        ["status"],
        ["endpoints", "delete", ENDPOINT, "--force"],
    ]


def transcript(runner: CliRunner, model_files: list[str], profile: str) -> list[tuple[str, int, Any]]:
    try:
        return _transcript(runner, model_files, profile)
    finally:  # the script ends by deleting the endpoint; a failure halfway must not leave it serving
        runner.invoke(cli, ["endpoints", "delete", ENDPOINT, "--force", "--profile", profile])


def _transcript(runner: CliRunner, model_files: list[str], profile: str) -> list[tuple[str, int, Any]]:
    lines = []
    for command in script(model_files):
        result = runner.invoke(cli, [*command, "--profile", profile, "--output", "json"])
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            f"{' '.join(command)} on {profile} raised {result.exception!r}"
        )
        data = None
        if result.exit_code == 0 and result.stdout.strip():
            data = json.loads(result.stdout)
        else:
            assert result.stderr.strip() and "Traceback" not in result.stderr, (
                f"{' '.join(command)} on {profile}: {result.stderr!r}")
        lines.append((" ".join(command[:2]), result.exit_code, view(command, data)))
    return lines


@pytest.fixture(scope="module")
def model_files(tmp_path_factory) -> list[str]:
    directory = tmp_path_factory.mktemp("models")
    paths = []
    for seed in (0, 1):
        path = directory / f"model-{seed}.joblib"
        joblib.dump(fitted_model(seed), path)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def transcripts(model_files, _vertex_emulator_session, _sagemaker_emulator_session, tmp_path_factory):
    # `status` lists every endpoint: start from emulators without other modules' endpoints
    # (a worker's emulators serve every module it runs).
    _vertex_emulator_session.reset()
    _sagemaker_emulator_session.reset()
    directory = tmp_path_factory.mktemp("side-by-side")
    config = directory / "cloudeploy.toml"
    write_profile("local", "local", {"home": str(directory / "home")}, path=config)
    vertex = _vertex_emulator_session.profile_settings(bucket="side-by-side")
    write_profile("vertex", "vertex", {k: v for k, v in vertex.items() if k != "provider"}, path=config)
    sagemaker = _sagemaker_emulator_session.profile_settings(bucket="side-by-side")
    write_profile("sagemaker", "sagemaker", {k: v for k, v in sagemaker.items() if k != "provider"}, path=config)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLOUDEPLOY_CONFIG", str(config))
        patch.setenv("CLOUDEPLOY_HOME", str(directory / "home"))
        patch.delenv("CLOUDEPLOY_PROFILE", raising=False)
        runner = CliRunner()
        return {profile: transcript(runner, model_files, profile) for profile in ("local", "vertex", "sagemaker")}


@pytest.mark.parametrize("cloud", ["vertex", "sagemaker"])
def test_the_script_reads_the_same_as_on_the_local_provider(transcripts, cloud):
    local, other = transcripts["local"], transcripts[cloud]
    differences = [(mine[0], mine[1:], theirs[1:]) for mine, theirs in zip(local, other, strict=True)
                   if mine != theirs]
    assert not differences, "\n".join(f"{command}: local {a!r} vs {cloud} {b!r}" for command, a, b in differences)


def test_the_script_exercises_successes_and_mistakes(transcripts):
    local = transcripts["local"]
    codes = [code for _, code, _ in local]
    assert codes.count(0) >= 10 and len(set(codes) - {0}) >= 2
    deployed = [answer for command, code, answer in local if command.startswith("deploy") and code == 0]
    assert deployed[-1]["traffic"] == {"v1": 90, "v2": 10}
    pinned = next(answer for command, _, answer in local if command.startswith("predict") and answer
                  and answer["version"])
    assert pinned["version"] == "v2" and pinned["types"] == ["int"]

