"""The emulation leaves no model-server processes behind."""

from __future__ import annotations

import pytest

from cloudeploy.testing.sagemaker.runner import live_servers


@pytest.fixture
def serving(sm, put_model, put_config, in_service):
    put_model("m1", 0)
    put_config("c1", {"v1": ("m1", 1.0)})
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="c1")
    in_service("ep")
    processes = [server.process for server in live_servers()]
    assert processes and all(p.poll() is None for p in processes)
    return processes


def test_deleting_an_endpoint_stops_its_model_servers(serving, sm):
    sm.delete_endpoint(EndpointName="ep")
    assert all(p.poll() is not None for p in serving)
    assert live_servers() == []


def test_reset_stops_every_model_server(serving, emu):
    emu.reset()
    assert all(p.poll() is not None for p in serving)
    assert live_servers() == []


def test_update_stops_the_replaced_variants_servers(serving, sm, put_model, put_config, in_service):
    put_model("m2", 1)
    put_config("c2", {"v2": ("m2", 1.0)})
    sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2")
    in_service("ep")
    assert all(p.poll() is not None for p in serving)
    assert [server.variant for server in live_servers()] == ["v2"]
