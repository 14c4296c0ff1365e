"""LightGBM models in LightGBM's own text format (``model.txt``), never pickled.

A scikit-learn-API estimator (``LGBMClassifier``, ``LGBMRegressor``) is saved as
its booster's text model; its classes go into the manifest (LightGBM encodes
labels as 0..k-1 internally). :class:`LightGBMModel` serves a booster with the
scikit-learn calls the rest of cloudeploy uses (``predict``, ``predict_proba``,
``classes_``, ``n_features_in_``), and is what a native ``.txt`` file loads as.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cloudeploy import lazy
from cloudeploy.errors import PackageError, ProviderUnavailable

np = lazy.module("numpy")

INSTALL_HINT = "pip install 'cloudeploy[lightgbm]'"
SUFFIXES = (".txt",)
_HEADER = b"tree\n"


def _lightgbm():
    try:
        lightgbm = lazy.load("lightgbm")  # a probe: missing lightgbm is ProviderUnavailable
    except ImportError:
        raise ProviderUnavailable("LightGBM models need the lightgbm package", hint=INSTALL_HINT) from None
    return lightgbm


def is_lightgbm_estimator(model: Any) -> bool:
    return type(model).__module__.split(".")[0] == "lightgbm" and hasattr(model, "booster_")


def looks_like_lightgbm(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(_HEADER)) == _HEADER


def save(model: Any, directory: Path) -> str:
    name = "model.txt"
    model.booster_.save_model(str(directory / name))
    return name


def load(path: Path, classes: list[Any] | None = None) -> LightGBMModel:
    lightgbm = _lightgbm()
    try:
        booster = lightgbm.Booster(model_file=str(path))
    except Exception as error:  # noqa: BLE001 - LightGBMError for a foreign or corrupt file
        raise PackageError(f"{path} is not a readable LightGBM model: {error}") from None
    return LightGBMModel(booster, classes)


class LightGBMModel:
    """A LightGBM booster answering like its scikit-learn-API estimator.

    Classifiers (``binary``/``multiclass*`` objectives) have ``classes_``: the
    given ``classes`` or 0..k-1; labels are the class of the largest
    probability, as ``LGBMClassifier.predict`` gives them.
    """

    def __init__(self, booster: Any, classes: list[Any] | None = None) -> None:
        self.booster = booster
        objective = str(booster.dump_model().get("objective", "regression")).split()[0]
        self.objective = objective
        self.n_features_in_ = booster.num_feature()
        names = booster.feature_name()
        if names and not all(name == f"Column_{i}" for i, name in enumerate(names)):
            self.feature_names_in_ = np.asarray(names, dtype=object)
        if objective == "binary" or objective.startswith("multiclass"):
            count = 2 if objective == "binary" else booster.dump_model().get("num_class", 2)
            self.classes_ = np.asarray(classes if classes is not None else list(range(count)))
            self._estimator_type = "classifier"
        else:
            self._estimator_type = "regressor"

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def predict_proba(self, data: Any) -> Any:
        raw = np.asarray(self.booster.predict(data))
        return np.column_stack([1.0 - raw, raw]) if raw.ndim == 1 else raw

    def predict(self, data: Any) -> Any:
        if self._estimator_type == "classifier":
            return self.classes_[np.argmax(self.predict_proba(data), axis=1)]
        return np.asarray(self.booster.predict(data), dtype=float)
