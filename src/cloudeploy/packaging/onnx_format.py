"""ONNX files: run on onnxruntime (the ``onnx`` extra), one float32 input.

ONNX graphs hold no Python code, so they are not scanned. The schema is
positional (``x0..``) from the input's width; a classifier is recognised by its
label + probability outputs, and its classes are read from the graph's
``classlabels_*`` attributes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cloudeploy import lazy
from cloudeploy.errors import PackageError, ProviderUnavailable
from cloudeploy.packaging.schema import InputSchema

np = lazy.module("numpy")
onnxruntime = lazy.module("onnxruntime")

INSTALL_HINT = "pip install 'cloudeploy[onnx]'"
_CLASS_ATTRIBUTES = ("classlabels_ints", "classlabels_int64s", "classlabels_strings")


def open_session(path: Path) -> Any:
    try:
        runtime = lazy.load("onnxruntime")  # a probe: missing onnxruntime is ProviderUnavailable
    except ImportError:
        raise ProviderUnavailable(
            "running ONNX models needs onnxruntime", hint=INSTALL_HINT
        ) from None
    try:
        session = runtime.InferenceSession(
            str(path), sess_options=session_options(1), providers=["CPUExecutionProvider"]
        )
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
        onnx = lazy.load("onnx")  # a probe: without onnx the classes are unknown
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


# -- compiled graphs (written by cloudeploy.packaging.compile) -----------------

#: Probabilities this close to the largest count as a tie (float32 sums of equal votes differ by ulps).
TIE = 1e-6
#: numpy dtype names of the ONNX input types compiled graphs use.
_INPUT_DTYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(string)": "object",
}


def session_options(threads: int = 1) -> Any:
    """onnxruntime options for a serving process: ``threads`` intra-op threads, no inter-op pool."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 4  # a refused input is raised as ValueError, not also logged in colour
    return options


class CompiledGraph:
    """A package's compiled graph on onnxruntime, fed and answering like the original model.

    ``source`` is the ONNX bytes or a file path. The graph has either one ``X``
    input of width n (positional numeric schemas) or one ``[n, 1]`` input per
    feature, named after it (``inputs``: ``"matrix"`` or ``"columns"``). Calls take rows in schema order (what
    ``InputSchema.rows`` returns), a 2-D array, or a DataFrame, and answer with
    Python values of the same JSON types as scikit-learn's ``.tolist()``.

    ``labels_from``: ``"label"`` reads the graph's label output;
    ``"probabilities"`` takes ``classes[i]`` for the first class whose
    probability is within :data:`TIE` of the largest, which is scikit-learn's
    rule for ties (``argmax`` picks the first), where float32 sums of equal
    votes (a forest's 50/50) come out a few ulps apart in either direction.
    """

    def __init__(self, source: bytes | str | Path, schema: InputSchema, classes: list[Any] | None = None,
                 *, threads: int = 1, labels_from: str = "label", inputs: str = "matrix") -> None:
        try:
            runtime = lazy.load("onnxruntime")  # a probe: missing onnxruntime is ProviderUnavailable
        except ImportError:
            raise ProviderUnavailable("running compiled models needs onnxruntime", hint=INSTALL_HINT) from None
        self._np = np
        data = source if isinstance(source, bytes) else str(source)
        self.session = runtime.InferenceSession(
            data, sess_options=session_options(threads), providers=["CPUExecutionProvider"]
        )
        self.schema = schema
        self.classes = classes
        graph_inputs = self.session.get_inputs()
        self._inputs = [(i.name, np.dtype(_INPUT_DTYPES.get(i.type, "float32"))) for i in graph_inputs]
        self._matrix = inputs == "matrix"
        self._positions = {name: index for index, name in enumerate(schema.names)}
        session_run = self.session.run

        def run(outputs: Any, feeds: dict[str, Any]) -> list:
            try:
                return session_run(outputs, feeds)
            except Exception as error:
                # onnxruntime's Fail / InvalidArgument: the graph refused this input (an
                # unknown category, say), as scikit-learn would with a ValueError.
                if type(error).__module__.startswith("onnxruntime"):
                    raise ValueError(str(error).split("Status Message: ")[-1]) from None
                raise

        self._run = run
        self.labels_from = labels_from
        if labels_from == "probabilities":
            if not classes or len(self.session.get_outputs()) < 2:
                raise PackageError("labels from probabilities need the classes and a probability output")
            self.labels = self._argmax_labels  # type: ignore[method-assign]

    def feeds(self, data: Any) -> dict[str, Any]:
        np = self._np
        if self._matrix:
            name, dtype = self._inputs[0]
            if hasattr(data, "columns"):
                data = data[self.schema.names].to_numpy() if self.schema.named else data.to_numpy()
            return {name: np.asarray(data, dtype=dtype)}
        if hasattr(data, "columns"):
            return {name: _column(data[name].to_numpy(), dtype, np) for name, dtype in self._inputs}
        if not isinstance(data, list):
            data = data.tolist()
        positions = self._positions
        return {
            name: _column([row[positions[name]] for row in data], dtype, np) for name, dtype in self._inputs
        }

    def labels(self, data: Any) -> list:
        return self._run(None, self.feeds(data))[0].tolist()

    def _argmax_labels(self, data: Any) -> list:
        np = self._np
        probabilities = self._run(None, self.feeds(data))[1]
        if len(probabilities) == 1:  # one request's row: plain Python costs ~1 µs, numpy's calls ~8
            row = probabilities[0].tolist()
            floor = max(row) - TIE
            return [self.classes[next(i for i, p in enumerate(row) if p >= floor)]]  # type: ignore[index]
        top = probabilities.max(axis=1, keepdims=True)
        index = np.argmax(probabilities >= top - TIE, axis=1)
        classes = self.classes
        return [classes[i] for i in index.tolist()]  # type: ignore[index]

    def values(self, data: Any, output_kind: str) -> list:
        """Probabilities (second output) or regression values (first output, flattened)."""
        if output_kind == "regression":
            values = self._run(None, self.feeds(data))[0]
            if values.ndim == 2 and values.shape[1] == 1:
                values = values[:, 0]
            return values.astype(float).tolist()
        return self._run(None, self.feeds(data))[1].astype(float).tolist()

    def array_predictor(self, output_kind: str):
        """Like :meth:`predictor`, but labels and regression values come back as numpy arrays (batch)."""
        np = self._np
        run, feeds = self._run, self.feeds
        if output_kind in ("class_labels", "unknown"):
            if self.labels_from == "probabilities":
                classes = np.asarray(self.classes)

                def labels(data: Any) -> Any:
                    probabilities = run(None, feeds(data))[1]
                    top = probabilities.max(axis=1, keepdims=True)
                    return classes[np.argmax(probabilities >= top - TIE, axis=1)]

                return labels
            return lambda data: run(None, feeds(data))[0]
        if output_kind == "regression":
            return lambda data: run(None, feeds(data))[0].reshape(-1).astype(float)
        return self.predictor(output_kind)

    def predictor(self, output_kind: str):
        """The per-call function for ``output_kind`` (what ``LoadedModel`` calls)."""
        if output_kind in ("class_labels", "unknown"):
            return self.labels
        return lambda data: self.values(data, output_kind)


def _column(values: Any, dtype: Any, np: Any) -> Any:
    if dtype.kind == "O":
        column = np.array(["" if v is None else str(v) for v in values], dtype=object)
    else:
        column = np.asarray(values, dtype=dtype)
    return column.reshape(-1, 1)
