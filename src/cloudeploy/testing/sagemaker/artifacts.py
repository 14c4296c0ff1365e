"""Turn a model's ``ModelDataUrl`` in emulated S3 into a cloudeploy package directory.

Accepted, as the SageMaker scikit-learn container accepts them: ``model.tar.gz``
holding a cloudeploy package (``cloudeploy.json`` at its root) or a bare
``model.joblib`` / ``model.pkl``; or such a bare file uploaded uncompressed; and,
as the XGBoost container reads it, ``model.tar.gz`` holding ``xgboost-model`` (a
native XGBoost file). A bare file is packaged with ``build_package(...,
trust=True)``: the emulation trusts what the test itself uploaded.
:func:`model_dir` is the unpacked archive itself, what a prebuilt container loads.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

from cloudeploy.testing.sagemaker import backends
from cloudeploy.testing.sagemaker.errors import ValidationException

MANIFEST_NAME = "cloudeploy.json"
BARE_MODEL_FILES = ("model.joblib", "model.pkl")
#: The file the XGBoost container's model.tar.gz holds.
XGBOOST_MODEL_FILE = "xgboost-model"


class ArtifactError(ValueError):
    """The artifact cannot be served; the message becomes a FailureReason."""


def materialize(account: str, model_data_url: str, workdir: Path) -> Path:
    """Download and unpack ``model_data_url`` under ``workdir``; return the package dir.

    The same URL and bytes map to the same directory, so servers for one model
    share one copy.
    """
    try:
        data = backends.read_object(account, model_data_url)
    except ValidationException as error:
        raise ArtifactError(error.message) from None
    target = Path(workdir) / hashlib.sha256(model_data_url.encode() + data).hexdigest()[:16]
    package_dir = target / "package"
    if (package_dir / MANIFEST_NAME).is_file():
        return package_dir
    raw_dir = target / "raw"
    raw_dir.mkdir(parents=True, exist_ok=True)
    name = model_data_url.rstrip("/").rsplit("/", 1)[-1]
    if name.endswith((".tar.gz", ".tgz")):
        _extract(data, raw_dir, model_data_url)
    elif name in BARE_MODEL_FILES:
        (raw_dir / name).write_bytes(data)
    else:
        raise ArtifactError(f"{model_data_url}: expected model.tar.gz, model.joblib or model.pkl")
    if (raw_dir / MANIFEST_NAME).is_file():
        return raw_dir
    for bare in BARE_MODEL_FILES:
        if (raw_dir / bare).is_file():
            return _build(raw_dir / bare, package_dir)
    if (raw_dir / XGBOOST_MODEL_FILE).is_file():
        from cloudeploy.testing.xgboost_container import native_suffix

        source = raw_dir / XGBOOST_MODEL_FILE
        named = target / f"model{native_suffix(source)}"
        named.write_bytes(source.read_bytes())
        return _build(named, package_dir)
    raise ArtifactError(
        f"{model_data_url} holds neither a cloudeploy package ({MANIFEST_NAME}) "
        f"nor {' / '.join((*BARE_MODEL_FILES, XGBOOST_MODEL_FILE))}"
    )


def model_dir(package_dir: Path) -> Path:
    """The unpacked ``model.tar.gz`` (what a container sees) of a :func:`materialize` result."""
    package_dir = Path(package_dir)
    return package_dir if package_dir.name == "raw" else package_dir.parent / "raw"


def _extract(data: bytes, into: Path, url: str) -> None:
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            archive.extractall(into, filter="data")
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ArtifactError(f"{url} is not a readable tar.gz archive: {error}") from None


def _build(model_file: Path, package_dir: Path) -> Path:
    from cloudeploy.errors import CloudeployError
    from cloudeploy.packaging import build_package

    try:
        build_package(model_file, package_dir, trust=True)
    except CloudeployError as error:
        raise ArtifactError(f"cannot package {model_file.name}: {error}") from None
    return package_dir
