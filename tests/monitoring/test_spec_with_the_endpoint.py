"""Monitor specs live with the endpoint: saved by one runner, read by another that shares only the profile.

On each provider the spec goes to the provider's state store (local: SQLite
under the home; Vertex AI: the staging bucket through the emulator's Cloud
Storage; SageMaker: S3 through the emulation), so a second provider object built
from the same profile — another CI runner — reads what the first saved.
"""

from __future__ import annotations

import pytest

from cloudeploy.config import Profile
from cloudeploy.monitoring.backend import MonitoringBackend
from cloudeploy.monitoring.spec import MonitorSpec


def _runners(kind: str, tmp_path, request):
    """Two provider objects built from one profile (two runners)."""
    if kind == "local":
        from cloudeploy.providers.local import LocalProvider

        return [LocalProvider(Profile(name="p", provider="local", settings={"home": str(tmp_path / "home")}))
                for _ in range(2)]
    if kind == "vertex":
        from cloudeploy.providers.vertex import VertexProvider

        settings = request.getfixturevalue("vertex_emulator_session").profile_settings(bucket="spec-store")
        return [VertexProvider(Profile(name="p", provider="vertex", settings=settings)) for _ in range(2)]
    from cloudeploy.providers.sagemaker import SageMakerProvider

    settings = request.getfixturevalue("sagemaker_emulator_session").profile_settings()
    return [SageMakerProvider(Profile(name="p", provider="sagemaker", settings=settings)) for _ in range(2)]


@pytest.mark.parametrize("kind", ["local", "vertex", "sagemaker"])
def test_a_spec_saved_by_one_runner_is_read_by_another(kind, tmp_path, request):
    first, second = _runners(kind, tmp_path, request)
    endpoint = f"spec-{tmp_path.name}"[:60].replace("_", "-")
    spec = MonitorSpec(window="2h", default_threshold=0.2)

    where = MonitoringBackend(first, hooks=None).save_spec(endpoint, spec)

    assert MonitoringBackend(second, hooks=None).saved_spec(endpoint) == spec
    assert where.startswith(first.state_store().location)
    assert MonitoringBackend(second, hooks=None).saved_spec(endpoint + "-other") is None
