"""The emulation leaves no model-server processes behind."""

from __future__ import annotations

import os

import pytest

from cloudeploy.testing.sagemaker.runner import live_servers


def gone(pid: int) -> bool:
    """True when no process has ``pid`` any more (exited and reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def serving(sm, put_model, put_config, in_service):
    put_model("m1", 0)
    put_config("c1", {"v1": ("m1", 1.0)})
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="c1")
    in_service("ep")
    pids = [server.pid for server in live_servers()]
    assert pids and not any(gone(pid) for pid in pids)
    return pids


def test_deleting_an_endpoint_stops_its_model_servers(serving, sm):
    sm.delete_endpoint(EndpointName="ep")
    assert all(gone(pid) for pid in serving)
    assert live_servers() == []


def test_reset_stops_every_model_server(serving, emu):
    emu.reset()
    assert all(gone(pid) for pid in serving)
    assert live_servers() == []


def test_update_stops_the_replaced_variants_servers(serving, sm, put_model, put_config, in_service):
    put_model("m2", 1)
    put_config("c2", {"v2": ("m2", 1.0)})
    sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2")
    in_service("ep")
    assert all(gone(pid) for pid in serving)
    assert [server.variant for server in live_servers()] == ["v2"]
