"""Model packages: a model file plus ``cloudeploy.json`` (digests, versions, schema, baseline).

Public API::

    build_package(model, output_dir, *, name=None, schema=None, output_kind=None,
                  baseline=None, trust=False, allowed_globals=(), overwrite=False,
                  allow_version_mismatch=False) -> Package
    verify_package(path) -> Manifest
    load_package(path, *, trust=False, allowed_globals=(),
                 allow_version_mismatch=False) -> LoadedModel
    scan_pickle(path_or_bytes, allowed_globals=()) -> list[str]   # offending globals

The manifest and schema modules are light and imported here; everything that
needs scikit-learn, joblib, skops or onnxruntime is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cloudeploy.packaging.manifest import MANIFEST_NAME, Manifest, read_manifest, sha256_file
from cloudeploy.packaging.schema import Feature, InputError, InputSchema

_LAZY: dict[str, str] = {
    "build_package": "cloudeploy.packaging.build",
    "Package": "cloudeploy.packaging.build",
    "verify_package": "cloudeploy.packaging.load",
    "load_package": "cloudeploy.packaging.load",
    "LoadedModel": "cloudeploy.packaging.predictor",
    "scan_pickle": "cloudeploy.packaging.scan",
    "DEFAULT_ALLOWED_GLOBALS": "cloudeploy.packaging.allowlist",
    "Allowlist": "cloudeploy.packaging.allowlist",
}

__all__ = [
    "DEFAULT_ALLOWED_GLOBALS",
    "MANIFEST_NAME",
    "Allowlist",
    "Feature",
    "InputError",
    "InputSchema",
    "LoadedModel",
    "Manifest",
    "Package",
    "build_package",
    "load_package",
    "read_manifest",
    "scan_pickle",
    "sha256_file",
    "verify_package",
]

if TYPE_CHECKING:  # pragma: no cover
    from cloudeploy.packaging.allowlist import DEFAULT_ALLOWED_GLOBALS, Allowlist
    from cloudeploy.packaging.build import Package, build_package
    from cloudeploy.packaging.load import load_package, verify_package
    from cloudeploy.packaging.predictor import LoadedModel
    from cloudeploy.packaging.scan import scan_pickle


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'cloudeploy.packaging' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
