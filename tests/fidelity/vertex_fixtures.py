"""Module-scoped setup for the Vertex AI fidelity tests.

What a sample notebook does before its first Vertex AI call, pointed at the
emulator instead of Google: ``aiplatform.init`` (plus the REST transport, the
emulator's address and anonymous credentials), a Cloud Storage bucket, and a
fitted scikit-learn model saved as ``model.joblib`` in it (the samples copy
theirs with ``gsutil cp``; here google-cloud-storage does). Everything after
that, in the test modules, is the sample's own SDK calls.

``tests/fidelity/conftest.py`` imports the fixtures (``vertex``, ``model_uri``), so
every module of the suite can ask for them; the helpers are imported from here.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pytest

BUCKET = "fidelity-samples"
PREBUILT_IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-5:latest"
FEATURES = 3


def training_data(seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(120, FEATURES))
    y = (X[:, 0] - X[:, 1] + rng.normal(scale=0.1, size=120) > 0).astype(int)
    return X, y


def fitted_model(seed: int = 0):
    from sklearn.linear_model import LogisticRegression

    X, y = training_data(seed)
    return LogisticRegression(C=0.5 + seed).fit(X, y)


def instances(n: int = 5) -> list[list[float]]:
    X, _ = training_data(99)
    return X[:n].round(3).tolist()


@dataclass
class VertexSample:
    """The emulator and the values a sample notebook sets at its top."""

    emulator: Any
    project: str
    location: str
    bucket_uri: str

    def storage(self):
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(project=self.project, credentials=AnonymousCredentials())

    def bigquery(self):
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        return bigquery.Client(
            project=self.project,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": self.emulator.api_endpoint},
        )

    def upload_text(self, path: str, text: str) -> str:
        self.storage().bucket(BUCKET).blob(path).upload_from_string(text)
        return f"{self.bucket_uri}/{path}"


@pytest.fixture(scope="module")
def vertex(vertex_emulator_session):
    """A fresh emulator and ``aiplatform.init`` as the samples call it, for one module."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    emulator = vertex_emulator_session
    emulator.reset()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STORAGE_EMULATOR_HOST", emulator.storage_endpoint)
        sample = VertexSample(emulator, emulator.project, emulator.region, f"gs://{BUCKET}")
        sample.storage().create_bucket(BUCKET)
        aiplatform.init(
            project=sample.project,
            location=sample.location,
            staging_bucket=sample.bucket_uri,
            credentials=AnonymousCredentials(),
            api_transport="rest",
            api_endpoint=emulator.api_endpoint,
        )
        # The SDK sleeps 5 s between job polls; the emulator moves a job on at each poll.
        patch.setattr(aiplatform.jobs, "_JOB_WAIT_TIME", 0.1)
        yield sample
    emulator.reset()


def save_model(sample: VertexSample, folder: str, seed: int = 0) -> str:
    """``gs://.../<folder>`` holding ``model.joblib`` of :func:`fitted_model` (what the prebuilt image loads)."""
    import joblib

    buffer = io.BytesIO()
    joblib.dump(fitted_model(seed), buffer)
    sample.storage().bucket(BUCKET).blob(f"{folder}/model.joblib").upload_from_string(
        buffer.getvalue()
    )
    return f"{sample.bucket_uri}/{folder}"


@pytest.fixture(scope="module")
def model_uri(vertex):
    """The artifact directory of the model the module's sample deploys (seed 0)."""
    return save_model(vertex, "model")
