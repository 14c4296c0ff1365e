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


def test_an_xgboost_package_gets_the_xgboost_image_of_its_release():
    choice = choose_container(
        model_format="xgboost", sklearn_version="1.5.2", region="asia-east1", serving_image=None,
        frameworks={"xgboost": "2.0.3", "scikit-learn": "1.5.2"},
    )  # fmt: skip
    assert choice.image_uri == "asia-docker.pkg.dev/vertex-ai/prediction/xgboost-cpu.2-0:latest"
    assert (choice.prebuilt, choice.runtime) == (True, "xgboost")


def test_an_xgboost_release_without_an_image_gets_the_cloudeploy_image_saying_why():
    choice = choose_container(
        model_format="xgboost", sklearn_version="1.5.2", region="us-central1",
        serving_image=CLOUDEPLOY_IMAGE, frameworks={"xgboost": "3.2.0"},
    )  # fmt: skip
    assert (choice.image_uri, choice.prebuilt) == (CLOUDEPLOY_IMAGE, False)
    assert "XGBoost 3.2.0" in choice.reason


def test_a_joblib_package_never_gets_the_xgboost_image():
    choice = choose_container(
        model_format="joblib", sklearn_version="1.9.1", region="us-central1",
        serving_image=CLOUDEPLOY_IMAGE, frameworks={"xgboost": "2.1.0"},
    )  # fmt: skip
    assert choice.image_uri == CLOUDEPLOY_IMAGE


def test_lightgbm_has_no_prebuilt_image():
    choice = choose_container(
        model_format="lightgbm", sklearn_version="1.5.2", region="us-central1",
        serving_image=CLOUDEPLOY_IMAGE, frameworks={"lightgbm": "4.5.0"},
    )  # fmt: skip
    assert choice.image_uri == CLOUDEPLOY_IMAGE
    assert "no prebuilt LightGBM" in choice.reason
    with pytest.raises(ConfigError, match="LightGBM"):
        choose_container(
            model_format="lightgbm", sklearn_version=None, region="us-central1", serving_image=None
        )


def test_status_describes_prebuilt_and_serving_images():
    from cloudeploy.providers.vertex.containers import describe_runtime

    image = "us-docker.pkg.dev/vertex-ai/prediction/xgboost-cpu.2-1:latest"
    assert describe_runtime(image) == "xgboost (xgboost-cpu.2-1)"
    assert describe_runtime(CLOUDEPLOY_IMAGE, "onnx") == "onnx (cloudeploy serving image)"
