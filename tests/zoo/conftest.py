"""Fixtures for the failure zoo on the local provider.

One classifier endpoint (``zoo``, a LogisticRegression as v1) serves every
classifier case, and one regressor endpoint (``zoo-reg``) the regressor cases:
each test deploys its candidate with no traffic, promotes it under a request
stream, and undeploys it again, so the endpoint is back to ``v1=100`` with one
version for the next test.
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
from cloudeploy.testing import zoo

CLASSIFIER = "zoo"
REGRESSOR = "zoo-reg"


@dataclass
class ZooEndpoint:
    provider: LocalProvider
    home: Path
    name: str

    @property
    def url(self) -> str:
        return self.provider.get_endpoint(self.name).url

    def env(self) -> dict[str, str]:
        """Environment for a `cloudeploy` command that works on this endpoint's home."""
        return {**os.environ, "CLOUDEPLOY_HOME": str(self.home), "CLOUDEPLOY_CONFIG": str(self.home / "none.toml")}

    def deploy(self, model, *, trust: bool = False, allow_schema_change: bool = False) -> str:
        """Deploy ``model`` as a new version with no traffic; its label."""
        import cloudeploy

        deployment = cloudeploy.deploy(model, self.name, model_name=self.name, provider=self.provider, traffic=0,
                                       trust=trust, allow_schema_change=allow_schema_change)
        return deployment.version

    def reset(self) -> None:
        """Back to v1 serving everything, every other version undeployed, no recorded rollout."""
        from cloudeploy.rollout.state import store_for
        from cloudeploy.types import TrafficSplit

        self.provider.set_traffic(self.name, TrafficSplit({"v1": 100}))
        for deployed in self.provider.get_endpoint(self.name).deployments:
            if deployed.version != "v1":
                self.provider.undeploy(self.name, deployed.version)
        store_for(self.provider, self.name).clear()


@pytest.fixture(scope="session")
def _zoo_provider(tmp_path_factory):
    home = tmp_path_factory.mktemp("zoo-home")
    provider = LocalProvider(Profile(name="zoo-tests", settings={"home": str(home)}))
    try:
        yield provider, home
    finally:
        with contextlib.suppress(Exception):
            for row in provider.store.endpoints():
                if pid_alive(row.gateway_pid):
                    terminate(row.gateway_pid, timeout=20)


def _endpoint(provider_and_home, name: str, baseline) -> ZooEndpoint:
    import cloudeploy

    provider, home = provider_and_home
    endpoint = ZooEndpoint(provider, home, name)
    if name not in {row.name for row in provider.store.endpoints()}:
        cloudeploy.deploy(baseline, name, model_name=name, provider=provider)
    return endpoint


@pytest.fixture(scope="session")
def _classifier_endpoint(_zoo_provider):
    return _endpoint(_zoo_provider, CLASSIFIER, zoo.baseline_classifier())


@pytest.fixture(scope="session")
def _regressor_endpoint(_zoo_provider):
    return _endpoint(_zoo_provider, REGRESSOR, zoo.baseline_regressor())


@pytest.fixture
def classifier_endpoint(_classifier_endpoint) -> ZooEndpoint:
    yield _classifier_endpoint
    _classifier_endpoint.reset()


@pytest.fixture
def regressor_endpoint(_regressor_endpoint) -> ZooEndpoint:
    yield _regressor_endpoint
    _regressor_endpoint.reset()
