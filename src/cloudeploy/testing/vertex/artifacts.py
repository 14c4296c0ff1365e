"""Model artifacts: from a Cloud Storage prefix to a package a server can load.

A Vertex model's ``artifactUri`` is a folder. It holds either a cloudeploy
package (``cloudeploy.json`` beside the model file) or, prebuilt-container
style, a bare ``model.joblib`` / ``model.pkl`` (scikit-learn and XGBoost images)
or ``model.bst`` (XGBoost images: a native XGBoost file), which is wrapped into
a package with :func:`cloudeploy.packaging.build_package` (trusted: the user
uploaded it to their own emulated bucket).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from cloudeploy.testing.vertex._wire import ApiError, invalid
from cloudeploy.testing.vertex.storage import Bucketeer

MANIFEST = "cloudeploy.json"
#: The file names Vertex AI's prebuilt scikit-learn containers load.
PREBUILT_MODEL_FILES = ("model.joblib", "model.pkl")
#: ... and its prebuilt XGBoost containers (joblib / pickle first, then the booster file).
XGBOOST_MODEL_FILES = ("model.joblib", "model.pkl", "model.bst")
PREBUILT_IMAGE_PREFIXES = tuple(
    f"{zone}-docker.pkg.dev/vertex-ai/prediction/" for zone in ("us", "europe", "asia")
)


def is_prebuilt_image(image_uri: str) -> bool:
    return image_uri.startswith(PREBUILT_IMAGE_PREFIXES)


def is_xgboost_image(image_uri: str) -> bool:
    return is_prebuilt_image(image_uri) and image_uri.rsplit("/", 1)[-1].startswith("xgboost-")


def check_artifacts(storage: Bucketeer, artifact_uri: str, image_uri: str) -> None:
    """Refuse an upload whose artifacts the container could not load, as Vertex does."""
    names = [n.rsplit("/", 1)[-1] for n in storage.list(artifact_uri)]
    if not names:
        raise invalid(f'There are no files under "{artifact_uri}" to copy.')
    loadable = XGBOOST_MODEL_FILES if is_xgboost_image(image_uri) else PREBUILT_MODEL_FILES
    if is_prebuilt_image(image_uri) and not any(n in loadable for n in names):
        raise invalid(
            f"Model directory {artifact_uri} is expected to contain exactly one of: "
            f"[{', '.join(loadable)}]."
        )
    if not is_prebuilt_image(image_uri) and not any(
        n in (MANIFEST, *PREBUILT_MODEL_FILES) for n in names
    ):
        raise invalid(
            f"Model directory {artifact_uri} holds neither a cloudeploy package ({MANIFEST}) "
            f"nor one of {', '.join(PREBUILT_MODEL_FILES)}."
        )


def download(storage: Bucketeer, artifact_uri: str, workdir: Path) -> Path:
    """The files under ``artifact_uri``, copied into a new folder under ``workdir``."""
    folder = Path(tempfile.mkdtemp(prefix="artifact-", dir=workdir))
    storage.download_prefix(artifact_uri, folder)
    return folder


def materialize(storage: Bucketeer, artifact_uri: str, workdir: Path) -> Path:
    """Download ``artifact_uri`` under ``workdir`` and return a package directory."""
    return package_of(download(storage, artifact_uri, workdir), artifact_uri, workdir)


def package_of(folder: Path, artifact_uri: str, workdir: Path) -> Path:
    """The package for the downloaded artifacts in ``folder``.

    A folder holding a cloudeploy package is that package, less what the
    provider staged beside it for a prebuilt image (``model.bst``, which the
    manifest does not list: a package holds only its listed files).
    """
    if (folder / MANIFEST).is_file():
        if not (folder / "model.bst").is_file():
            return folder
        out = Path(tempfile.mkdtemp(prefix="package-", dir=workdir)) / "package"
        shutil.copytree(folder, out, ignore=shutil.ignore_patterns("model.bst"))
        return out
    model_file = next(
        (folder / n for n in XGBOOST_MODEL_FILES if (folder / n).is_file()), None
    )
    if model_file is None:
        raise ApiError("FAILED_PRECONDITION", f"No loadable model found under {artifact_uri}.")
    from cloudeploy.errors import CloudeployError
    from cloudeploy.packaging import build_package

    out = Path(tempfile.mkdtemp(prefix="package-", dir=workdir)) / "package"
    if model_file.name == "model.bst":  # a native XGBoost file: packaged under its format's suffix
        from cloudeploy.testing.xgboost_container import native_suffix

        named = out.parent / f"model{native_suffix(model_file)}"
        named.write_bytes(model_file.read_bytes())
        model_file = named
    try:
        return Path(build_package(model_file, out, trust=True).path)
    except CloudeployError as error:
        raise ApiError(
            "FAILED_PRECONDITION", f"Model under {artifact_uri} cannot be loaded: {error}"
        ) from None
