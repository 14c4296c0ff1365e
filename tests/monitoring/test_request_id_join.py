"""The request id a client gets back is the key `monitor evaluate` joins ground truth on.

A client predicts, keeps ``Prediction.request_id`` (the ``X-Request-Id`` answer
header on the local provider, the ``InferenceId`` cloudeploy sends on SageMaker),
later learns the true labels and writes ``request_id,label,index``: every label
must meet its captured prediction. The local test's existing sibling
(test_local_provider.py) takes the ids from the capture files, which proves the
join but not that clients can ever know the key; this one only uses what the
client saw.
"""

from __future__ import annotations

import csv
import json
import time

import pytest
from click.testing import CliRunner

import cloudeploy
from cloudeploy.config import Profile, write_profile
from cloudeploy.monitoring import MonitorSpec, configure
from tests.monitoring.workload import fitted_model, serving_rows, training_data

REQUESTS = 12
ROWS_PER_REQUEST = 3


def truth(row: list[float]) -> int:
    return int(row[0] + row[2] > 0)  # the rule workload.fitted_model learns


def predict_and_label(provider, endpoint: str, labels_csv) -> tuple[set[str], int, int]:
    """Predict as a client would; write the labels it learns later; (ids, rows, right answers)."""
    rows = serving_rows(REQUESTS * ROWS_PER_REQUEST, seed=5)
    ids, right = set(), 0
    with labels_csv.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["request_id", "label", "index"])
        for start in range(0, len(rows), ROWS_PER_REQUEST):
            chunk = rows[start:start + ROWS_PER_REQUEST]
            answer = provider.predict(endpoint, chunk)
            assert answer.request_id, "the answer carries no request id"
            ids.add(answer.request_id)
            for index, (row, prediction) in enumerate(zip(chunk, answer.predictions, strict=True)):
                writer.writerow([answer.request_id, truth(row), index])
                right += truth(row) == prediction
    return ids, len(rows), right


def evaluate_cli(endpoint: str, provider_name: str, labels_csv, *profile_args: str) -> dict:
    """``monitor evaluate``'s answer, once every label met its capture (capture is written
    asynchronously, a batch every ~100 ms: the last requests may still be on their way)."""
    from cloudeploy.cli import cli

    deadline = time.monotonic() + 30
    while True:
        answer = CliRunner().invoke(cli, ["monitor", "evaluate", endpoint, *profile_args, "--provider",
                                           provider_name, "--labels", str(labels_csv), "--output", "json"])
        assert answer.exit_code == 0, answer.output
        data = json.loads(answer.output)
        if data["unmatched_labels"] == 0 or time.monotonic() > deadline:
            return data
        time.sleep(0.5)


def assert_joined(data: dict, rows: int, right: int) -> None:
    assert data["unmatched_labels"] == 0, "labels keyed by the client's request ids found no capture"
    assert data["labeled"] == rows
    assert sum(w["accuracy"] * w["count"] for w in data["windows"]) == pytest.approx(right)


def test_local_client_request_ids_join_the_capture(tmp_path, monkeypatch):
    from cloudeploy.providers.local import LocalProvider

    monkeypatch.setenv("CLOUDEPLOY_HOME", str(tmp_path / "home"))
    provider = LocalProvider(Profile(name="test", provider="local", settings={"home": str(tmp_path / "home")}))
    X, _ = training_data()
    cloudeploy.deploy(fitted_model(), "join-local", provider=provider, baseline=X)
    try:
        ids, rows, right = predict_and_label(provider, "join-local", tmp_path / "labels.csv")
        assert len(ids) == REQUESTS
        assert_joined(evaluate_cli("join-local", "local", tmp_path / "labels.csv"), rows, right)
    finally:
        provider.delete_endpoint("join-local", force=True)


def test_sagemaker_client_request_ids_join_the_data_capture(_sagemaker_emulator_session, tmp_path, monkeypatch):
    from cloudeploy.providers.sagemaker import SageMakerProvider

    emulation = _sagemaker_emulator_session
    settings = emulation.profile_settings()
    provider = SageMakerProvider(Profile(name="emulation", provider="sagemaker", settings=settings))
    monkeypatch.setenv("CLOUDEPLOY_HOME", str(tmp_path / "home"))
    X, _ = training_data()
    cloudeploy.deploy(fitted_model(), "join-sm", model_name="join", provider=provider, baseline=X)
    try:
        configure("join-sm", MonitorSpec(), provider=provider)  # turns data capture on
        ids, rows, right = predict_and_label(provider, "join-sm", tmp_path / "labels.csv")
        assert len(ids) == REQUESTS
        config = write_profile("emu", "sagemaker", {k: v for k, v in settings.items() if k != "provider"},
                               path=tmp_path / "cloudeploy.toml")
        monkeypatch.setenv("CLOUDEPLOY_CONFIG", str(config))
        assert_joined(evaluate_cli("join-sm", "sagemaker", tmp_path / "labels.csv", "--profile", "emu"), rows, right)
    finally:
        provider.delete_endpoint("join-sm", force=True)
