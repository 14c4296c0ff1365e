"""The failure zoo through the Vertex AI emulator, with google-cloud-aiplatform and the real predict path.

One classifier endpoint and one regressor endpoint serve the module, each with
the baseline ``v1`` at 100% and request-response logging on (the
prediction-shift gate reads the logged answers from BigQuery). Every case of
:data:`cloudeploy.testing.zoo.CASES` is deployed with no traffic and promoted
under the zoo plan while 4 threads send at least 2,000 requests: it must be
rolled back to the starting split (never 100%), the old version must fail none
of its requests, and every request after the rollback must succeed. Gate
metrics come from Cloud Monitoring (``response_count`` by response code,
``prediction_latencies``) and the BigQuery request log, as on the service.
"""

from __future__ import annotations

import pytest

from cloudeploy.config import Profile, write_profile
from cloudeploy.testing import zoo
from tests.zoo import cloud_helpers as helpers
from tests.zoo.cloud_helpers import ZooEndpoint

PROFILE = "zoo"


def log_requests(provider, endpoint: str) -> None:
    """Turn on the endpoint's request-response logging to the project's default table."""
    from google.cloud.aiplatform_v1 import types
    from google.protobuf import field_mask_pb2

    resource = types.Endpoint(
        name=f"{provider.settings.parent}/endpoints/{endpoint}",
        predict_request_response_logging_config=types.PredictRequestResponseLoggingConfig(
            enabled=True, sampling_rate=1.0,
            bigquery_destination=types.BigQueryDestination(output_uri=f"bq://{provider.settings.project}")),
    )  # fmt: skip
    provider.clients.endpoints.update_endpoint(
        endpoint=resource,
        update_mask=field_mask_pb2.FieldMask(paths=["predict_request_response_logging_config"]),
    )


@pytest.fixture(scope="module")
def endpoints(vertex_emulator_session, tmp_path_factory):
    from cloudeploy.providers.vertex import VertexProvider

    emulator = vertex_emulator_session
    emulator.reset()
    settings = emulator.profile_settings(bucket="zoo")
    provider = VertexProvider(Profile(name=PROFILE, provider="vertex", settings=settings))
    built = {kind: ZooEndpoint(provider, f"zoo-{kind[:3]}", kind, record_answers=log_requests)
             for kind in ("classifier", "regressor")}  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        home = tmp_path_factory.mktemp("zoo-home")
        patch.setenv("CLOUDEPLOY_HOME", str(home))
        patch.setenv("CLOUDEPLOY_CONFIG", str(write_profile(PROFILE, provider.name, settings,
                                                            path=home / "cloudeploy.toml")))  # fmt: skip
        patch.delenv("CLOUDEPLOY_PROFILE", raising=False)
        for endpoint in built.values():
            endpoint.deploy_baseline()
        yield built
    emulator.reset()


@pytest.mark.parametrize("case", zoo.CASES, ids=[c.name for c in zoo.CASES])
def test_a_failing_candidate_is_rolled_back_and_the_old_version_fails_nothing(endpoints, case):
    # The issue's own scenario goes through the CLI (exit 3); the others through the API.
    cli = PROFILE if case.name == "raises_every_row" else None
    run = helpers.run_case(endpoints[case.kind], case.build(), trust=case.trust, rollout=zoo.ZOO_PLAN,
                           cli_profile=cli)  # fmt: skip
    helpers.assert_caught(run)
    assert cli is None or run.exit_code == 3


def test_a_healthy_candidate_is_still_promoted(endpoints):
    endpoint = endpoints["classifier"]
    run = helpers.run_case(endpoint, zoo.healthy_candidate(), trust=False, rollout=zoo.ZOO_PLAN)
    try:
        helpers.assert_promoted(run)
    finally:
        helpers.restore(endpoint, run.result.version)
