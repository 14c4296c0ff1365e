"""The provider contract, checked against the local provider with real processes."""

from __future__ import annotations

import pytest

from cloudeploy.testing.conformance import ProviderConformance


class TestLocalConformance(ProviderConformance):
    @pytest.fixture
    def provider(self, local_provider):
        return local_provider
