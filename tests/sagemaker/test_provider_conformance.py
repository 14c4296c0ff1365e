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

    def serve_nothing(self, provider, endpoint):
        """Every variant's weight set to 0 with UpdateEndpointWeightsAndCapacities."""
        variants = [d.version for d in provider.get_endpoint(endpoint).deployments]
        provider.clients.sagemaker.update_endpoint_weights_and_capacities(
            EndpointName=endpoint,
            DesiredWeightsAndCapacities=[{"VariantName": v, "DesiredWeight": 0.0} for v in variants],
        )
        provider._settle(endpoint, 60, lambda message: None)
