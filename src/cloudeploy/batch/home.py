"""Where batch job directories live: ``<CLOUDEPLOY_HOME>/batch``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def local_home(provider: Any) -> Path:
    """The provider's home (``provider.home``), else ``$CLOUDEPLOY_HOME`` or ``./.cloudeploy``, plus ``batch``."""
    home = getattr(provider, "home", None) or os.environ.get("CLOUDEPLOY_HOME") or ".cloudeploy"
    return Path(home).resolve() / "batch"
