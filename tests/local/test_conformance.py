"""The provider contract, checked against the local provider with real processes."""

from __future__ import annotations

import httpx
import pytest

from cloudeploy.testing.conformance import ProviderConformance


class TestLocalConformance(ProviderConformance):
    @pytest.fixture
    def provider(self, local_provider):
        return local_provider

    def serve_nothing(self, provider, endpoint):
        """Write every version at 0% into the state file and have the gateway apply it."""
        versions = {d.version: 0 for d in provider.store.deployments(endpoint)}
        row = provider.store.update_serving(endpoint, traffic=versions)
        httpx.post(f"http://{row.host}:{row.port}/_cloudeploy/reload", timeout=60).raise_for_status()
