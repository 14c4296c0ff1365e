"""Which serving container a model version gets on Vertex AI.

Vertex AI's prebuilt prediction images exist for a fixed list of releases and
lag the libraries. A package gets the prebuilt image of the ``major.minor`` it
was saved with when one exists and loads the package's format:

- ``sklearn-cpu.M-m`` for joblib / pickle packages, staged as ``model.joblib`` /
  ``model.pkl``;
- ``xgboost-cpu.M-m`` for XGBoost packages (native JSON or UBJSON files), staged
  as ``model.bst``: the image loads ``model.joblib`` or ``model.pkl`` if present,
  else ``xgboost.Booster(model_file="model.bst")``, and answers
  ``booster.predict(xgboost.DMatrix(instances))`` (class probabilities for a
  classifier, one per row for a binary one).

Anything else gets the cloudeploy serving image from the profile (LightGBM has
no prebuilt prediction image on Vertex AI). If neither fits, the upload is
refused: a mismatched image would fail at load time or, worse, predict
differently.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from cloudeploy.errors import ConfigError
from cloudeploy.types import EndpointStatus

#: scikit-learn releases with a prebuilt Vertex AI serving image (sklearn-cpu.M-m).
PREBUILT_SKLEARN = ("0.20", "0.22", "0.23", "0.24", "1.0", "1.2", "1.3", "1.4", "1.5", "1.6")
#: XGBoost releases with a prebuilt Vertex AI serving image (xgboost-cpu.M-m) that read
#: the native JSON format (1.0 and later; 0.82 / 0.90 read the old binary format only).
PREBUILT_XGBOOST = ("1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "2.0", "2.1")
PREBUILT_FORMATS = ("joblib", "pickle")
#: File names the prebuilt images load from the artifact folder, by package format.
PREBUILT_FILE_NAMES = {"joblib": "model.joblib", "pickle": "model.pkl", "xgboost": "model.bst"}


@dataclass(frozen=True)
class ContainerChoice:
    """``runtime`` is ``sklearn`` / ``xgboost`` for a prebuilt image, ``cloudeploy`` for ours."""

    image_uri: str
    prebuilt: bool
    reason: str
    runtime: str = ""


def _registry_zone(region: str) -> str:
    if region.startswith("europe"):
        return "europe"
    if region.startswith("asia") or region.startswith("australia"):
        return "asia"
    return "us"


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _image(framework: str, major_minor: str, region: str) -> str:
    tag = major_minor.replace(".", "-")
    return f"{_registry_zone(region)}-docker.pkg.dev/vertex-ai/prediction/{framework}-cpu.{tag}:latest"


def prebuilt_image(sklearn_version: str, region: str) -> str | None:
    """The prebuilt image for ``sklearn_version`` (``"1.5.2"``), or None if there is none."""
    major_minor = _major_minor(sklearn_version)
    return _image("sklearn", major_minor, region) if major_minor in PREBUILT_SKLEARN else None


def xgboost_image(xgboost_version: str, region: str) -> str | None:
    """The prebuilt image for ``xgboost_version`` (``"2.1.4"``), or None if there is none."""
    major_minor = _major_minor(xgboost_version)
    return _image("xgboost", major_minor, region) if major_minor in PREBUILT_XGBOOST else None


def runtime_of_image(image_uri: str) -> str:
    """``sklearn`` / ``xgboost`` for a prebuilt prediction image, ``cloudeploy`` for any other."""
    name = image_uri.rsplit("/", 1)[-1]
    if "-docker.pkg.dev/vertex-ai/prediction/" in image_uri:
        for framework in ("sklearn", "xgboost"):
            if name.startswith(f"{framework}-"):
                return framework
    return "cloudeploy"


def describe_runtime(image_uri: str, package_runtime: str = "") -> str:
    """What answers in ``image_uri``, for status: ``xgboost (xgboost-cpu.2-1)``,
    ``onnx (cloudeploy serving image)`` (``package_runtime`` from the manifest)."""
    runtime = runtime_of_image(image_uri)
    if runtime != "cloudeploy":
        return f"{runtime} ({image_uri.rsplit('/', 1)[-1].removesuffix(':latest')})"
    return f"{package_runtime or 'cloudeploy'} (cloudeploy serving image)"


#: The model label recording the package's runtime (``Manifest.runtime``: onnx, sklearn, ...).
RUNTIME_LABEL = "cloudeploy-runtime"
#: "models/ID@VERSION#deployed id#deploy time" -> what answers in it (a version's image never changes).
_RUNTIMES: dict[str, str] = {}
_RUNTIMES_LOCK = threading.Lock()


def with_runtimes(status: EndpointStatus, endpoint: Any, get_model: Callable[..., Any]) -> EndpointStatus:
    """``status`` with each deployment's ``runtime`` (:func:`describe_runtime`) filled in.

    ``endpoint`` is the Endpoint proto the status was read from; ``get_model`` the
    Model service's ``get_model``. A model that cannot be read leaves ``runtime``
    empty: status never fails for it.
    """
    by_id = {d.id: d for d in endpoint.deployed_models}
    deployments = []
    for deployment in status.deployments:
        deployed = by_id.get(deployment.provider_id)
        runtime = ""
        if deployed is not None:
            name = f"{deployed.model}@{deployed.model_version_id or '1'}"
            # The deployment's own id and time too: an emulator restarted in the same
            # process hands out the same model ids again.
            key = f"{name}#{deployed.id}#{deployed.create_time}"
            with _RUNTIMES_LOCK:
                runtime = _RUNTIMES.get(key, "")
            if not runtime:
                try:
                    model = get_model(name=name)
                    runtime = describe_runtime(
                        str(model.container_spec.image_uri),
                        str(dict(model.labels).get(RUNTIME_LABEL, "")),
                    )
                except Exception:  # noqa: BLE001 - deleted meanwhile, or no permission
                    runtime = ""
                if runtime:
                    with _RUNTIMES_LOCK:
                        _RUNTIMES[key] = runtime
        deployments.append(replace(deployment, runtime=runtime) if runtime else deployment)
    return replace(status, deployments=tuple(deployments))


def choose_container(
    *,
    model_format: str,
    sklearn_version: str | None,
    region: str,
    serving_image: str | None,
    frameworks: dict[str, str] | None = None,
    strict: bool = False,
) -> ContainerChoice:
    """Pick the image for a package; ConfigError when only a mismatched one exists.

    ``frameworks`` is the manifest's (library -> version); the XGBoost version is
    read from it. ``strict`` (the ``strict`` option): the version must refuse
    requests that do not match its input schema, which only the cloudeploy
    serving image does (a prebuilt image hands any array to the model), so never
    a prebuilt image, and ConfigError when no serving image is configured.
    """
    if strict:
        if serving_image:
            return ContainerChoice(
                serving_image, False, "strict: the cloudeploy serving image checks the input schema", "cloudeploy"
            )
        raise ConfigError(
            "strict needs the cloudeploy serving image (Vertex AI's prebuilt images do not check requests "
            "against the input schema), and none is configured",
            hint="set serving_image in the vertex profile (build it with `cloudeploy image`), "
            "or pass the serving_image option",
        )
    xgboost_version = (frameworks or {}).get("xgboost")
    if model_format == "xgboost" and xgboost_version:
        image = xgboost_image(xgboost_version, region)
        if image:
            return ContainerChoice(image, True, f"prebuilt image for XGBoost {xgboost_version}", "xgboost")
    if model_format in PREBUILT_FORMATS and sklearn_version:
        image = prebuilt_image(sklearn_version, region)
        if image:
            return ContainerChoice(
                image, True, f"prebuilt image for scikit-learn {sklearn_version}", "sklearn"
            )
    if model_format == "xgboost":
        why = (
            f"no prebuilt Vertex AI image for XGBoost {xgboost_version or '(unknown)'} "
            f"(prebuilt: {', '.join(PREBUILT_XGBOOST)})"
        )
    elif model_format == "lightgbm":
        why = "Vertex AI has no prebuilt LightGBM prediction image"
    elif sklearn_version and model_format in PREBUILT_FORMATS:
        why = f"no prebuilt Vertex AI image for scikit-learn {sklearn_version}"
    else:
        why = f"{model_format} packages need the cloudeploy serving image"
    if serving_image:
        return ContainerChoice(serving_image, False, why, "cloudeploy")
    if model_format in ("xgboost", "lightgbm"):
        raise ConfigError(
            f"no serving image fits this model: {why}",
            hint="set serving_image in the vertex profile to the cloudeploy serving image "
            "(build it with `cloudeploy image`)",
        )
    raise ConfigError(
        f"no serving image fits this model: saved with scikit-learn {sklearn_version or 'unknown'} as "
        f"{model_format}, and Vertex AI's prebuilt images cover scikit-learn {', '.join(PREBUILT_SKLEARN)} "
        "(joblib/pickle only)",
        hint="set serving_image in the vertex profile to the cloudeploy serving image "
        "(build it with `cloudeploy image`), or save the model with a supported scikit-learn",
    )
