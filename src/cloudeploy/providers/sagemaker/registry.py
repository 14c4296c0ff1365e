"""The model registry on SageMaker: a model package group per model, a package per version.

A package records its cloudeploy identity in ``CustomerMetadataProperties``:
``cloudeploy-digest`` (the package digest, which makes uploads idempotent),
``cloudeploy-aliases`` (comma-separated), ``cloudeploy-framework``,
``cloudeploy-framework-version`` and ``cloudeploy-runtime`` (the package's
runtime, ``onnx`` for a compiled graph). Aliases map to approval status: a
version holding an alias is ``Approved``, one without is ``PendingManualApproval``.
The artifact, ``model.tar.gz`` with the package files at its root, lives at
``s3://<bucket>/<prefix>/models/<model>/<digest>/model.tar.gz``. When the
container needs an artifact of its own (the prebuilt XGBoost image loads
``xgboost-model`` alone, see ``images``), that one sits beside it under
``<runtime>/model.tar.gz``, the container names it, and ``cloudeploy-package``
keeps the package's, which ``ModelVersion.uri`` names.
"""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cloudeploy.errors import NotFoundError, ValidationError
from cloudeploy.packaging.manifest import read_manifest
from cloudeploy.providers.sagemaker import images, naming
from cloudeploy.providers.sagemaker.client import Clients
from cloudeploy.providers.sagemaker.errors import error_code, translated
from cloudeploy.types import ModelVersion, normalize_version

DIGEST = "cloudeploy-digest"
ALIASES = "cloudeploy-aliases"
FRAMEWORK = "cloudeploy-framework"
FRAMEWORK_VERSION = "cloudeploy-framework-version"
#: The package tarball, when the container serves its own artifact (the XGBoost image).
PACKAGE = "cloudeploy-package"
#: The package's runtime (``Manifest.runtime``); status shows it beside the image.
RUNTIME = "cloudeploy-runtime"
ALIAS_RE = re.compile(r"^[a-z][a-zA-Z0-9-]{0,62}\Z")


def tarball(package_dir: Path) -> bytes:
    """``model.tar.gz`` of the package, byte-identical for identical files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as archive:
        for path in sorted(p for p in Path(package_dir).rglob("*") if p.is_file()):
            info = tarfile.TarInfo(str(path.relative_to(package_dir)))
            info.size = path.stat().st_size
            info.mtime = 0
            info.mode = 0o644
            with path.open("rb") as handle:
                archive.addfile(info, handle)
    return buffer.getvalue()


def _check_aliases(aliases: Sequence[str]) -> list[str]:
    for alias in aliases:
        if not isinstance(alias, str) or not ALIAS_RE.match(alias) or alias == "latest":
            raise ValidationError(
                f"invalid alias {alias!r}",
                hint="aliases start with a lower-case letter, hold letters, digits and hyphens, and are not 'latest'",
            )
        try:
            normalize_version(alias)
        except ValidationError:
            continue
        raise ValidationError(f"alias {alias!r} looks like a version label")
    return list(dict.fromkeys(aliases))


class Registry:
    def __init__(self, clients: Clients) -> None:
        self.clients = clients
        self.settings = clients.settings

    # -- reading ----------------------------------------------------------------

    def _describe_all(self, model: str) -> list[dict[str, Any]]:
        sm = self.clients.sagemaker
        with translated(f"listing versions of {model}"):
            try:
                sm.describe_model_package_group(ModelPackageGroupName=model)
            except Exception as error:
                if error_code(error) == "ValidationException":
                    raise NotFoundError(
                        f"model {model!r} not found (models: {', '.join(self.list_models()) or 'none'})"
                    ) from None
                raise
            arns = []
            for page in sm.get_paginator("list_model_packages").paginate(
                ModelPackageGroupName=model
            ):
                arns += [s["ModelPackageArn"] for s in page["ModelPackageSummaryList"]]
            packages = [sm.describe_model_package(ModelPackageName=arn) for arn in arns]
        return sorted(packages, key=lambda p: p.get("ModelPackageVersion", 0))

    def _to_version(self, model: str, package: dict[str, Any]) -> ModelVersion:
        metadata = package.get("CustomerMetadataProperties") or {}
        containers = (package.get("InferenceSpecification") or {}).get("Containers") or [{}]
        created = package.get("CreationTime")
        return ModelVersion(
            model=model,
            version=f"v{package['ModelPackageVersion']}",
            digest=metadata.get(DIGEST, ""),
            uri=metadata.get(PACKAGE) or containers[0].get("ModelDataUrl", ""),
            aliases=tuple(a for a in metadata.get(ALIASES, "").split(",") if a),
            created_at=created.isoformat() if hasattr(created, "isoformat") else str(created or ""),
            framework=metadata.get(FRAMEWORK, ""),
            framework_version=metadata.get(FRAMEWORK_VERSION, ""),
            provider_id=package["ModelPackageArn"],
        )

    def runtime_of(self, model: str, version: str) -> str:
        """The package runtime recorded for ``model`` ``version`` ("" if none or unknown)."""
        label = normalize_version(version)
        for package in self._describe_all(model):
            if f"v{package['ModelPackageVersion']}" == label:
                return (package.get("CustomerMetadataProperties") or {}).get(RUNTIME, "")
        return ""

    def list_models(self) -> list[str]:
        names = []
        with translated("listing models"):
            for page in self.clients.sagemaker.get_paginator(
                "list_model_package_groups"
            ).paginate():
                names += [g["ModelPackageGroupName"] for g in page["ModelPackageGroupSummaryList"]]
        return sorted(names)

    def list_versions(self, model: str) -> list[ModelVersion]:
        return [self._to_version(model, p) for p in self._describe_all(model)]

    def get(self, model: str, version: str = "latest") -> ModelVersion:
        versions = self.list_versions(model)
        if not versions:
            raise NotFoundError(f"model {model!r} has no versions yet")
        if version == "latest":
            return versions[-1]
        try:
            label = normalize_version(version)
        except ValidationError:
            label = None
        for candidate in versions:
            if candidate.version == label or (label is None and version in candidate.aliases):
                return candidate
        known = ", ".join(v.version for v in versions)
        aliases = ", ".join(a for v in versions for a in v.aliases) or "none"
        raise NotFoundError(
            f"model {model!r} has no version or alias {version!r} (versions: {known}; aliases: {aliases})"
        )

    # -- writing ----------------------------------------------------------------

    def upload(
        self,
        package_dir: Path,
        model: str,
        aliases: Sequence[str],
        progress,
        *,
        serving_image: str | None = None,
        strict: bool = False,
    ) -> ModelVersion:
        """Register the package (idempotent by digest). ``serving_image`` overrides the
        profile's; ``strict`` registers it with the serving image, never a prebuilt one,
        and refuses an existing version of the same package that a prebuilt image serves."""
        naming.check_name(model, "model")
        aliases = _check_aliases(aliases)
        manifest = read_manifest(package_dir)
        digest = manifest.digest
        self._ensure_group(model)
        for existing in self.list_versions(model):
            if existing.digest == digest:
                if strict:
                    self.refuse_prebuilt(existing)
                if aliases:
                    return self.set_aliases(model, existing.version, aliases)
                return existing
        key = self.settings.key("models", model, digest, "model.tar.gz")
        uri = f"s3://{self.settings.bucket}/{key}"
        progress(f"uploading {uri}")
        extra = (
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.settings.kms_key_id}
            if self.settings.kms_key_id
            else {}
        )
        with translated(f"uploading the package to {uri}"):
            self.clients.s3.put_object(
                Bucket=self.settings.bucket, Key=key, Body=tarball(package_dir), **extra
            )
        choice = images.choose(
            model_format=manifest.format,
            frameworks=manifest.frameworks,
            region=self.settings.region,
            serving_image=serving_image or self.settings.serving_image,
            strict=strict,
        )
        progress(f"container: {choice.image} ({choice.reason})")
        metadata = {
            DIGEST: digest,
            FRAMEWORK: choice.framework,
            FRAMEWORK_VERSION: choice.framework_version,
            RUNTIME: manifest.runtime,
        }
        container_url = uri
        own_artifact = choice.artifact(package_dir, manifest.model_file)
        if own_artifact is not None:  # the prebuilt container cannot read the package's tarball
            container_key = self.settings.key("models", model, digest, choice.runtime, "model.tar.gz")
            container_url = f"s3://{self.settings.bucket}/{container_key}"
            with translated(f"uploading the container's artifact to {container_url}"):
                self.clients.s3.put_object(
                    Bucket=self.settings.bucket, Key=container_key, Body=own_artifact, **extra
                )
            metadata[PACKAGE] = uri
        progress(f"registering a new version of {model}")
        with translated(f"registering a version of {model}"):
            arn = self.clients.sagemaker.create_model_package(
                ModelPackageGroupName=model,
                ModelPackageDescription=f"cloudeploy package {digest[:12]}",
                InferenceSpecification={
                    "Containers": [{"Image": choice.image, "ModelDataUrl": container_url}],
                    "SupportedContentTypes": choice.content_types,
                    "SupportedResponseMIMETypes": choice.response_types,
                },
                ModelApprovalStatus="PendingManualApproval",
                CustomerMetadataProperties=metadata,
                Tags=[naming.MANAGED_TAG],
            )["ModelPackageArn"]
        package = self.clients.sagemaker.describe_model_package(ModelPackageName=arn)
        version = self._to_version(model, package)
        if aliases:
            return self.set_aliases(model, version.version, aliases)
        return version

    def refuse_prebuilt(self, version: ModelVersion) -> None:
        """The ``strict`` option: ValidationError if a prebuilt image serves ``version``
        (those hand any array to the model instead of checking it against the schema)."""
        with translated(f"reading {version.ref}"):
            package = self.clients.sagemaker.describe_model_package(ModelPackageName=version.provider_id)
        image = ((package.get("InferenceSpecification") or {}).get("Containers") or [{}])[0].get("Image", "")
        if images.runtime_of_image(image) == "cloudeploy":
            return
        raise ValidationError(
            f"strict: {version.ref} is registered with the prebuilt image {image.rsplit('/', 1)[-1]}, "
            "which does not refuse requests that do not match the input schema",
            hint="register the model under another name with strict (it then gets the cloudeploy serving "
            "image), or deploy without strict",
        )

    def _ensure_group(self, model: str) -> None:
        sm = self.clients.sagemaker
        with translated(f"creating the model package group {model}"):
            try:
                sm.describe_model_package_group(ModelPackageGroupName=model)
                return
            except Exception as error:
                if error_code(error) != "ValidationException":
                    raise
            sm.create_model_package_group(
                ModelPackageGroupName=model,
                ModelPackageGroupDescription=f"cloudeploy model {model}",
                Tags=[naming.MANAGED_TAG],
            )

    def set_aliases(self, model: str, version: str, aliases: Sequence[str]) -> ModelVersion:
        aliases = _check_aliases(aliases)
        packages = self._describe_all(model)
        target = self.get(model, version).version
        for package in packages:
            label = f"v{package['ModelPackageVersion']}"
            metadata = dict(package.get("CustomerMetadataProperties") or {})
            held = [a for a in metadata.get(ALIASES, "").split(",") if a]
            wanted = (
                list(dict.fromkeys(held + aliases))
                if label == target
                else [a for a in held if a not in aliases]
            )
            if wanted == held:
                continue
            metadata.pop(ALIASES, None)
            update: dict[str, Any] = {
                "ModelPackageArn": package["ModelPackageArn"],
                "ModelApprovalStatus": "Approved" if wanted else "PendingManualApproval",
                "CustomerMetadataProperties": metadata,
            }
            if wanted:
                metadata[ALIASES] = ",".join(wanted)
            else:
                update["CustomerMetadataPropertiesToRemove"] = [ALIASES]
            with translated(f"setting aliases of {model} {label}"):
                self.clients.sagemaker.update_model_package(**update)
        return self.get(model, target)
