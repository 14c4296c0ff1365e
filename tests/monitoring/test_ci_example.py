"""examples/ci/pipeline.py — the script the GitHub Actions example runs — against the SageMaker emulation.

Two passes, as two pushes would run it: the first trains, packages and deploys
v1 (a new endpoint: v1 takes all traffic, nothing to promote); the second
retrains, deploys v2 at 0% and promotes it behind the gates while the script
sends traffic, then writes the report the workflow uploads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "ci" / "pipeline.py"
ENDPOINT = "ci-house-price"


@pytest.fixture(scope="module")
def staging(_sagemaker_emulator_session, tmp_path_factory):
    """A ``staging`` profile on the emulation in its own cloudeploy.toml, and a fresh home."""
    from cloudeploy.config import write_profile

    emulation = _sagemaker_emulator_session
    emulation.reset()
    root = tmp_path_factory.mktemp("ci")
    config = write_profile("staging", "sagemaker", emulation.profile_settings(), path=root / "cloudeploy.toml")
    env = {**os.environ, "CLOUDEPLOY_CONFIG": str(config), "CLOUDEPLOY_HOME": str(root / "home"),
           "CLOUDEPLOY_PROFILE": "staging"}
    yield root, env
    emulation.reset()


def run(env, *args) -> subprocess.CompletedProcess:
    answer = subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True,
                            timeout=600)
    assert answer.returncode == 0, f"{' '.join(args)}\n{answer.stdout[-3000:]}\n{answer.stderr[-3000:]}"
    return answer


@pytest.fixture(scope="module")
def pipeline(staging):
    root, env = staging
    first, second = root / "push-1", root / "push-2"
    common = ["--endpoint", ENDPOINT, "--bake", "2s", "--steps", "50,100", "--window", "10m"]
    run(env, "all", "--workdir", str(first), "--seed", "0", *common)
    run(env, "all", "--workdir", str(second), "--seed", "1", *common)
    return first, second


def test_the_first_push_deploys_v1_with_nothing_to_promote(pipeline):
    first, _ = pipeline
    deployed = json.loads((first / "deployed.json").read_text())
    assert deployed == {"endpoint": ENDPOINT, "version": "v1", "first": True}
    assert not (first / "promote.json").exists()


def test_the_second_push_promotes_v2_behind_every_gate(pipeline):
    _, second = pipeline
    result = json.loads((second / "promote.json").read_text())
    assert result["outcome"] == "promoted"
    assert result["traffic"] == {"v1": 0, "v2": 100}
    judged = {gate["gate"]: gate for decision in result["decisions"] for gate in decision["gates"]}
    assert {"error_rate", "p99_ms", "drift", "outliers"} <= set(judged)
    assert judged["drift"]["passed"] is True and judged["outliers"]["passed"] is True


def test_the_package_carries_the_monitoring_artefacts(pipeline):
    _, second = pipeline
    manifest = json.loads((second / "package" / "cloudeploy.json").read_text())
    assert {"novelty.npz", "attribution.json"} <= set(manifest["files"])


def test_the_report_the_workflow_uploads_is_written(pipeline):
    _, second = pipeline
    page = (second / "report" / "report.html").read_text()
    document = json.loads((second / "report" / "report.json").read_text())
    assert page.lstrip().lower().startswith("<!doctype html") and "score over time" in page
    assert document["labels"]["endpoint"] == ENDPOINT and len(document["history"]) == 3
