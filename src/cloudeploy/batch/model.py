"""Which model a batch job runs: a registry reference, a file, a package, or an estimator.

``resolve_model`` turns what the user named into a verified package directory
and its digest, so a job records exactly which model it ran and a resumed job
(or the same spec run again) runs the same one even after ``@latest`` moved.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudeploy.errors import NotFoundError, ValidationError
from cloudeploy.packaging.build import build_package
from cloudeploy.packaging.manifest import MANIFEST_NAME, read_manifest

if TYPE_CHECKING:
    from cloudeploy.providers.base import Provider
    from cloudeploy.types import ModelVersion

MODEL_SUFFIXES = (".joblib", ".pkl", ".pickle", ".skops", ".onnx", ".json", ".ubj", ".txt")


@dataclass(frozen=True)
class ResolvedModel:
    """A package directory to load, its digest, and the registry version if any."""

    package_dir: Path
    digest: str
    label: str
    version: ModelVersion | None = None


def split_reference(reference: str) -> tuple[str, str]:
    """``"name@v3"`` -> ``("name", "v3")``; a bare name means ``latest``."""
    name, _, version = reference.partition("@")
    if not name:
        raise ValidationError(f"invalid model reference {reference!r}", hint="use NAME, NAME@VERSION or NAME@ALIAS")
    return name, version or "latest"


def resolve_model(model: Any, provider: Provider | None, workdir: Path, *, trust: bool = False) -> ResolvedModel:
    """A package for ``model``; built under ``workdir`` when it is a file or an estimator.

    ``model`` is a package directory, a model file (``.joblib``, ``.pkl``,
    ``.skops``, ``.onnx``), a fitted estimator, or a registry reference resolved
    through ``provider`` (``name``, ``name@v3``, ``name@alias``).
    """
    if isinstance(model, (str, Path)):
        path = Path(model).expanduser()
        if (path / MANIFEST_NAME).is_file():
            return ResolvedModel(path.resolve(), read_manifest(path).digest, str(model))
        if path.is_file() or str(model).endswith(MODEL_SUFFIXES):
            if not path.is_file():
                raise NotFoundError(f"model file {model!r} not found")
            return _built(path, workdir, str(model), trust=trust)
        if path.is_dir():
            raise ValidationError(
                f"{model} is a directory but not a cloudeploy package ({MANIFEST_NAME} is missing)",
                hint="build one with `cloudeploy package MODEL -o DIR`",
            )
        if provider is None:
            raise NotFoundError(f"model {model!r} is neither a file nor a package, and no provider was given")
        name, version = split_reference(str(model))
        found = provider.get_model_version(name, version)
        package_dir = Path(found.uri)
        if not (package_dir / MANIFEST_NAME).is_file():
            raise ValidationError(
                f"{found.ref} is stored at {found.uri}, which is not a local package directory",
                hint="the local engine needs a locally stored version; run the job on its provider",
            )
        return ResolvedModel(package_dir, found.digest or read_manifest(package_dir).digest, found.ref, found)
    if hasattr(model, "predict"):
        return _built(model, workdir, type(model).__name__, trust=True)
    raise ValidationError(
        f"cannot run a batch job with model {model!r}",
        hint="pass a registered name (NAME@VERSION), a model file, a package directory or a fitted estimator",
    )


def _built(model: Any, workdir: Path, label: str, *, trust: bool) -> ResolvedModel:
    """Package ``model`` under ``workdir/packages/<digest>`` (once per digest)."""
    packages = workdir / "packages"
    packages.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=packages))
    try:
        package = build_package(model, staging / "package", trust=trust)
        final = packages / package.digest
        if not final.exists():
            package.path.rename(final)
        return ResolvedModel(final, package.digest, label)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
