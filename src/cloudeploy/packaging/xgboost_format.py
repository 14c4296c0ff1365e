"""XGBoost models in XGBoost's own file format (``model.json`` / ``model.ubj``), never pickled.

A scikit-learn-API estimator (``XGBClassifier``, ``XGBRegressor``) is saved with
``save_model`` (XGBoost keeps the scikit-learn attributes in the file); a native
file is loaded back into the matching scikit-learn-API class, chosen by the
objective recorded in the file (``binary:*`` / ``multi:*`` classify, anything
else regresses). Loading a model file runs no Python code from it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cloudeploy import lazy
from cloudeploy.errors import PackageError, ProviderUnavailable

INSTALL_HINT = "pip install 'cloudeploy[xgboost]'"
SUFFIXES = (".json", ".ubj")
_CLASSIFYING = ("binary:", "multi:")


def _xgboost():
    try:
        xgboost = lazy.load("xgboost")  # a probe: missing xgboost is ProviderUnavailable
    except ImportError:
        raise ProviderUnavailable("XGBoost models need the xgboost package", hint=INSTALL_HINT) from None
    return xgboost


def is_xgboost_estimator(model: Any) -> bool:
    """A scikit-learn-API XGBoost estimator (by module, so xgboost is not imported to ask)."""
    return type(model).__module__.split(".")[0] == "xgboost" and hasattr(model, "save_model")


def save(model: Any, directory: Path) -> str:
    """Write ``model`` natively into ``directory``; returns the file name."""
    name = "model.json"
    model.save_model(str(directory / name))
    return name


def load(path: Path) -> Any:
    """The scikit-learn-API estimator for the XGBoost model file at ``path``."""
    xgboost = _xgboost()
    booster = xgboost.Booster()
    try:
        booster.load_model(str(path))
        objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
    except Exception as error:  # noqa: BLE001 - XGBoostError for a foreign or corrupt file
        raise PackageError(f"{path} is not a readable XGBoost model: {error}") from None
    estimator = xgboost.XGBClassifier() if objective.startswith(_CLASSIFYING) else xgboost.XGBRegressor()
    estimator.load_model(str(path))
    return estimator
