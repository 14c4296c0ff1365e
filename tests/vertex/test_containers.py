"""The serving image choice: prebuilt when it matches the package, else cloudeploy's, never a mismatch."""

from __future__ import annotations

import pytest

from cloudeploy.errors import ConfigError
from cloudeploy.providers.vertex.containers import choose_container

CLOUDEPLOY_IMAGE = "europe-west4-docker.pkg.dev/p/cloudeploy/serving:1"


def test_a_listed_scikit_learn_gets_its_prebuilt_image():
    choice = choose_container(
        model_format="joblib", sklearn_version="1.5.2", region="us-central1", serving_image=None
    )
    assert choice.image_uri == "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-5:latest"
    assert choice.prebuilt


def test_the_prebuilt_image_comes_from_the_regions_registry():
    choice = choose_container(
        model_format="pickle", sklearn_version="1.3.0", region="europe-west4", serving_image=None
    )
    assert choice.image_uri.startswith("europe-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3")


def test_a_newer_scikit_learn_gets_the_cloudeploy_image():
    choice = choose_container(
        model_format="joblib",
        sklearn_version="1.9.1",
        region="us-central1",
        serving_image=CLOUDEPLOY_IMAGE,
    )
    assert (choice.image_uri, choice.prebuilt) == (CLOUDEPLOY_IMAGE, False)


def test_skops_and_onnx_get_the_cloudeploy_image_even_for_old_scikit_learn():
    for model_format in ("skops", "onnx"):
        choice = choose_container(
            model_format=model_format,
            sklearn_version="1.5.0",
            region="us-central1",
            serving_image=CLOUDEPLOY_IMAGE,
        )
        assert choice.image_uri == CLOUDEPLOY_IMAGE


def test_no_fitting_image_is_a_config_error_naming_serving_image():
    with pytest.raises(ConfigError, match="1.9.1") as raised:
        choose_container(
            model_format="joblib", sklearn_version="1.9.1", region="us-central1", serving_image=None
        )
    assert "serving_image" in raised.value.hint
