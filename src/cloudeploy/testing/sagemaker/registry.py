"""Model registry additions: DeleteModelPackage, DeleteModelPackageGroup, stable versions.

The service never reuses a version number in a group, even after a package is
deleted; moto numbers a new package ``len(group) + 1``, so ``create_model_package``
keeps a per-group counter and makes moto count up to it.
A group that still holds packages cannot be deleted (ConflictException).
"""

from __future__ import annotations

from moto.core.responses import ActionResult, EmptyResult
from moto.sagemaker.responses import SageMakerResponse

from cloudeploy.testing.sagemaker import backends
from cloudeploy.testing.sagemaker.errors import ConflictException, ValidationException
from cloudeploy.testing.sagemaker.state import STATE

_ORIGINAL_CREATE = SageMakerResponse.create_model_package


def _group_packages(backend, group: str) -> list:
    return [p for p in backend.model_packages.values() if p.model_package_group_name == group]


def create_model_package(self) -> ActionResult:
    group = self._get_param("ModelPackageGroupName")
    if group and "/" in group:
        group = group.rsplit("/", 1)[-1]
    backend = backends.sagemaker(self.current_account, self.region)
    if not group or group not in backend.model_package_groups:
        return _ORIGINAL_CREATE(self)
    with STATE.lock:
        key = (self.current_account, self.region, group)
        live = _group_packages(backend, group)
        highest = max([p.model_package_version or 0 for p in live], default=0)
        wanted = max(STATE.package_versions.get(key, 0), highest) + 1
        # moto numbers a package len(group) + 1: stand in for deleted versions
        # while it counts, so the new package gets the service's number.
        stand_ins = {
            f"cloudeploy-deleted-{i}": _StandIn(group) for i in range(wanted - 1 - len(live))
        }
        backend.model_packages.update(stand_ins)
        try:
            result = _ORIGINAL_CREATE(self)
        finally:
            for placeholder in stand_ins:
                backend.model_packages.pop(placeholder, None)
        STATE.package_versions[key] = wanted
        return result


class _StandIn:
    def __init__(self, group: str) -> None:
        self.model_package_group_name = group


def delete_model_package(self) -> EmptyResult:
    name = self._get_param("ModelPackageName")
    backend = backends.sagemaker(self.current_account, self.region)
    with STATE.lock:
        arn = backend.model_package_name_mapping.get(name, name)
        package = backend.model_packages.get(arn)
        if package is None:
            raise ValidationException(f"Model package {name} does not exist.")
        del backend.model_packages[arn]
        for alias, target in list(backend.model_package_name_mapping.items()):
            if target == arn:
                del backend.model_package_name_mapping[alias]
        # moto maps the group name to its newest package; point it at a survivor.
        group = package.model_package_group_name
        survivors = _group_packages(backend, group) if group else []
        if survivors:
            newest = max(survivors, key=lambda p: p.model_package_version or 0)
            backend.model_package_name_mapping[group] = newest.arn
    return EmptyResult()


def delete_model_package_group(self) -> EmptyResult:
    name = self._get_param("ModelPackageGroupName")
    backend = backends.sagemaker(self.current_account, self.region)
    with STATE.lock:
        if name not in backend.model_package_groups:
            raise ValidationException(
                f"ModelPackageGroup arn:aws:sagemaker:{self.region}:{self.current_account}:"
                f"model-package-group/{name} does not exist."
            )
        if _group_packages(backend, name):
            raise ConflictException(
                f"Model package group {name} still contains model packages; delete them first."
            )
        del backend.model_package_groups[name]
        STATE.package_versions.pop((self.current_account, self.region, name), None)
    return EmptyResult()


HANDLERS = ("create_model_package", "delete_model_package", "delete_model_package_group")
