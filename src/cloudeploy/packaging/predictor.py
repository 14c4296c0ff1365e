"""``LoadedModel``: a package's model behind one ``predict(rows) -> list`` call.

This is the serving hot path. Everything that can be decided once (which
method to call, how to convert the output) is decided at load time, so a call
costs the input conversion, the model and one ``.tolist()``. Nothing is mutated
per call, so concurrent calls from several threads are safe as long as the
model's own predict is (scikit-learn's and onnxruntime's are).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cloudeploy import lazy
from cloudeploy.packaging.manifest import Manifest
from cloudeploy.packaging.schema import InputSchema

np = lazy.module("numpy")

Predict = Callable[[Any], list]


class LoadedModel:
    """A verified package's model.

    ``model`` is the raw estimator (or the onnxruntime session, or the
    :class:`~cloudeploy.packaging.onnx_format.CompiledGraph`). ``predict``
    takes what ``InputSchema.rows()`` returns (rows in schema order) or an
    ndarray / DataFrame, and returns one JSON-ready value per row: a class
    label, a list of class probabilities, or a float, per ``manifest.output_kind``.
    ``runtime`` names what answers (``onnx``, ``sklearn``, ``xgboost``,
    ``lightgbm``). ``takes_rows``: the predict function takes rows as they are
    (a compiled graph builds its own input tensors), so no DataFrame is built.
    """

    __slots__ = ("manifest", "schema", "model", "runtime", "_predict", "_named", "_takes_rows")

    def __init__(
        self, manifest: Manifest, model: Any, predict: Predict, *, runtime: str | None = None,
        takes_rows: bool = False,
    ) -> None:
        self.manifest = manifest
        self.schema: InputSchema = manifest.schema
        self.model = model
        self.runtime = runtime or manifest.original_runtime
        self._predict = predict
        self._named = manifest.schema.named
        self._takes_rows = takes_rows

    @property
    def output_kind(self) -> str:
        return self.manifest.output_kind

    def predict(self, rows: Any) -> list:
        if self._takes_rows:
            return self._predict(rows)
        if isinstance(rows, list):
            data = self.schema.to_model_input(rows)
        elif self._named and not hasattr(rows, "columns"):
            data = self.schema.to_model_input(
                rows.tolist() if hasattr(rows, "tolist") else list(rows)
            )
        else:
            data = rows
        return self._predict(data)

    def __repr__(self) -> str:
        return f"LoadedModel({self.manifest.name!r}, {self.manifest.format}, {self.manifest.output_kind}, runtime={self.runtime})"


def sklearn_predict(model: Any, output_kind: str) -> Predict:
    """The per-call function for a scikit-learn estimator and output kind."""
    if output_kind == "probabilities":
        predict_proba = model.predict_proba
        return lambda data: predict_proba(data).tolist()
    predict = model.predict
    if output_kind == "regression":
        return lambda data: np.asarray(predict(data), dtype=float).tolist()
    return lambda data: predict(data).tolist()
