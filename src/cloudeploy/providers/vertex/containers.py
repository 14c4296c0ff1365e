"""Which serving container a model version gets on Vertex AI.

Vertex AI's prebuilt scikit-learn images exist for a fixed list of releases and
lag scikit-learn. A package saved with a listed ``major.minor`` (as joblib or
pickle, the formats those images load) gets the matching prebuilt image;
anything else gets the cloudeploy serving image from the profile. If neither
fits, the upload is refused: a mismatched image would fail at load time or,
worse, predict differently.
"""

from __future__ import annotations

from dataclasses import dataclass

from cloudeploy.errors import ConfigError

#: scikit-learn releases with a prebuilt Vertex AI serving image (sklearn-cpu.M-m).
PREBUILT_SKLEARN = ("0.20", "0.22", "0.23", "0.24", "1.0", "1.2", "1.3", "1.4", "1.5", "1.6")
PREBUILT_FORMATS = ("joblib", "pickle")
#: File names the prebuilt images load from the artifact folder, by package format.
PREBUILT_FILE_NAMES = {"joblib": "model.joblib", "pickle": "model.pkl"}


@dataclass(frozen=True)
class ContainerChoice:
    image_uri: str
    prebuilt: bool
    reason: str


def _registry_zone(region: str) -> str:
    if region.startswith("europe"):
        return "europe"
    if region.startswith("asia") or region.startswith("australia"):
        return "asia"
    return "us"


def prebuilt_image(sklearn_version: str, region: str) -> str | None:
    """The prebuilt image for ``sklearn_version`` (``"1.5.2"``), or None if there is none."""
    major_minor = ".".join(sklearn_version.split(".")[:2])
    if major_minor not in PREBUILT_SKLEARN:
        return None
    tag = major_minor.replace(".", "-")
    return f"{_registry_zone(region)}-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.{tag}:latest"


def choose_container(
    *, model_format: str, sklearn_version: str | None, region: str, serving_image: str | None
) -> ContainerChoice:
    """Pick the image for a package; ConfigError when only a mismatched one exists."""
    if model_format in PREBUILT_FORMATS and sklearn_version:
        image = prebuilt_image(sklearn_version, region)
        if image:
            return ContainerChoice(
                image, True, f"prebuilt image for scikit-learn {sklearn_version}"
            )
    if serving_image:
        why = (
            f"no prebuilt Vertex AI image for scikit-learn {sklearn_version}"
            if sklearn_version and model_format in PREBUILT_FORMATS
            else f"{model_format} packages need the cloudeploy serving image"
        )
        return ContainerChoice(serving_image, False, why)
    raise ConfigError(
        f"no serving image fits this model: saved with scikit-learn {sklearn_version or 'unknown'} as "
        f"{model_format}, and Vertex AI's prebuilt images cover scikit-learn {', '.join(PREBUILT_SKLEARN)} "
        "(joblib/pickle only)",
        hint="set serving_image in the vertex profile to the cloudeploy serving image "
        "(build it with `cloudeploy image`), or save the model with a supported scikit-learn",
    )
