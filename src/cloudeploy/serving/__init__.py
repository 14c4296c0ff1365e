"""The one model server: local endpoints, the emulators and the custom image all use it.

- :func:`create_app` ``(loaded_model, settings) -> ASGI app`` serves a loaded package
  on both container contracts (Vertex AI and SageMaker).
- :class:`ServerSettings` holds every option (port, routes, limits, batching, capture).
- :func:`serve` ``(package_dir, settings)`` runs it in 1..N processes until SIGTERM;
  it is what ``cloudeploy serve`` calls.
- :func:`write_image_context` writes the Docker build context of the serving image.

Names resolve lazily: importing this package does not import starlette or uvicorn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "create_app": "cloudeploy.serving.app",
    "ModelServer": "cloudeploy.serving.app",
    "ServerSettings": "cloudeploy.serving.settings",
    "serve": "cloudeploy.serving.server",
    "write_image_context": "cloudeploy.serving.image",
}

__all__ = ["ModelServer", "ServerSettings", "create_app", "serve", "write_image_context"]

if TYPE_CHECKING:  # pragma: no cover
    from cloudeploy.serving.app import ModelServer, create_app
    from cloudeploy.serving.image import write_image_context
    from cloudeploy.serving.server import serve
    from cloudeploy.serving.settings import ServerSettings


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'cloudeploy.serving' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value
