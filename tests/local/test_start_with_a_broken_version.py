"""`endpoints start` with one version's package tampered with: the command fails naming that
version, and the other version keeps serving (the gateway deals the broken version's turns to
the versions that have replicas, so no client is answered by, or fails on, the broken one)."""

from __future__ import annotations

import httpx
import pytest
from click.testing import CliRunner

import cloudeploy
from cloudeploy.cli import cli
from cloudeploy.testing.conformance import fitted_classifier, sample_instances

pytestmark = pytest.mark.slow


def test_a_tampered_version_fails_start_and_the_other_keeps_its_share(home, local_provider):
    cloudeploy.deploy(fitted_classifier(0), name="mixed", provider=local_provider)
    cloudeploy.deploy(fitted_classifier(1), name="mixed", provider=local_provider, traffic=20)
    local_provider.stop_endpoint("mixed")
    v2 = local_provider.get_model_version("mixed", "v2")
    package = next(p for p in (home / "artifacts" / v2.digest).iterdir() if p.name != "cloudeploy.json")
    package.write_bytes(package.read_bytes() + b"tampered")

    result = CliRunner().invoke(cli, ["endpoints", "start", "mixed"])

    assert result.exit_code == 6, result.output
    assert "v2 cannot serve" in result.stderr and "sha256" in result.stderr.lower()
    row = local_provider.store.endpoint("mixed")
    with httpx.Client(base_url=f"http://{row.host}:{row.port}", timeout=30) as client:
        answers = [client.post("/predict", json={"instances": sample_instances(1)}) for _ in range(100)]
    assert [a.status_code for a in answers] == [200] * 100
    assert {a.headers["x-cloudeploy-version"] for a in answers} == {"v1"}
    assert local_provider.get_endpoint("mixed").traffic.to_dict() == {"v1": 80, "v2": 20}  # state untouched
