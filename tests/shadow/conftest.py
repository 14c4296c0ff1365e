"""Fixtures for shadow tests on the local provider.

One endpoint serves the module (deploying costs seconds): ``shadow-ep`` with
v1 serving 100% and two candidates at 0% with a replica each — v2 agreeing, v3
disagreeing (see :mod:`tests.shadow.models`). ``local`` hands it to a test with
the split reset to ``v1=100`` and no recorded rollout; the CLI, run in-process,
finds it through ``CLOUDEPLOY_HOME``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from cloudeploy.config import Profile
from cloudeploy.providers.local import LocalProvider
from cloudeploy.providers.local.processes import pid_alive, terminate

ENDPOINT = "shadow-ep"
STARTING = {"v1": 100, "v2": 0, "v3": 0}


@dataclass
class LocalEndpoint:
    provider: LocalProvider
    home: Path

    @property
    def url(self) -> str:
        return self.provider.get_endpoint(ENDPOINT).url

    def reset(self) -> None:
        from cloudeploy.rollout.state import store_for
        from cloudeploy.types import TrafficSplit

        with contextlib.suppress(FileNotFoundError):
            store_for(self.provider, ENDPOINT).path.unlink()
        self.provider.set_traffic(ENDPOINT, TrafficSplit({"v1": 100}))


@pytest.fixture(scope="module")
def _local_endpoint(tmp_path_factory):
    import cloudeploy
    from tests.shadow import models

    home = tmp_path_factory.mktemp("shadow-home")
    provider = LocalProvider(Profile(name="shadow-tests", settings={"home": str(home)}))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLOUDEPLOY_HOME", str(home))
        patch.setenv("CLOUDEPLOY_CONFIG", str(home / "cloudeploy.toml"))
        patch.delenv("CLOUDEPLOY_PROFILE", raising=False)
        try:
            for number, model in enumerate((models.serving(), models.agreeing(), models.disagreeing())):
                cloudeploy.deploy(model, ENDPOINT, model_name="forest", provider=provider,
                                  traffic=None if number == 0 else 0)
            yield LocalEndpoint(provider, home)
        finally:
            with contextlib.suppress(Exception):
                for row in provider.store.endpoints():
                    if pid_alive(row.gateway_pid):
                        terminate(row.gateway_pid, timeout=20)


@pytest.fixture
def local(_local_endpoint, monkeypatch) -> LocalEndpoint:
    monkeypatch.setenv("CLOUDEPLOY_HOME", str(_local_endpoint.home))
    monkeypatch.setenv("CLOUDEPLOY_CONFIG", str(_local_endpoint.home / "cloudeploy.toml"))
    monkeypatch.delenv("CLOUDEPLOY_PROFILE", raising=False)
    _local_endpoint.reset()
    return _local_endpoint
