"""Fixtures for rollout tests on the local provider.

Deploying a version costs seconds on a busy machine, so one endpoint serves
every local rollout test: ``ep`` with four versions of one model —

- v1: healthy (the starting version, 100%),
- v2: healthy, different coefficients,
- v3: :class:`~tests.rollout.faulty_models.FaultyModel` (500 on poison rows),
- v4: :class:`~tests.rollout.faulty_models.SlowModel` (+150 ms per predict).

The ``endpoint`` fixture hands it to a test reset to ``v1=100`` with no
recorded rollout, so tests do not depend on each other's order.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from cloudeploy.config import Profile
from cloudeploy.providers.local import LocalProvider
from cloudeploy.providers.local.processes import pid_alive, terminate

REPO_ROOT = Path(__file__).resolve().parents[2]
ENDPOINT = "ep"
SLOW_MS = 150.0


@dataclass
class SharedEndpoint:
    provider: LocalProvider
    home: Path
    config: Path

    @property
    def url(self) -> str:
        return self.provider.get_endpoint(ENDPOINT).url

    def env(self) -> dict[str, str]:
        """Environment for a `cloudeploy` subprocess that works on this endpoint."""
        return {**os.environ, "CLOUDEPLOY_HOME": str(self.home), "CLOUDEPLOY_CONFIG": str(self.config),
                "PYTHONPATH": str(REPO_ROOT)}

    def reset(self) -> None:
        from cloudeploy.rollout.state import store_for
        from cloudeploy.types import TrafficSplit

        store_for(self.provider, ENDPOINT).clear()
        self.provider.set_traffic(ENDPOINT, TrafficSplit({"v1": 100}))


@pytest.fixture(scope="session")
def _shared_endpoint(tmp_path_factory):
    import cloudeploy
    from cloudeploy.testing.conformance import fitted_classifier
    from tests.rollout.faulty_models import FaultyModel, SlowModel

    home = tmp_path_factory.mktemp("rollout-home")
    provider = LocalProvider(Profile(name="rollout-tests", settings={"home": str(home)}))
    shared = SharedEndpoint(provider, home, home / "cloudeploy.toml")
    versions = [fitted_classifier(0), fitted_classifier(1), FaultyModel(fitted_classifier(2)),
                SlowModel(fitted_classifier(3), delay_ms=SLOW_MS)]
    # The gateway starts during the first deploy and passes its environment on to
    # the replicas, which unpickle tests.rollout.faulty_models: the repository root
    # must be importable there.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", str(REPO_ROOT))
        try:
            for number, model in enumerate(versions):
                cloudeploy.deploy(model, ENDPOINT, model_name="m", provider=provider,
                                  traffic=None if number == 0 else 0, trust=number >= 2)
            yield shared
        finally:
            with contextlib.suppress(Exception):
                for row in provider.store.endpoints():
                    if pid_alive(row.gateway_pid):
                        terminate(row.gateway_pid, timeout=20)


@pytest.fixture
def endpoint(_shared_endpoint) -> SharedEndpoint:
    _shared_endpoint.reset()
    return _shared_endpoint
