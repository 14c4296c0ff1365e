"""Vertex AI's own feature-attribution monitoring, mapped from the package's attributions.

A version packaged with training data (so with ``attribution.json``) is uploaded
with an explanation spec, and its monitoring objective turns on
``enable_feature_attributes`` with per-feature attribution thresholds. A version
without attributions gets neither, and the emulator refuses feature-attribution
monitoring for a model without an explanation spec, as the service documents
("only applicable if the Model has explanation_spec populated").
"""

from __future__ import annotations

import pytest
from google.api_core import exceptions as api_exceptions

import cloudeploy
from cloudeploy.config import Profile
from cloudeploy.monitoring import MonitorSpec, configure
from cloudeploy.monitoring.baseline import compute_baseline
from tests.monitoring.workload import fitted_model, training_data

FEATURES = ["x0", "x1", "x2", "x3"]


@pytest.fixture(scope="module")
def vertex(_vertex_emulator_session, tmp_path_factory):
    from cloudeploy.providers.vertex import VertexProvider

    emulator = _vertex_emulator_session
    provider = VertexProvider(Profile(name="emulator", provider="vertex",
                                      settings=emulator.profile_settings(bucket="attributions")))
    X, _ = training_data()
    cloudeploy.deploy(fitted_model(0), "explained", model_name="explained", provider=provider, baseline=X)
    # A ready baseline (statistics, no training rows): monitoring works, but no attributions are made.
    cloudeploy.deploy(fitted_model(0), "plain", model_name="plain", provider=provider,
                      baseline=compute_baseline(X))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLOUDEPLOY_HOME", str(tmp_path_factory.mktemp("home")))
        yield provider
    for endpoint in ("explained", "plain"):
        provider.delete_endpoint(endpoint, force=True)


def model_of(provider, endpoint):
    resource = provider.clients.endpoints.get_endpoint(name=f"{provider.settings.parent}/endpoints/{endpoint}")
    deployed = resource.deployed_models[0]
    return deployed, provider.clients.models.get_model(name=f"{deployed.model}@{deployed.model_version_id}")


def objective_of(provider, endpoint):
    jobs = provider.clients.jobs.list_model_deployment_monitoring_jobs(parent=provider.settings.parent)
    job = next(job for job in jobs if job.endpoint.endswith(f"/endpoints/{endpoint}"))
    return job.model_deployment_monitoring_objective_configs[0].objective_config


def test_a_version_with_training_attributions_is_uploaded_with_an_explanation_spec(vertex):
    _, model = model_of(vertex, "explained")
    spec = model.explanation_spec
    assert spec.parameters.sampled_shapley_attribution.path_count == 10
    assert list(spec.metadata.inputs["features"].index_feature_mapping) == FEATURES
    _, plain = model_of(vertex, "plain")
    assert not plain.explanation_spec.metadata.inputs


def test_its_monitoring_job_watches_feature_attributions_at_the_spec_threshold(vertex):
    result = configure("explained", MonitorSpec(attribution_threshold=0.15,
                                                training_data="gs://attributions/train.csv"), provider=vertex)
    objective = objective_of(vertex, "explained")
    assert objective.explanation_config.enable_feature_attributes
    drift = objective.prediction_drift_detection_config.attribution_score_drift_thresholds
    skew = objective.training_prediction_skew_detection_config.attribution_score_skew_thresholds
    assert {name: round(t.value, 6) for name, t in drift.items()} == dict.fromkeys(FEATURES, 0.15)
    assert {name: round(t.value, 6) for name, t in skew.items()} == dict.fromkeys(FEATURES, 0.15)
    deployed, _ = model_of(vertex, "explained")
    assert result["feature_attributions"] == [deployed.id]


def test_a_version_without_attributions_gets_no_attribution_monitoring(vertex):
    configure("plain", MonitorSpec(), provider=vertex)
    objective = objective_of(vertex, "plain")
    assert not objective.explanation_config.enable_feature_attributes
    assert not objective.prediction_drift_detection_config.attribution_score_drift_thresholds


def test_the_emulator_refuses_attribution_monitoring_for_a_model_without_an_explanation_spec(vertex):
    from google.cloud.aiplatform_v1 import types

    deployed, _ = model_of(vertex, "plain")
    Objective = types.ModelMonitoringObjectiveConfig
    objective = Objective(
        explanation_config=Objective.ExplanationConfig(enable_feature_attributes=True),
        prediction_drift_detection_config=Objective.PredictionDriftDetectionConfig(
            drift_thresholds={"x0": types.ThresholdConfig(value=0.3)}),
    )
    job = types.ModelDeploymentMonitoringJob(
        display_name="by-hand", endpoint=f"{vertex.settings.parent}/endpoints/plain",
        model_deployment_monitoring_objective_configs=[
            types.ModelDeploymentMonitoringObjectiveConfig(deployed_model_id=deployed.id, objective_config=objective)],
        logging_sampling_strategy=types.SamplingStrategy(
            random_sample_config=types.SamplingStrategy.RandomSampleConfig(sample_rate=1.0)),
        model_deployment_monitoring_schedule_config=types.ModelDeploymentMonitoringScheduleConfig(
            monitor_interval={"seconds": 3600}),
    )
    jobs = vertex.clients.jobs
    existing = [j for j in jobs.list_model_deployment_monitoring_jobs(parent=vertex.settings.parent)
                if j.endpoint.endswith("/endpoints/plain")]
    with pytest.raises((api_exceptions.InvalidArgument, api_exceptions.BadRequest)) as raised:
        if existing:
            from google.protobuf import field_mask_pb2

            job.name = existing[0].name
            jobs.update_model_deployment_monitoring_job(
                model_deployment_monitoring_job=job,
                update_mask=field_mask_pb2.FieldMask(paths=["model_deployment_monitoring_objective_configs"]),
            ).result(timeout=60)
        else:
            jobs.create_model_deployment_monitoring_job(parent=vertex.settings.parent,
                                                        model_deployment_monitoring_job=job)
    assert "explanation_spec" in str(raised.value)
