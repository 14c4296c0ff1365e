"""CreateModel with the service's rules (moto accepts a taken name and any container).

- A model name is unique in the account and region: a second CreateModel with
  it is a ValidationException ``Cannot create already existing model "<arn>".``
  (CreateModel API reference; the message is the service's).
- ``PrimaryContainer`` (or each of ``Containers``) needs an ``Image`` unless it
  names a model package (``ModelPackageName``), which must exist: the model
  then serves the package's inference container (see ``containers``).
"""

from __future__ import annotations

from moto.core.responses import ActionResult
from moto.sagemaker.responses import SageMakerResponse

from cloudeploy.testing.sagemaker import backends, containers
from cloudeploy.testing.sagemaker.errors import ValidationException
from cloudeploy.testing.sagemaker.state import STATE

_ORIGINAL_CREATE = SageMakerResponse.create_model


def _arn(self, kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:{self.region}:{self.current_account}:{kind}/{name}"


def _check_container(self, container: dict, where: str) -> None:
    package = container.get("ModelPackageName")
    if package:
        if containers.model_package(self.current_account, self.region, package) is None:
            raise ValidationException(f"ModelPackage {package} does not exist.")
        return
    if not container.get("Image"):
        raise ValidationException(
            f"{where} must specify an Image or a ModelPackageName (a model package to deploy)"
        )


def create_model(self) -> ActionResult:
    name = self._get_param("ModelName")
    primary = self._get_param("PrimaryContainer")
    listed = self._get_param("Containers") or []
    if primary and listed:
        raise ValidationException("Specify either PrimaryContainer or Containers, not both.")
    if not primary and not listed:
        raise ValidationException("Either PrimaryContainer or Containers must be specified.")
    for index, container in enumerate([primary] if primary else listed):
        _check_container(
            self, container or {}, "PrimaryContainer" if primary else f"Containers[{index}]"
        )
    with STATE.lock:
        if name in backends.sagemaker(self.current_account, self.region)._models:
            raise ValidationException(
                f'Cannot create already existing model "{_arn(self, "model", name)}".'
            )
        return _ORIGINAL_CREATE(self)


HANDLERS = ("create_model",)
