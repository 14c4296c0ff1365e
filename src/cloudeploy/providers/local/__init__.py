"""The local provider (the embedded default): see ``provider.py``."""

from cloudeploy.providers.local.provider import LocalProvider

__all__ = ["LocalProvider"]
