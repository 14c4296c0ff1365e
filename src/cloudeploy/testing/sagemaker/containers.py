"""What a SageMaker model serves: its container, resolved through the Model Registry.

A model's ``PrimaryContainer`` (or its first ``Containers`` entry) either names
an image and ``ModelDataUrl`` itself, or names a versioned model package
(``ModelPackageName``, an ARN or a name) whose
``InferenceSpecification.Containers[0]`` holds them: "deploy a model from the
registry" in the SageMaker developer guide and the boto3 ``create_model``
reference. :func:`serving_container` gives the effective image, data URL and
environment either way.
"""

from __future__ import annotations

from typing import Any

from cloudeploy.testing.sagemaker import backends


def model_package(account: str, region: str, name: str) -> Any | None:
    """The model package named ``name`` (ARN or name), or None."""
    backend = backends.sagemaker(account, region)
    arn = backend.model_package_name_mapping.get(name, name)
    return backend.model_packages.get(arn)


def declared_container(model: Any) -> dict[str, Any]:
    return dict(model.primary_container or (model.containers or [{}])[0] or {})


def serving_container(account: str, region: str, model_name: str) -> dict[str, Any] | None:
    """``{"Image", "ModelDataUrl", "Environment"}`` the model serves; None if the model is unknown.

    A container that names a model package takes image and data from the
    package's first inference container; its own ``Environment`` is laid over
    the package's.
    """
    model = backends.sagemaker(account, region)._models.get(model_name)
    if model is None:
        return None
    container = declared_container(model)
    package_name = container.get("ModelPackageName")
    if package_name:
        package = model_package(account, region, package_name)
        spec = (getattr(package, "inference_specification", None) or {}) if package else {}
        inner = dict((spec.get("Containers") or [{}])[0])
        environment = {**(inner.get("Environment") or {}), **(container.get("Environment") or {})}
        container = {**inner, "Environment": environment}
    return container
