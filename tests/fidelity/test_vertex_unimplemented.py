"""What the emulators do not implement answers like a Google API that does not: 501 UNIMPLEMENTED.

A call the emulator has no model of must fail loudly, naming the operation, so a
script that relies on it learns at once; it must never succeed silently. The
error has the Google shape (``{"error": {"code": 501, "status": "UNIMPLEMENTED",
"message"}}``), which google-api-core turns into ``MethodNotImplemented``.
"""

from __future__ import annotations

import pytest
from google.api_core import exceptions


def test_listing_custom_jobs_is_unimplemented_and_names_the_method(vertex):
    from google.cloud import aiplatform

    with pytest.raises(exceptions.MethodNotImplemented) as raised:
        aiplatform.CustomJob.list()
    assert raised.value.code == 501
    assert "projects.locations.customJobs.list" in raised.value.message


def test_an_unknown_custom_verb_is_unimplemented(vertex):
    from google.auth.credentials import AnonymousCredentials
    from google.auth.transport.requests import AuthorizedSession

    endpoint = f"projects/{vertex.project}/locations/{vertex.location}/endpoints/1"
    response = AuthorizedSession(AnonymousCredentials()).post(
        f"{vertex.emulator.api_endpoint}/v1/{endpoint}:explain", json={"instances": [[1, 2, 3]]}
    )
    error = response.json()["error"]
    assert (response.status_code, error["code"], error["status"]) == (501, 501, "UNIMPLEMENTED")
    assert "projects.locations.endpoints.explain" in error["message"]


def test_a_bigquery_query_is_unimplemented_not_a_silent_answer(vertex):
    client = vertex.bigquery()
    with pytest.raises(exceptions.MethodNotImplemented, match="queries"):
        client.query_and_wait("SELECT 1")
