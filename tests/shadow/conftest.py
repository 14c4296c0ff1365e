"""Fixtures for shadow tests on the local provider.

One endpoint serves the module (deploying costs seconds): ``shadow-ep`` with
v1 serving 100% and three candidates at 0% with a replica each — v2 agreeing,
v3 disagreeing (see :mod:`tests.shadow.models`), v4 v1's model made
:data:`SLOW_MS` slower per predict. ``local`` hands it to a test with
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
STARTING = {"v1": 100, "v2": 0, "v3": 0, "v4": 0}
SLOW_MS = 400.0
REPO_ROOT = Path(__file__).resolve().parents[2]


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

        store_for(self.provider, ENDPOINT).clear()
        self.provider.set_traffic(ENDPOINT, TrafficSplit({"v1": 100}))


@pytest.fixture(scope="module")
def _local_endpoint(tmp_path_factory):
    import cloudeploy
    from tests.rollout.faulty_models import SlowModel
    from tests.shadow import models

    home = tmp_path_factory.mktemp("shadow-home")
    provider = LocalProvider(Profile(name="shadow-tests", settings={"home": str(home)}))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLOUDEPLOY_HOME", str(home))
        patch.setenv("CLOUDEPLOY_CONFIG", str(home / "cloudeploy.toml"))
        patch.delenv("CLOUDEPLOY_PROFILE", raising=False)
        # The gateway starts with the first deploy and its replicas unpickle tests.rollout.faulty_models.
        patch.setenv("PYTHONPATH", str(REPO_ROOT))
        try:
            versions = (models.serving(), models.agreeing(), models.disagreeing(),
                        SlowModel(models.serving(), delay_ms=SLOW_MS))
            for number, model in enumerate(versions):
                cloudeploy.deploy(model, ENDPOINT, model_name="forest", provider=provider,
                                  traffic=None if number == 0 else 0, trust=number == 3)
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
