"""skops files: loaded with an explicit list of trusted types, never with ``trusted=True``.

skops refuses to construct any type it does not trust by default; the types it
reports (``get_untrusted_types``) must all pass the same allowlist as pickle
globals (scikit-learn's ``sklearn.tree._tree.Tree`` and friends do) or be named
by the caller, and only those are passed to ``skops.io.load`` as trusted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cloudeploy import lazy
from cloudeploy.errors import PackageError, ProviderUnavailable
from cloudeploy.packaging.allowlist import Allowlist
from cloudeploy.packaging.unpickle import unsafe_error

INSTALL_HINT = "pip install 'cloudeploy[skops]'"


def _skops_io():
    try:
        sio = lazy.load("skops.io")  # a probe: missing skops is ProviderUnavailable
    except ImportError:
        raise ProviderUnavailable(
            "loading .skops files needs the skops package", hint=INSTALL_HINT
        ) from None
    return sio


def trusted_types(path: Path, *, trust: bool, allowlist: Allowlist) -> list[str]:
    """The types to pass to ``skops.io.load``; UnsafeModelError if some are not allowed."""
    sio = _skops_io()
    try:
        untrusted = list(sio.get_untrusted_types(file=path))
    except Exception as error:  # noqa: BLE001 - a corrupt or foreign file
        raise PackageError(f"{path} is not a readable skops file: {error}") from None
    if not trust:
        offending = [name for name in untrusted if not allowlist.allows(name)]
        if offending:
            raise unsafe_error(path, offending)
    return untrusted


def load_skops(path: Path, *, trust: bool, allowlist: Allowlist) -> Any:
    sio = _skops_io()
    trusted = trusted_types(path, trust=trust, allowlist=allowlist)
    try:
        return sio.load(path, trusted=trusted)
    except Exception as error:  # noqa: BLE001
        raise PackageError(f"cannot load {path}: {type(error).__name__}: {error}") from None
