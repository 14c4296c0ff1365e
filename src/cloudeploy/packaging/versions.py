"""Framework versions: what a package records and the scikit-learn version check.

A pickled estimator only works reliably with the scikit-learn it was saved
with, so loading refuses a package whose recorded scikit-learn version
(``major.minor.patch``) differs from the installed one unless the caller allows
the mismatch explicitly.
"""

from __future__ import annotations

import platform
from importlib import metadata

from cloudeploy.errors import VersionMismatchError

_CORE = ("scikit-learn", "numpy", "scipy", "joblib")
_BY_FORMAT = {"skops": ("skops",), "onnx": ("onnx", "onnxruntime", "skl2onnx")}


def installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def framework_versions(model_format: str) -> dict[str, str]:
    """Installed versions of the libraries a package in ``model_format`` depends on."""
    versions = {}
    for name in _CORE + _BY_FORMAT.get(model_format, ()):
        version = installed_version(name)
        if version is not None:
            versions[name] = version
    return versions


def python_version() -> str:
    return platform.python_version()


def _release(version: str) -> tuple[str, ...]:
    """``1.5.2`` -> ("1", "5", "2"); pre/post/dev suffixes beyond the patch are ignored."""
    head = version.split("+", 1)[0]
    parts = []
    for part in head.split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit()) if not part.isdigit() else part
        parts.append(digits or part)
        if not part.isdigit():
            break
    return tuple(parts)


def check_sklearn_version(saved: str | None, *, allow_mismatch: bool, source: str) -> None:
    """Raise VersionMismatchError naming both versions when ``saved`` differs from the installed one."""
    installed = installed_version("scikit-learn")
    if not saved or installed is None or allow_mismatch:
        return
    if _release(saved) != _release(installed):
        raise VersionMismatchError(
            f"{source} was saved with scikit-learn {saved} but scikit-learn {installed} is installed",
            hint=f"install scikit-learn=={saved}, re-save the model with {installed}, or pass "
            "allow_version_mismatch=True (CLI --allow-version-mismatch) to load it anyway",
        )
