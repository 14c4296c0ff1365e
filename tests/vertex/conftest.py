"""Fixtures for the Vertex AI emulator and provider tests.

SDK-only tests use ``aiplatform`` (the real google-cloud-aiplatform, REST
transport, anonymous credentials) pointed at the session's emulator, which the
``vertex_emulator`` fixture of cloudeploy's pytest plugin resets before each test.
"""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path

import pytest

PREBUILT_IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-5:latest"
BUCKET = "sdk-tests"
_seeds = itertools.count()


def training_data(seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(80, 3))
    y = (X[:, 0] - X[:, 1] + rng.normal(scale=0.1, size=80) > 0).astype(int)
    return X, y


def fitted_model(seed: int = 0):
    from sklearn.linear_model import LogisticRegression

    X, y = training_data(seed)
    return LogisticRegression(C=0.5 + seed).fit(X, y)


def instances(n: int = 6) -> list[list[float]]:
    X, _ = training_data(1234)
    return X[:n].round(3).tolist()


@pytest.fixture
def aiplatform(vertex_emulator, monkeypatch):
    """google.cloud.aiplatform, initialised against the emulator, with a staging bucket."""
    from google.cloud import aiplatform as sdk

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", vertex_emulator.storage_endpoint)
    vertex_emulator.profile_settings(bucket=BUCKET)
    vertex_emulator.init_sdk(staging_bucket=f"gs://{BUCKET}")
    return sdk


@pytest.fixture
def model_dir(tmp_path: Path):
    """A folder holding a fitted model as model.joblib (what prebuilt images load)."""
    import joblib

    def make(seed: int = 0) -> Path:
        folder = tmp_path / f"model-{seed}-{next(_seeds)}"
        folder.mkdir()
        joblib.dump(fitted_model(seed), folder / "model.joblib")
        return folder

    return make


@pytest.fixture
def upload(aiplatform, model_dir):
    """Upload a model (or a version of one) from a local folder through the SDK."""

    def do(seed: int = 0, **kwargs):
        kwargs.setdefault("display_name", "house-price")
        kwargs.setdefault("serving_container_image_uri", PREBUILT_IMAGE)
        return aiplatform.Model.upload(artifact_uri=str(model_dir(seed)), **kwargs)

    return do


@contextlib.contextmanager
def sdk_session(emulator):
    """The aiplatform SDK pointed at ``emulator`` (fresh state) for a module-scoped fixture."""
    emulator.reset()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STORAGE_EMULATOR_HOST", emulator.storage_endpoint)
        emulator.profile_settings(bucket=BUCKET)
        emulator.init_sdk(staging_bucket=f"gs://{BUCKET}")
        yield
    emulator.reset()


def deploy_prebuilt(
    tmp_path_factory, endpoint_id: str, *, display_name: str = "house-price", seed: int = 0
):
    """Upload a fitted model for the prebuilt image and deploy it to a new endpoint ``endpoint_id``."""
    import joblib
    from google.cloud import aiplatform

    folder = tmp_path_factory.mktemp("model")
    joblib.dump(fitted_model(seed), folder / "model.joblib")
    model = aiplatform.Model.upload(
        display_name=display_name,
        artifact_uri=str(folder),
        serving_container_image_uri=PREBUILT_IMAGE,
    )
    endpoint = aiplatform.Endpoint.create(display_name=endpoint_id, endpoint_id=endpoint_id)
    model.deploy(endpoint=endpoint, machine_type="n1-standard-2")
    return endpoint
