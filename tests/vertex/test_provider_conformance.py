"""The provider contract (cloudeploy.testing.conformance) on the Vertex provider + emulator."""

from __future__ import annotations

import pytest

from cloudeploy.testing.conformance import ProviderConformance


class TestVertexConformance(ProviderConformance):
    @pytest.fixture
    def provider(self, vertex_emulator):
        from cloudeploy.config import Profile
        from cloudeploy.providers.vertex import VertexProvider

        settings = vertex_emulator.profile_settings(bucket="conformance")
        return VertexProvider(Profile(name="emulator", provider="vertex", settings=settings))

    def serve_nothing(self, provider, endpoint):
        """An empty ``traffic_split``: what the console or gcloud can leave (every version at 0%)."""
        provider.clients.endpoints.update_endpoint(
            endpoint={"name": provider._endpoint_name(endpoint), "traffic_split": {}},
            update_mask={"paths": ["traffic_split"]},
        )
