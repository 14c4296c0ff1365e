"""The scenario of issue 14, end to end through the `cloudeploy` command.

A healthy LogisticRegression serves the endpoint; four client threads post
single rows; v2 is a KNeighborsClassifier(n_neighbors=50) fitted on 10 rows,
whose every predict raises ValueError. It used to be promoted to 100% (the
server answered 400, which the gates did not count); now its answers are model
errors, the rollout is rolled back (exit 3) and the endpoint answers every
request afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
from sklearn.neighbors import KNeighborsClassifier

from cloudeploy.testing import zoo
from tests.zoo.stream import RequestStream, failures_outside


def test_a_version_raising_value_error_is_rolled_back_and_the_endpoint_keeps_answering(classifier_endpoint):
    X, y, _ = zoo.training_data()
    version = classifier_endpoint.deploy(KNeighborsClassifier(n_neighbors=50).fit(X[:10], y[:10]))
    stream = RequestStream(classifier_endpoint.url, min_requests=400).start()
    try:
        promote = subprocess.run(
            [sys.executable, "-m", "cloudeploy.cli", "promote", classifier_endpoint.name, "--to", version,
             "--steps", "10,50,100", "--bake", "3s", "--min-requests", "10", "--max-error-rate", "0.05",
             "--no-live", "--output", "json"],
            env=classifier_endpoint.env(), capture_output=True, text=True, timeout=300,
        )
    finally:
        answers = stream.finish()

    assert promote.returncode == 3, promote.stderr
    report = json.loads(promote.stdout)
    assert report["traffic"] == {"v1": 100, version: 0}
    assert "error_rate broke" in report["reason"]
    errors = next(g for g in report["decisions"][-1]["gates"] if g["gate"] == "error_rate")
    assert errors["new"] > 0.05 and errors["baseline"] == 0.0
    assert report["decisions"][-1]["metrics"]["new"]["model_errors"] > 0
    assert failures_outside(answers, version) == []
    assert {a.status for a in answers if a.version == version} <= {500}

    rows = zoo.traffic(100, seed=7)
    with httpx.Client(timeout=30) as client:
        statuses = [client.post(f"{classifier_endpoint.url}/predict", json={"instances": [row]}).status_code
                    for row in rows]
    assert statuses == [200] * 100
