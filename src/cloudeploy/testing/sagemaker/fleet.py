"""The model servers behind one endpoint, keyed by (variant, model).

Provisioning a config starts servers only for the (variant, model) pairs not
already running, so an UpdateEndpoint that keeps a variant keeps its server;
:meth:`Fleet.retain` stops the rest once an update settles.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

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
                self.servers[key] = ModelServer(package_dir, variant=variant, model=model)
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
