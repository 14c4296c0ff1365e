"""ONNX files: run on onnxruntime (the ``onnx`` extra), one float32 input.

ONNX graphs hold no Python code, so they are not scanned. The schema is
positional (``x0..``) from the input's width; a classifier is recognised by its
label + probability outputs, and its classes are read from the graph's
``classlabels_*`` attributes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cloudeploy.errors import PackageError, ProviderUnavailable
from cloudeploy.packaging.schema import InputSchema

INSTALL_HINT = "pip install 'cloudeploy[onnx]'"
_CLASS_ATTRIBUTES = ("classlabels_ints", "classlabels_int64s", "classlabels_strings")


def open_session(path: Path) -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise ProviderUnavailable(
            "running ONNX models needs onnxruntime", hint=INSTALL_HINT
        ) from None
    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own Fail/InvalidGraph types
        raise PackageError(f"{path} is not a loadable ONNX model: {error}") from None
    inputs = session.get_inputs()
    if len(inputs) != 1 or inputs[0].type != "tensor(float)":
        described = ", ".join(f"{i.name}: {i.type}" for i in inputs)
        raise PackageError(
            f"{path}: cloudeploy serves ONNX models with one float32 input, this one takes {described}",
            hint="convert the model with a single float tensor input (skl2onnx: initial_types=[('X', FloatTensorType([None, n]))])",
        )
    return session


def describe(path: Path) -> tuple[InputSchema | None, str, list[Any] | None]:
    """(schema or None if the width is unknown, output kind, classes) of an ONNX model."""
    session = open_session(path)
    width = session.get_inputs()[0].shape[-1]
    schema = InputSchema.positional(width) if isinstance(width, int) else None
    outputs = session.get_outputs()
    kind = "class_labels" if len(outputs) >= 2 else "regression"
    return schema, kind, _classes(path) if kind == "class_labels" else None


def _classes(path: Path) -> list[Any] | None:
    try:
        import onnx
    except ImportError:
        return None
    graph = onnx.load(str(path)).graph
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.name in _CLASS_ATTRIBUTES:
                values = list(attribute.ints) or [s.decode() for s in attribute.strings]
                return values
    return None


def onnx_predict(session: Any, output_kind: str, classes: list[Any] | None):
    """The per-call function for an onnxruntime session."""
    import numpy as np

    input_name = session.get_inputs()[0].name
    run = session.run

    def features(data: Any) -> Any:
        return np.asarray(data, dtype=np.float32)

    if output_kind == "probabilities":

        def predict(data: Any) -> list:
            probabilities = run(None, {input_name: features(data)})[1]
            if isinstance(probabilities, list):  # skl2onnx's ZipMap: one {class: p} per row
                order = classes or sorted(probabilities[0])
                return [[float(row[c]) for c in order] for row in probabilities]
            return probabilities.tolist()

        return predict
    if output_kind == "regression":

        def predict(data: Any) -> list:
            values = np.asarray(run(None, {input_name: features(data)})[0], dtype=float)
            if values.ndim == 2 and values.shape[1] == 1:
                values = values[:, 0]
            return values.tolist()

        return predict
    return lambda data: run(None, {input_name: features(data)})[0].tolist()
