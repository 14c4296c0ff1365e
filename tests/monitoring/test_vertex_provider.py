"""Monitoring on Vertex AI against the emulator: the model deployment monitoring job,
numbers computed from the endpoint's request-response log (BigQuery), and the
drift rollout gate reading that log.

One endpoint serves the module: ``mon`` with v1 (100 %) and v2 (0 %), both
deployed with the training baseline. Tests that read the log first point the
endpoint's logging at a table of their own, so they see only their own rows.
"""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
from click.testing import CliRunner

import cloudeploy
from cloudeploy.cli import cli
from cloudeploy.config import Profile
from cloudeploy.errors import ValidationError
from cloudeploy.monitoring import MonitorSpec, configure, monitor, status
from cloudeploy.types import TrafficSplit
from tests.monitoring.conftest import capture_record, write_capture
from tests.monitoring.webhook import WebhookReceiver
from tests.monitoring.workload import SHIFTED, fitted_model, send, serving_rows, training_data
from tests.vertex.test_request_logging import set_logging

ENDPOINT = "mon"
SHIFTED_NAMES = sorted(f"x{i}" for i in SHIFTED)
FEATURES = ["x0", "x1", "x2", "x3"]


@pytest.fixture(scope="module")
def vertex(_vertex_emulator_session):
    from cloudeploy.providers.vertex import VertexProvider

    emulator = _vertex_emulator_session
    emulator.reset()
    provider = VertexProvider(Profile(name="emulator", provider="vertex",
                                      settings=emulator.profile_settings(bucket="monitoring")))
    X, _ = training_data()
    for number, seed in enumerate((0, 1)):
        cloudeploy.deploy(fitted_model(seed), ENDPOINT, model_name="m", provider=provider, baseline=X,
                          traffic=None if number == 0 else 0)
    yield provider
    emulator.reset()


@pytest.fixture
def provider(vertex, monkeypatch, tmp_path):
    monkeypatch.setenv("CLOUDEPLOY_HOME", str(tmp_path))
    vertex.set_traffic(ENDPOINT, TrafficSplit({"v1": 100}))
    return vertex


def log_to_own_table(provider, *, enabled=True):
    """Point ``mon``'s request-response logging at a fresh table, every call logged."""
    table = f"bq://{provider.settings.project}.monitoring.t_{uuid.uuid4().hex[:12]}"
    set_logging(provider.clients.endpoints, f"{provider.settings.parent}/endpoints/{ENDPOINT}",
                enabled=enabled, uri=table)


def the_job(provider):
    jobs = provider.clients.jobs.list_model_deployment_monitoring_jobs(parent=provider.settings.parent)
    return next(job for job in jobs if job.endpoint.endswith(f"/endpoints/{ENDPOINT}"))


def test_configure_creates_the_monitoring_job_with_thresholds_sampling_interval_and_emails(provider):
    spec = MonitorSpec(skew_thresholds={"x1": 0.2}, drift_thresholds={"x2": 0.1}, sample_rate=0.5,
                       interval="2h", alert_emails=("ml@example.com",), training_data="gs://monitoring/train.csv")
    configure(ENDPOINT, spec, provider=provider)
    job = the_job(provider)
    objective = job.model_deployment_monitoring_objective_configs[0].objective_config
    skew = objective.training_prediction_skew_detection_config.skew_thresholds
    drift = objective.prediction_drift_detection_config.drift_thresholds
    assert {name: round(t.value, 6) for name, t in skew.items()} == {"x0": 0.3, "x1": 0.2, "x2": 0.3, "x3": 0.3}
    assert round(drift["x2"].value, 6) == 0.1
    assert list(objective.training_dataset.gcs_source.uris) == ["gs://monitoring/train.csv"]
    assert job.logging_sampling_strategy.random_sample_config.sample_rate == 0.5
    assert job.model_deployment_monitoring_schedule_config.monitor_interval.total_seconds() == 7200
    assert list(job.model_monitoring_alert_config.email_alert_config.user_emails) == ["ml@example.com"]


def test_configuring_again_updates_the_one_job(provider):
    configure(ENDPOINT, MonitorSpec(training_data="gs://monitoring/train.csv"), provider=provider)
    configure(ENDPOINT, MonitorSpec(default_threshold=0.25, training_data="gs://monitoring/train.csv"),
              provider=provider)
    jobs = list(provider.clients.jobs.list_model_deployment_monitoring_jobs(parent=provider.settings.parent))
    assert len(jobs) == 1
    skew = jobs[0].model_deployment_monitoring_objective_configs[0].objective_config
    assert round(skew.training_prediction_skew_detection_config.skew_thresholds["x0"].value, 6) == 0.25


def test_status_shows_the_running_job(provider):
    configure(ENDPOINT, MonitorSpec(training_data="gs://monitoring/train.csv"), provider=provider)
    assert status(ENDPOINT, provider=provider)["monitoring_job"]["state"] in ("JOB_STATE_PENDING",
                                                                             "JOB_STATE_RUNNING")


def test_configure_turns_request_logging_on_at_the_specs_sampling_rate(provider):
    log_to_own_table(provider, enabled=False)
    configure(ENDPOINT, MonitorSpec(sample_rate=0.5), provider=provider)
    logging = status(ENDPOINT, provider=provider)["request_logging"]
    assert (logging["enabled"], logging["sampling_rate"]) == (True, 0.5)


def test_run_without_request_logging_says_to_configure_monitoring(provider):
    log_to_own_table(provider, enabled=False)
    with pytest.raises(ValidationError, match="monitor configure mon"):
        monitor(ENDPOINT, provider=provider)


@pytest.fixture
def cli_profile(vertex, monkeypatch, tmp_path):
    """``cloudeploy.toml`` with the emulator as profile ``emu``."""
    from cloudeploy.config import write_profile

    settings = {k: v for k, v in vertex.profile.settings.items() if k != "provider"}
    monkeypatch.setenv("CLOUDEPLOY_CONFIG", str(write_profile("emu", "vertex", settings,
                                                              path=tmp_path / "cloudeploy.toml")))
    return "emu"


@pytest.mark.parametrize(("shifted", "expected"), [((), []), (SHIFTED, SHIFTED_NAMES)],
                         ids=["unshifted-no-alert", "shifted-alerts-exactly-those"])
def test_monitor_run_reads_the_request_log_and_alerts_exactly_the_shifted_features(provider, cli_profile,
                                                                                   shifted, expected):
    log_to_own_table(provider)
    send(provider, ENDPOINT, serving_rows(200, shifted=shifted))
    answer = CliRunner().invoke(cli, ["monitor", "run", ENDPOINT, "--window", "10m", "--no-publish",
                                      "--profile", cli_profile, "--output", "json"])
    assert answer.exit_code == (8 if expected else 0), answer.output  # 8: a threshold breached
    data = json.loads(answer.stdout)
    assert (sorted(data["breached"]), data["serving_rows"]) == (expected, 200)


def export(provider, rows, directory):
    """Send ``rows`` to the endpoint and write them as a capture export; returns the window end."""
    records = []
    for start in range(0, len(rows), 20):
        batch = rows[start:start + 20]
        predictions = provider.predict(ENDPOINT, batch).predictions
        records.append(capture_record(time.time(), FEATURES, batch, predictions=predictions))
    write_capture(directory / uuid.uuid4().hex, records)
    return time.time() + 0.01


@pytest.mark.parametrize(("shifted", "expected"), [((), []), (SHIFTED, SHIFTED_NAMES)],
                         ids=["unshifted-no-alert", "shifted-alerts-exactly-those"])
def test_client_side_numbers_from_an_export_alert_exactly_the_shifted_features(provider, tmp_path,
                                                                                 shifted, expected):
    start = time.time()
    end = export(provider, serving_rows(200, shifted=shifted), tmp_path)
    with WebhookReceiver() as webhook:
        run = monitor(ENDPOINT, MonitorSpec(window=end - start, webhook_url=webhook.url), provider=provider,
                      capture=next(tmp_path.iterdir()), now=end)
    assert sorted(run.breached) == expected
    assert webhook.breached_names() == ([expected] if expected else [])


@pytest.mark.parametrize(("shifted", "outcome"), [((), "promoted"), (SHIFTED, "rolled_back")],
                         ids=["unshifted-promoted", "shifted-rolled-back"])
def test_drift_gate_judges_the_new_versions_logged_requests(provider, shifted, outcome):
    from cloudeploy.rollout import RolloutPlan

    log_to_own_table(provider)
    stop = threading.Event()

    def stream():
        rows = serving_rows(20, shifted=shifted, seed=11)
        while not stop.is_set():
            provider.predict(ENDPOINT, rows)

    thread = threading.Thread(target=stream, daemon=True)
    thread.start()
    try:
        plan = RolloutPlan(steps=(50, 100), bake_s=1.0, min_requests=5, max_wait_s=60,
                           gates={"drift": {"max": 0.3}})
        result = cloudeploy.promote(ENDPOINT, "v2", plan=plan, provider=provider)
    finally:
        stop.set()
        thread.join(timeout=30)
    gate = next(g for g in result.decisions[-1].gates if g["gate"] == "drift")
    assert (result.outcome, gate["passed"]) == (outcome, outcome == "promoted"), gate


def test_monitor_run_scores_only_the_logged_requests_inside_its_window(provider):
    log_to_own_table(provider)
    start = time.time()
    send(provider, ENDPOINT, serving_rows(100))
    middle = time.time()
    send(provider, ENDPOINT, serving_rows(60, seed=2))
    run = monitor(ENDPOINT, MonitorSpec(window=middle - start), provider=provider, now=middle,
                  alert=False, publish=False)
    assert run.result.serving_rows == 100


def test_a_pass_reports_outlier_share_and_attribution_drift_from_the_bucket_package(provider, tmp_path):
    start = time.time()
    rows = serving_rows(100, seed=13)
    for row in rows[:60]:
        row[0] = 0.0  # x0 at its training mean: the model leans on x2 alone for these rows
        row[3] = 30.0  # far outside training: outliers
    end = export(provider, rows, tmp_path)
    run = monitor(ENDPOINT, MonitorSpec(window=end - start), provider=provider, capture=next(tmp_path.iterdir()),
                  now=end, alert=False)
    assert run.result.outliers["rows"] == 100 and run.outliers_breached
    assert run.result.attributions["method"] == "linear" and "x0" in run.attributions_breached
