"""Fixtures for rollout tests: an isolated local provider whose replicas can import tests.rollout."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from cloudeploy.config import Profile
from cloudeploy.providers.local import LocalProvider
from cloudeploy.providers.local.processes import pid_alive, terminate

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = tmp_path / "home"
    monkeypatch.setenv("CLOUDEPLOY_HOME", str(path))
    monkeypatch.delenv("CLOUDEPLOY_PROFILE", raising=False)
    monkeypatch.setenv("CLOUDEPLOY_CONFIG", str(tmp_path / "cloudeploy.toml"))
    # Gateways inherit the environment and pass it on to replicas, which unpickle
    # tests.rollout.faulty_models: the repository root must be importable there.
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    yield path
    with contextlib.suppress(Exception):
        provider = LocalProvider(Profile(name="cleanup", settings={"home": str(path)}))
        for row in provider.store.endpoints():
            if pid_alive(row.gateway_pid):
                terminate(row.gateway_pid, timeout=20)


@pytest.fixture
def local_provider(home):
    return LocalProvider(Profile(name="test", settings={"home": str(home)}))


@pytest.fixture
def canary_endpoint(local_provider):
    """``make(new_model)``: endpoint "ep" serving a healthy v1 at 100% and ``new_model`` as v2 at 0%."""
    import cloudeploy
    from cloudeploy.testing.conformance import fitted_classifier

    def make(new_model, name: str = "ep") -> str:
        cloudeploy.deploy(fitted_classifier(0), name, model_name="m", provider=local_provider)
        cloudeploy.deploy(new_model, name, model_name="m", provider=local_provider, traffic=0, trust=True)
        return local_provider.get_endpoint(name).url

    return make
