"""Which container serves a version: a prebuilt SageMaker image (scikit-learn, XGBoost) or ours.

The prebuilt inference images exist for a fixed list of library releases and
lag them. A package gets the prebuilt image matching the ``major.minor`` it was
saved with, when one exists and it loads the package's format:

- ``sagemaker-scikit-learn`` for joblib / pickle packages (scikit-learn 0.23 ..
  1.4 at the time of writing);
- ``sagemaker-xgboost`` (the built-in algorithm's container, "algorithm mode")
  for XGBoost packages (XGBoost 1.0 .. 3.2). That container loads every file at
  the root of ``model.tar.gz`` as a booster (``SAGEMAKER_INFERENCE_ENSEMBLE``
  defaults to true), so its artifact holds only ``xgboost-model``: see
  :meth:`ContainerChoice.artifact`. It reads ``text/csv`` (also libsvm and
  recordio-protobuf, never JSON) and answers what ``Booster.predict`` returns
  (class probabilities for a classifier), as CSV by default or
  ``{"predictions": [{"score": ...}]}`` for ``Accept: application/json``.

Anything else (LightGBM has no prebuilt inference image; ONNX, skops, newer
libraries) gets the profile's ``serving_image`` (``cloudeploy serve``), never a
mismatched prebuilt one.
"""

from __future__ import annotations

import io
import tarfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cloudeploy.errors import ConfigError
from cloudeploy.types import EndpointStatus

#: scikit-learn "major.minor" -> image tag of sagemaker-scikit-learn.
PREBUILT_TAGS = {"0.23": "0.23-1", "1.0": "1.0-1", "1.2": "1.2-1", "1.4": "1.4-2"}
#: XGBoost "major.minor" -> image tag of sagemaker-xgboost (the SageMaker Python SDK's
#: image_uri_config/xgboost.json, inference scope; the newest build of each release).
XGBOOST_TAGS = {
    "1.0": "1.0-1-cpu-py3",
    "1.2": "1.2-2",
    "1.3": "1.3-1",
    "1.5": "1.5-1",
    "1.7": "1.7-1",
    "3.0": "3.0-5",
    "3.2": "3.2-0",
}
SKLEARN_FORMATS = ("joblib", "pickle")
SKLEARN_REPOSITORY = "sagemaker-scikit-learn"
XGBOOST_REPOSITORY = "sagemaker-xgboost"
#: The one file the XGBoost container's model.tar.gz holds.
XGBOOST_MODEL_FILE = "xgboost-model"
#: What the XGBoost container decodes (its input content types) and answers.
XGBOOST_CONTENT_TYPES = ["text/csv", "text/libsvm"]
XGBOOST_RESPONSE_TYPES = ["text/csv", "application/json"]
SERVING_CONTENT_TYPES = ["application/json", "text/csv"]

#: Region -> AWS account that publishes sagemaker-scikit-learn and sagemaker-xgboost there.
PREBUILT_ACCOUNTS = {
    "us-east-1": "683313688378",
    "us-east-2": "257758044811",
    "us-west-1": "746614075791",
    "us-west-2": "246618743249",
    "eu-west-1": "141502667606",
    "eu-west-2": "764974769150",
    "eu-central-1": "492215442770",
    "ap-southeast-1": "121021644041",
    "ap-southeast-2": "783357654285",
    "ap-northeast-1": "354813040037",
}


@dataclass(frozen=True)
class ContainerChoice:
    """The image of a version and what answers in it.

    ``runtime`` is ``"sklearn"`` or ``"xgboost"`` for a prebuilt image and
    ``"cloudeploy"`` for the serving image; ``framework`` / ``framework_version``
    name the library the choice was matched on.
    """

    image: str
    runtime: str
    reason: str
    framework: str
    framework_version: str
    content_types: list[str] = field(default_factory=lambda: list(SERVING_CONTENT_TYPES))
    response_types: list[str] = field(default_factory=lambda: list(SERVING_CONTENT_TYPES))

    @property
    def prebuilt(self) -> bool:
        return self.runtime != "cloudeploy"

    def artifact(self, package_dir: Path, model_file: str) -> bytes | None:
        """The container's own ``model.tar.gz`` when it cannot read the package's, else None.

        The XGBoost container gets ``xgboost-model`` alone: the package's model
        file (XGBoost JSON or UBJSON; the container's ``Booster.load_model``
        reads either whatever the name).
        """
        if self.runtime != "xgboost":
            return None
        return single_file_tarball(XGBOOST_MODEL_FILE, (Path(package_dir) / model_file).read_bytes())


def single_file_tarball(name: str, data: bytes) -> bytes:
    """``model.tar.gz`` holding ``name`` only, byte-identical for identical bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as archive:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = 0
        info.mode = 0o644
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _major_minor(version: str | None) -> str:
    return ".".join((version or "").split(".")[:2])


def _image(repository: str, tag: str | None, region: str) -> str | None:
    account = PREBUILT_ACCOUNTS.get(region)
    if tag is None or account is None:
        return None
    return f"{account}.dkr.ecr.{region}.amazonaws.com/{repository}:{tag}"


def prebuilt_image(sklearn_version: str | None, region: str) -> str | None:
    """The prebuilt scikit-learn image for ``sklearn_version`` in ``region``, or None."""
    tag = PREBUILT_TAGS.get(_major_minor(sklearn_version))
    return _image(SKLEARN_REPOSITORY, f"{tag}-cpu-py3" if tag else None, region)


def xgboost_image(xgboost_version: str | None, region: str) -> str | None:
    """The prebuilt XGBoost image for ``xgboost_version`` in ``region``, or None."""
    return _image(XGBOOST_REPOSITORY, XGBOOST_TAGS.get(_major_minor(xgboost_version)), region)


def repository_of(image: str) -> str:
    """``sagemaker-xgboost`` for ``...amazonaws.com/sagemaker-xgboost:1.7-1`` (no tag, no digest)."""
    return image.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]


def runtime_of_image(image: str) -> str:
    """``"xgboost"`` / ``"sklearn"`` for a prebuilt image, ``"cloudeploy"`` for any other."""
    return {XGBOOST_REPOSITORY: "xgboost", SKLEARN_REPOSITORY: "sklearn"}.get(
        repository_of(image), "cloudeploy"
    )


def describe_runtime(image: str, package_runtime: str = "") -> str:
    """What answers in ``image``, for status: ``xgboost (sagemaker-xgboost:3.2-0)``,
    ``onnx (cloudeploy serving image)`` (``package_runtime`` from the manifest)."""
    runtime = runtime_of_image(image)
    if runtime != "cloudeploy":
        return f"{runtime} ({image.rsplit('/', 1)[-1]})"
    return f"{package_runtime or 'cloudeploy'} (cloudeploy serving image)"


#: SageMaker model (ARN and creation time) -> what answers in it (a model's container never changes).
_RUNTIMES: dict[str, str] = {}
_RUNTIMES_LOCK = threading.Lock()


def with_runtimes(
    status: EndpointStatus, sagemaker: Any, package_runtime: Callable[[str, str], str]
) -> EndpointStatus:
    """``status`` with each deployment's ``runtime`` (:func:`describe_runtime`) filled in.

    A deployment's ``provider_id`` is its SageMaker model name; ``package_runtime``
    gives the package's runtime of (model, version) for versions on the serving
    image. What cannot be read leaves ``runtime`` empty: status never fails for it.
    """
    deployments = []
    for deployment in status.deployments:
        runtime = ""
        try:
            if deployment.provider_id:
                model = sagemaker.describe_model(ModelName=deployment.provider_id)
                # A model deleted and created again under its name is another key.
                key = f"{model.get('ModelArn', '')}#{model.get('CreationTime', '')}"
                with _RUNTIMES_LOCK:
                    runtime = _RUNTIMES.get(key, "")
                if not runtime:
                    container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
                    image = container.get("Image", "")
                    inner = ""
                    if runtime_of_image(image) == "cloudeploy" and status.model:
                        inner = package_runtime(status.model, deployment.version)
                    runtime = describe_runtime(image, inner)
                    with _RUNTIMES_LOCK:
                        _RUNTIMES[key] = runtime
        except Exception:  # noqa: BLE001 - deleted meanwhile, or no permission
            runtime = ""
        deployments.append(replace(deployment, runtime=runtime) if runtime else deployment)
    return replace(status, deployments=tuple(deployments))


def choose(
    *,
    model_format: str,
    frameworks: dict[str, str],
    region: str,
    serving_image: str | None,
    strict: bool = False,
) -> ContainerChoice:
    """The container for a package in ``model_format`` saved with ``frameworks``.

    ConfigError when no prebuilt image matches and the profile has no serving image.
    ``strict`` (the ``strict`` option): the version must refuse requests that do
    not match its input schema, which only the cloudeploy serving image does (the
    prebuilt containers hand any array to the model): never a prebuilt image.
    """
    sklearn_version = frameworks.get("scikit-learn")
    xgboost_version = frameworks.get("xgboost")
    if strict and not serving_image:
        raise ConfigError(
            "strict needs the cloudeploy serving image (the prebuilt SageMaker containers do not check "
            "requests against the input schema), and none is configured",
            hint="set serving_image in the sagemaker profile (build it with `cloudeploy image`), "
            "or pass the serving_image option",
        )
    if not strict and model_format == "xgboost" and (image := xgboost_image(xgboost_version, region)):
        return ContainerChoice(
            image, "xgboost", f"prebuilt SageMaker XGBoost image for XGBoost {xgboost_version}",
            "xgboost", xgboost_version or "", list(XGBOOST_CONTENT_TYPES), list(XGBOOST_RESPONSE_TYPES),
        )  # fmt: skip
    if not strict and model_format in SKLEARN_FORMATS and (image := prebuilt_image(sklearn_version, region)):
        return ContainerChoice(
            image, "sklearn", f"prebuilt SageMaker scikit-learn image for scikit-learn {sklearn_version}",
            "scikit-learn", sklearn_version or "",
        )  # fmt: skip
    if model_format == "xgboost":
        why = f"no prebuilt SageMaker XGBoost image for XGBoost {xgboost_version or '(unknown)'} in {region}"
        framework, version = "xgboost", xgboost_version or ""
    elif model_format == "lightgbm":
        why = "SageMaker has no prebuilt LightGBM inference image"
        framework, version = "lightgbm", frameworks.get("lightgbm", "")
    elif model_format in SKLEARN_FORMATS:
        why = f"no prebuilt SageMaker scikit-learn image for scikit-learn {sklearn_version or '(unknown)'} in {region}"
        framework, version = "scikit-learn", sklearn_version or ""
    else:
        why = f"{model_format} packages need the cloudeploy serving image"
        framework = "scikit-learn" if sklearn_version else model_format
        version = sklearn_version or frameworks.get(model_format, "")
    if strict:
        why = "strict: the cloudeploy serving image checks the input schema"
    if serving_image:
        return ContainerChoice(serving_image, "cloudeploy", why, framework, version)
    raise ConfigError(
        f"{why}, and the profile has no serving_image",
        hint="build and push the cloudeploy serving image (`cloudeploy image`) and set serving_image",
    )


def container_image(sklearn_version: str | None, region: str, serving_image: str | None) -> str:
    """The image to serve a joblib package saved with ``sklearn_version``."""
    return choose(
        model_format="joblib",
        frameworks={"scikit-learn": sklearn_version} if sklearn_version else {},
        region=region,
        serving_image=serving_image,
    ).image
