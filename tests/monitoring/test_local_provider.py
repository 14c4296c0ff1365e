"""Monitoring on the local provider, with real gateway and replica processes.

One endpoint serves the module: ``mon`` with v1 (100 %) and v2 (0 %), both
deployed with the training baseline. Each test sends its own traffic and
scores exactly the time window it sent it in, so tests do not see each
other's requests and do not depend on their order.
"""

from __future__ import annotations

import contextlib
import csv
import json
import threading
import time

import pytest
from click.testing import CliRunner

import cloudeploy
from cloudeploy.config import Profile
from cloudeploy.monitoring import MonitorSpec, js_divergence, monitor, read_capture
from cloudeploy.providers.local import LocalProvider
from cloudeploy.providers.local.processes import pid_alive, terminate
from cloudeploy.types import TrafficSplit
from tests.monitoring.webhook import WebhookReceiver
from tests.monitoring.workload import SHIFTED, fitted_model, send, serving_rows, training_data

ENDPOINT = "mon"
SHIFTED_NAMES = sorted(f"x{i}" for i in SHIFTED)


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    home = tmp_path_factory.mktemp("monitoring-home")
    provider = LocalProvider(Profile(name="monitoring-tests", settings={"home": str(home)}))
    X, _ = training_data()
    try:
        for number, seed in enumerate((0, 1)):
            cloudeploy.deploy(fitted_model(seed), ENDPOINT, model_name="m", provider=provider,
                              baseline=X, traffic=None if number == 0 else 0)
        yield provider
    finally:
        with contextlib.suppress(Exception):
            for row in provider.store.endpoints():
                if pid_alive(row.gateway_pid):
                    terminate(row.gateway_pid, timeout=20)


@pytest.fixture
def provider(local):
    local.set_traffic(ENDPOINT, TrafficSplit({"v1": 100}))
    return local


#: A window given to the CLI as a width ends at the CLI's own "now", which on a busy machine
#: comes a moment after the test computed the width: the tests that score through the CLI
#: leave this much quiet time before their rows, so the window may start late without
#: losing any row, and still reaches back to no earlier test's rows.
QUIET_S = 2.0


def quiet_then(provider, rows):
    """Wait QUIET_S with no traffic, then :func:`traffic_window`; (quiet start, end, predictions)."""
    quiet = time.time()
    time.sleep(QUIET_S)
    _, end, predictions = traffic_window(provider, rows)
    return quiet, end, predictions


def traffic_window(provider, rows):
    """Send ``rows``; return (start, end) bracketing their capture timestamps."""
    start = time.time()
    predictions = send(provider, ENDPOINT, rows)
    sent = time.time()
    # Replicas write captures after answering (a batch within ~50 ms, later on a busy machine):
    # wait until this window holds every row sent, rather than for a fixed time.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        folders = [d for d in provider.capture_dir(ENDPOINT).iterdir() if d.is_dir()]
        captured = sum(len(r["instances"]) for r in read_capture(folders, since=start, until=sent + 1))
        if captured >= len(rows):
            break
        time.sleep(0.05)
    return start, time.time(), predictions


def run_on(provider, window, webhook_url=None):
    start, end = window[:2]
    spec = MonitorSpec(window=end - start, webhook_url=webhook_url)
    return monitor(ENDPOINT, spec, provider=provider, now=end)


def test_unshifted_traffic_raises_no_alert(provider):
    with WebhookReceiver() as webhook:
        run = run_on(provider, traffic_window(provider, serving_rows(300)), webhook.url)
    assert run.result.serving_rows == 300
    assert run.breached == []
    assert webhook.bodies == []


def test_shifted_traffic_alerts_exactly_the_shifted_features(provider):
    with WebhookReceiver() as webhook:
        run = run_on(provider, traffic_window(provider, serving_rows(300, shifted=SHIFTED)), webhook.url)
    assert sorted(run.breached) == SHIFTED_NAMES
    assert webhook.breached_names() == [SHIFTED_NAMES]


def test_run_json_lets_anyone_recompute_every_score(provider, monkeypatch):
    from cloudeploy.cli import cli

    start, end, _ = quiet_then(provider, serving_rows(200, shifted=SHIFTED))
    monkeypatch.setenv("CLOUDEPLOY_HOME", str(provider.home))
    time.sleep(max(0.0, end + 0.01 - time.time()))
    window = f"{time.time() - start:.3f}s"
    answer = CliRunner().invoke(cli, ["monitor", "run", ENDPOINT, "--provider", "local", "--window", window,
                                       "--no-alert", "--output", "json"])
    assert answer.exit_code == 8, answer.output
    document = json.loads(answer.output)
    assert sorted(document["breached"]) == SHIFTED_NAMES
    for feature in document["features"]:
        assert len(feature["bin_edges"]) == len(feature["baseline_counts"]) + 1
        assert feature["score"] == pytest.approx(js_divergence(feature["baseline_counts"], feature["serving_counts"]))
        assert feature["breached"] == (feature["score"] > feature["threshold"])


def test_report_writes_html_and_json(provider, monkeypatch, tmp_path):
    from cloudeploy.cli import cli

    start, _, _ = quiet_then(provider, serving_rows(100, shifted=SHIFTED))
    monkeypatch.setenv("CLOUDEPLOY_HOME", str(provider.home))
    html = tmp_path / "report.html"
    answer = CliRunner().invoke(cli, ["monitor", "report", ENDPOINT, "--provider", "local", "-o", str(html),
                                       "--window", f"{time.time() - start + 0.01:.3f}s", "--output", "json"])
    assert answer.exit_code == 0, answer.output
    assert html.read_text().lstrip().lower().startswith("<!doctype html")
    data = json.loads((tmp_path / "report.json").read_text())
    assert sorted(data["breached"]) == SHIFTED_NAMES


def test_evaluate_joins_labels_to_captured_predictions(provider, monkeypatch, tmp_path):
    from cloudeploy.cli import cli

    start, end, _ = traffic_window(provider, serving_rows(60, seed=7))
    records = list(read_capture(provider.capture_dir(ENDPOINT) / "v1", since=start, until=end))
    labels = tmp_path / "labels.csv"
    right = total = 0
    with labels.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["request_id", "label", "index"])
        for record in records:
            for index, (row, prediction) in enumerate(zip(record["instances"], record["predictions"], strict=True)):
                truth = int(row[0] + row[2] > 0)
                writer.writerow([record["request_id"], truth, index])
                total += 1
                right += truth == prediction
    monkeypatch.setenv("CLOUDEPLOY_HOME", str(provider.home))
    answer = CliRunner().invoke(cli, ["monitor", "evaluate", ENDPOINT, "--provider", "local",
                                       "--labels", str(labels), "--output", "json"])
    assert answer.exit_code == 0, answer.output
    data = json.loads(answer.output)
    assert (data["labeled"], data["unmatched_labels"]) == (total, 0)
    assert total == 60
    joined = sum(w["accuracy"] * w["count"] for w in data["windows"])
    assert joined == pytest.approx(right)


def test_drift_gate_rolls_back_a_version_that_sees_shifted_data(provider):
    from cloudeploy.rollout import RolloutPlan

    stop = threading.Event()

    def shifted_stream():
        rows = serving_rows(20, shifted=SHIFTED, seed=11)
        while not stop.is_set():
            provider.predict(ENDPOINT, rows)

    thread = threading.Thread(target=shifted_stream, daemon=True)
    thread.start()
    try:
        plan = RolloutPlan(steps=(50, 100), bake_s=1.0, min_requests=5, max_wait_s=60,
                           gates={"drift": {"max": 0.3}})
        result = cloudeploy.promote(ENDPOINT, "v2", plan=plan, provider=provider)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert result.outcome == "rolled_back"
    assert result.traffic == {"v1": 100, "v2": 0}
    gate = next(g for g in result.decisions[-1].gates if g["gate"] == "drift")
    assert gate["passed"] is False and gate["value"] > 0.3


def test_drift_compares_the_last_window_with_the_one_before(provider):
    start, middle, _ = traffic_window(provider, serving_rows(400, seed=3))
    _, end, _ = traffic_window(provider, serving_rows(100, shifted=SHIFTED, seed=4))
    window = end - middle
    assert middle - start >= window  # the previous window holds only this test's unshifted rows
    run = monitor(ENDPOINT, MonitorSpec(window=window), kind="drift", provider=provider, now=end)
    assert run.result.kind == "drift"
    assert run.result.serving_rows == 100
    assert sorted(run.breached) == SHIFTED_NAMES


def test_run_with_the_sensitive_preset_scores_by_wasserstein_and_flags_the_shift(provider, monkeypatch):
    from cloudeploy.cli import cli

    start, end, _ = quiet_then(provider, serving_rows(200, shifted=SHIFTED, seed=5))
    monkeypatch.setenv("CLOUDEPLOY_HOME", str(provider.home))
    time.sleep(max(0.0, end + 0.01 - time.time()))
    answer = CliRunner().invoke(cli, ["monitor", "run", ENDPOINT, "--provider", "local", "--preset", "sensitive",
                                       "--window", f"{time.time() - start:.3f}s", "--no-alert", "--output", "json"])
    assert answer.exit_code == 8, answer.output
    document = json.loads(answer.output)
    assert {f["metric"] for f in document["features"]} == {"wasserstein"}  # 2,000 baseline rows
    assert document["serving_rows"] == 200  # exactly this test's rows: the flag below is theirs
    assert sorted(document["breached"]) == SHIFTED_NAMES


def test_sensitive_drift_gate_rolls_back_a_version_that_sees_shifted_data(provider):
    from cloudeploy.rollout import RolloutPlan

    stop = threading.Event()

    def shifted_stream():
        rows = serving_rows(20, shifted=SHIFTED, seed=12)
        while not stop.is_set():
            provider.predict(ENDPOINT, rows)

    thread = threading.Thread(target=shifted_stream, daemon=True)
    thread.start()
    try:
        plan = RolloutPlan(steps=(50, 100), bake_s=1.0, min_requests=5, max_wait_s=60,
                           gates={"drift": {"preset": "sensitive"}})
        result = cloudeploy.promote(ENDPOINT, "v2", plan=plan, provider=provider)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert result.outcome == "rolled_back"
    gate = next(g for g in result.decisions[-1].gates if g["gate"] == "drift")
    assert gate["passed"] is False and gate["value"] > gate["threshold"] == 0.1
    assert "wasserstein" in gate["detail"]


def test_outlier_share_is_low_for_training_like_traffic(provider):
    run = run_on(provider, traffic_window(provider, serving_rows(300, seed=21)))
    outliers = run.result.outliers
    assert outliers["rows"] == 300
    assert outliers["share"] < 0.05 and not run.outliers_breached


def test_outlier_share_rises_when_out_of_range_rows_are_sent(provider):
    rows = serving_rows(300, seed=22)
    for row in rows[:150]:
        row[0], row[2] = 25.0, -30.0  # far outside the training range of x0 and x2
    run = run_on(provider, traffic_window(provider, rows))
    outliers = run.result.outliers
    assert outliers["share"] >= 0.5 and outliers["breached"] and run.outliers_breached
    assert run.to_dict()["outliers"]["outliers"] >= 150


def test_outliers_gate_rolls_back_a_version_that_sees_unusual_rows(provider):
    from cloudeploy.rollout import RolloutPlan

    stop = threading.Event()
    rows = serving_rows(20, seed=23)
    for row in rows:
        row[1] = 40.0

    def unusual_stream():
        while not stop.is_set():
            provider.predict(ENDPOINT, rows)

    thread = threading.Thread(target=unusual_stream, daemon=True)
    thread.start()
    try:
        plan = RolloutPlan(steps=(50, 100), bake_s=1.0, min_requests=5, max_wait_s=60,
                           gates={"outliers": {"max": 0.1}})
        result = cloudeploy.promote(ENDPOINT, "v2", plan=plan, provider=provider)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert result.outcome == "rolled_back"
    gate = next(g for g in result.decisions[-1].gates if g["gate"] == "outliers")
    assert gate["passed"] is False and gate["value"] > 0.1


def test_attribution_drift_sees_the_model_lean_on_another_feature(provider):
    # y = x0 + x2 > 0: a logistic regression leaning on x0 and x2 about equally in training.
    steady = run_on(provider, traffic_window(provider, serving_rows(200, seed=31)))
    assert steady.result.attributions["method"] == "linear"
    assert steady.attributions_breached == []
    rows = serving_rows(200, seed=32)
    for row in rows:
        row[0] = 0.0  # x0 held at its training mean: its attributions vanish, x2 carries everything
    leaning = run_on(provider, traffic_window(provider, rows))
    drift = leaning.result.attributions
    assert "x0" in leaning.attributions_breached and "x2" in drift["breached"]
    assert drift["dominant"]["serving"] == "x2"


def test_drift_with_an_empty_previous_window_says_so_and_is_not_exit_0(provider, monkeypatch):
    """The first window has nothing before it: "0 breached" with exit 0 would read as "no drift"."""
    from cloudeploy.cli import cli

    _, end, _ = traffic_window(provider, serving_rows(50, seed=5))
    monkeypatch.setenv("CLOUDEPLOY_HOME", str(provider.home))
    # Windows of 2 s ending now: the current one holds the 20 rows sent below, the one
    # before it nothing (the last traffic before them is older than 4 s).
    time.sleep(max(0.0, 4.0 - (time.time() - end)))
    _, end, _ = traffic_window(provider, serving_rows(20, seed=6))
    answer = CliRunner().invoke(cli, ["monitor", "run", ENDPOINT, "--provider", "local", "--kind", "drift",
                                       "--window", "2s", "--no-alert"])
    assert answer.exit_code == 9, answer.output
    assert "not judged: the previous window holds no captured rows" in answer.stderr
