"""Endpoints through the official SDK only: create, get, list, traffic updates, delete."""

from __future__ import annotations

import pytest
from google.api_core import exceptions


def test_create_with_a_caller_chosen_id(aiplatform):
    endpoint = aiplatform.Endpoint.create(display_name="fraud", endpoint_id="fraud-detector")
    assert (
        endpoint.resource_name
        == "projects/test-project/locations/us-central1/endpoints/fraud-detector"
    )


def test_create_without_an_id_gets_a_numeric_one(aiplatform):
    endpoint = aiplatform.Endpoint.create(display_name="fraud")
    assert endpoint.name.isdigit()


def test_get_returns_the_created_endpoint(aiplatform):
    aiplatform.Endpoint.create(display_name="fraud", endpoint_id="fraud", labels={"team": "risk"})
    endpoint = aiplatform.Endpoint("fraud")
    assert endpoint.display_name == "fraud"
    assert endpoint.labels == {"team": "risk"}
    assert endpoint.traffic_split == {}


def test_list_returns_every_endpoint(aiplatform):
    aiplatform.Endpoint.create(display_name="a", endpoint_id="a")
    aiplatform.Endpoint.create(display_name="b", endpoint_id="b")
    assert sorted(e.name for e in aiplatform.Endpoint.list()) == ["a", "b"]


def test_list_filters_by_display_name(aiplatform):
    aiplatform.Endpoint.create(display_name="a", endpoint_id="a")
    aiplatform.Endpoint.create(display_name="b", endpoint_id="b")
    assert [e.name for e in aiplatform.Endpoint.list(filter='display_name="b"')] == ["b"]


def test_duplicate_id_is_409(aiplatform):
    aiplatform.Endpoint.create(display_name="a", endpoint_id="same")
    with pytest.raises(exceptions.Conflict):
        aiplatform.Endpoint.create(display_name="a", endpoint_id="same")


def test_malformed_id_is_400(aiplatform):
    with pytest.raises(exceptions.BadRequest, match="endpoint id"):
        aiplatform.Endpoint.create(display_name="a", endpoint_id="Not_Valid")


def test_update_changes_display_name_and_labels(aiplatform):
    endpoint = aiplatform.Endpoint.create(display_name="a", endpoint_id="a")
    endpoint.update(display_name="renamed", labels={"stage": "prod"})
    fresh = aiplatform.Endpoint("a")
    assert (fresh.display_name, fresh.labels) == ("renamed", {"stage": "prod"})


def test_split_naming_a_model_that_is_not_deployed_is_400(aiplatform):
    endpoint = aiplatform.Endpoint.create(display_name="a", endpoint_id="a")
    with pytest.raises(exceptions.BadRequest, match="not deployed"):
        endpoint.update(traffic_split={"12345": 100})


def test_delete_removes_the_endpoint(aiplatform):
    endpoint = aiplatform.Endpoint.create(display_name="a", endpoint_id="a")
    endpoint.delete()
    with pytest.raises(exceptions.NotFound):
        _ = aiplatform.Endpoint("a").traffic_split  # the SDK fetches lazily


def test_unknown_endpoint_is_404(aiplatform):
    with pytest.raises(exceptions.NotFound):
        _ = aiplatform.Endpoint("missing").traffic_split  # the SDK fetches lazily


def test_state_is_per_project_and_region(aiplatform, vertex_emulator):
    aiplatform.Endpoint.create(display_name="a", endpoint_id="a")
    assert aiplatform.Endpoint.list(location="europe-west4") == []
    assert aiplatform.Endpoint.list(project="other-project") == []


def test_reset_forgets_every_endpoint(aiplatform, vertex_emulator):
    aiplatform.Endpoint.create(display_name="a", endpoint_id="a")
    vertex_emulator.reset()
    assert aiplatform.Endpoint.list() == []
