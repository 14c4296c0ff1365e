"""The one way cloudeploy imports a heavy third-party package: on first use.

``cloudeploy --help`` and ``import cloudeploy`` must not import numpy, pandas,
scikit-learn, pyarrow, onnxruntime, shap, xgboost, lightgbm, a cloud SDK or the
server stack (tests/core/test_cli_startup.py). Internal imports sit at module top
(the layer contract in ``.importlinter`` checks them), so a module that needs a heavy
package names it at module top through this helper instead::

    from cloudeploy import lazy

    np = lazy.module("numpy")          # nothing imported yet

    def mean(xs):
        return np.asarray(xs).mean()   # numpy imported here, once

Contract:

- :func:`module` returns a stand-in at once; the first attribute read (but for the
  few that tools probe any object for, such as ``__wrapped__``) imports the
  real module (``importlib.import_module``, so ``sys.modules`` caches it). Nothing
  else triggers the import.
- At that first use, the module that called :func:`module` gets the real module in
  place of the stand-in (every global name bound to it is rebound), so its later
  reads are plain reads of the real module: as fast as an import at module top, and
  a test that patches ``joblib.load`` is seen by code calling ``joblib.load``. A
  stand-in held anywhere else forwards every read to the real module (slower, the
  same answers).
- A package that is not installed raises :class:`ImportError` at that first use,
  naming the module and the extra that installs it (:data:`EXTRAS`); callers that
  treat a missing optional package as "not available" keep catching ImportError.
- For precise static types, import the real module under ``TYPE_CHECKING`` too.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

#: top-level package -> how to install it (the extra of pyproject.toml that brings it).
EXTRAS: dict[str, str] = {
    "onnxruntime": "pip install 'cloudeploy[onnx]'",
    "skl2onnx": "pip install 'cloudeploy[onnx]'",
    "onnxmltools": "pip install 'cloudeploy[onnx]'",
    "xgboost": "pip install 'cloudeploy[xgboost]'",
    "lightgbm": "pip install 'cloudeploy[lightgbm]'",
    "shap": "pip install 'cloudeploy[explain]'",
    "skops": "pip install 'cloudeploy[skops]'",
    "matplotlib": "pip install 'cloudeploy[report]'",
    "boto3": "pip install 'cloudeploy[sagemaker]'",
    "botocore": "pip install 'cloudeploy[sagemaker]'",
    "google": "pip install 'cloudeploy[vertex]'",
}


#: Attributes that tools probe any object for (inspect, mock, typing); reading one is not a use.
_PROBES = frozenset({"__wrapped__", "__signature__", "__func__", "__self__", "__code__", "__origin__",
                     "__args__", "__parameters__"})


class LazyModule(ModuleType):
    """Stands in for module ``name`` until an attribute is read, then forwards to it."""

    def __init__(self, name: str, owner: dict[str, Any] | None = None) -> None:
        super().__init__(name)
        self.__dict__["_lazy_loaded"] = None
        self.__dict__["_lazy_owner"] = owner

    def _lazy_load(self) -> ModuleType:
        loaded = self.__dict__["_lazy_loaded"]
        if loaded is None:
            loaded = self.__dict__["_lazy_loaded"] = load(self.__name__)
            owner = self.__dict__["_lazy_owner"]
            if owner is not None:  # the module that asked for the stand-in now holds the real one
                for key, value in list(owner.items()):
                    if value is self:
                        owner[key] = loaded
        return loaded

    def __getattr__(self, attribute: str) -> Any:
        if attribute in _PROBES:
            raise AttributeError(attribute)
        return getattr(self._lazy_load(), attribute)

    def __dir__(self) -> list[str]:
        return dir(self._lazy_load())

    def __repr__(self) -> str:
        state = "loaded" if self.__dict__["_lazy_loaded"] is not None else "not loaded yet"
        return f"<lazy module {self.__name__!r} ({state})>"


def module(name: str) -> ModuleType:
    """A stand-in for ``name`` that imports it on first attribute access (see the module docstring)."""
    return LazyModule(name, sys._getframe(1).f_globals)


def load(name: str) -> ModuleType:
    """Import ``name`` now; ImportError names the extra that installs it, when one does."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        hint = EXTRAS.get(name.partition(".")[0])
        if hint is None:
            raise
        raise ImportError(f"{name} is not installed ({hint})", name=error.name) from error
