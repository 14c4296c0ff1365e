"""Starting and stopping an emulator of one's own: nothing is left running afterwards."""

from __future__ import annotations

import httpx
import pytest

from cloudeploy.config import Profile
from tests.vertex.conftest import fitted_model


def test_leaving_the_context_stops_the_api_and_every_model_server(tmp_path):
    import psutil

    from cloudeploy.packaging import build_package
    from cloudeploy.providers.vertex import VertexProvider
    from cloudeploy.testing.vertex import start_emulator

    with start_emulator(project="own", region="europe-west4") as emulator:
        settings = emulator.profile_settings(bucket="own-bucket")
        provider = VertexProvider(Profile(name="own", provider="vertex", settings=settings))
        version = provider.upload_model(build_package(fitted_model(0), tmp_path / "pkg").path, "m")
        provider.create_endpoint("m", model="m")
        provider.deploy("m", version)
        pids = emulator.model_server_pids()
        api = emulator.api_endpoint
    assert len(pids) == 1
    assert all(
        not psutil.pid_exists(p) or psutil.Process(p).status() == psutil.STATUS_ZOMBIE for p in pids
    )
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{api}/healthz", timeout=2)


def test_the_profile_names_the_emulators_project_and_region():
    from cloudeploy.testing.vertex import start_emulator

    with start_emulator(project="own", region="europe-west4") as emulator:
        settings = emulator.profile_settings()
    assert (settings["project"], settings["region"]) == ("own", "europe-west4")
    assert settings["api_endpoint"] == emulator.api_endpoint
