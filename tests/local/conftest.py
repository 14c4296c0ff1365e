"""Fixtures for the local provider: an isolated CLOUDEPLOY_HOME and cleanup of every process."""

from __future__ import annotations

import contextlib

import pytest

from cloudeploy.config import Profile
from cloudeploy.providers.local import LocalProvider
from cloudeploy.providers.local.processes import pid_alive, terminate


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = tmp_path / "home"
    monkeypatch.setenv("CLOUDEPLOY_HOME", str(path))
    monkeypatch.delenv("CLOUDEPLOY_PROFILE", raising=False)
    monkeypatch.setenv("CLOUDEPLOY_CONFIG", str(tmp_path / "cloudeploy.toml"))
    yield path
    # Whatever a test left running (a gateway and, through it, its replicas) ends here.
    with contextlib.suppress(Exception):
        provider = LocalProvider(Profile(name="cleanup", settings={"home": str(path)}))
        for row in provider.store.endpoints():
            if pid_alive(row.gateway_pid):
                terminate(row.gateway_pid, timeout=20)


@pytest.fixture
def local_provider(home):
    return LocalProvider(Profile(name="test", settings={"home": str(home)}))
