"""The provider contract, run against the SageMaker emulation."""

from __future__ import annotations

import pytest

from cloudeploy.config import Profile
from cloudeploy.providers.sagemaker import SageMakerProvider
from cloudeploy.testing.conformance import ProviderConformance


class TestSageMakerConformance(ProviderConformance):
    @pytest.fixture
    def provider(self, emu):
        return SageMakerProvider(
            Profile(name="emulation", provider="sagemaker", settings=emu.profile_settings())
        )
