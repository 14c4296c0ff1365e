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
