"""The model servers behind one endpoint, keyed by (variant, model).

Provisioning a config starts servers only for the (variant, model) pairs not
already running, so an UpdateEndpoint that keeps a variant keeps its server;
:meth:`Fleet.retain` stops the rest once an update settles.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cloudeploy.testing import xgboost_container
from cloudeploy.testing.sagemaker import artifacts, containers
from cloudeploy.testing.sagemaker.runner import ModelServer, ServerStartError

ServerKey = tuple[str, str]  # (variant name, SageMaker model name)


class ProvisionError(RuntimeError):
    """A variant could not be served; the message is the endpoint's FailureReason."""


def model_data_url(account: str, region: str, model_name: str) -> str:
    container = containers.serving_container(account, region, model_name)
    if container is None:
        raise ProvisionError(f"Could not find model '{model_name}'.")
    url = container.get("ModelDataUrl")
    if not url:
        raise ProvisionError(f"Model '{model_name}' has no ModelDataUrl to serve.")
    return url


def _prebuilt_container(
    account: str, region: str, variant: str, model: str, package_dir: Path
) -> Any:
    """The in-process emulation of the model's prebuilt XGBoost container, or None.

    It loads the files of the model's ``model.tar.gz`` as the container does; a
    model it cannot load fails the ping health check, as on SageMaker.
    """
    container = containers.serving_container(account, region, model) or {}
    if not xgboost_container.is_sagemaker_xgboost_image(container.get("Image", "")):
        return None
    try:
        return xgboost_container.SageMakerXGBoostContainer.load(
            artifacts.model_dir(package_dir), container.get("Environment") or {}
        )
    except xgboost_container.ContainerError as error:
        raise ProvisionError(
            f"Variant {variant}: the primary container did not pass the ping health check: {error}"
        ) from None


class Fleet:
    """Running model servers of one endpoint."""

    def __init__(self, account: str, region: str, workdir: Path) -> None:
        self.account = account
        self.region = region
        self.workdir = workdir
        self.servers: dict[ServerKey, ModelServer] = {}

    def provision(self, keys: Iterable[ServerKey]) -> list[ServerKey]:
        """Start (and wait for) servers for ``keys`` not yet running; return the started ones.

        On any failure the servers started by this call are stopped and
        ProvisionError says which variant failed and why.
        """
        started: list[ServerKey] = []
        try:
            for key in keys:
                current = self.servers.get(key)
                if current is not None and current.running:
                    continue
                variant, model = key
                try:
                    package_dir = artifacts.materialize(
                        self.account, model_data_url(self.account, self.region, model), self.workdir
                    )
                except artifacts.ArtifactError as error:
                    raise ProvisionError(f"Variant {variant}: {error}") from None
                prebuilt = _prebuilt_container(
                    self.account, self.region, variant, model, package_dir
                )
                self.servers[key] = ModelServer(package_dir, variant=variant, model=model)
                self.servers[key].container = prebuilt
                started.append(key)
            for key in started:
                try:
                    self.servers[key].wait_ready()
                except ServerStartError as error:
                    raise ProvisionError(
                        f"Variant {key[0]}: the primary container did not pass the ping health check: {error}"
                    ) from None
        except ProvisionError:
            self.stop(started)
            raise
        return started

    def server(self, key: ServerKey) -> ModelServer | None:
        return self.servers.get(key)

    def stop(self, keys: Iterable[ServerKey]) -> None:
        for key in list(keys):
            server = self.servers.pop(key, None)
            if server is not None:
                server.stop()

    def retain(self, keep: Iterable[ServerKey]) -> None:
        """Stop every server whose key is not in ``keep``."""
        keep = set(keep)
        self.stop([key for key in self.servers if key not in keep])

    def stop_all(self) -> None:
        self.stop(list(self.servers))
