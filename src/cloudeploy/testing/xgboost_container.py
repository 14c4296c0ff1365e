"""The prebuilt XGBoost prediction containers of Vertex AI and SageMaker, emulated.

Neither container runs ``cloudeploy serve``: each loads the model file its own
way and answers what ``Booster.predict`` returns (class probabilities for a
classifier: one number per row for ``binary:logistic``, a list per row for
``multi:softprob``; the value for a regressor). The emulators answer the same,
with the real xgboost library on the real model file, in the emulator process
(a model server process still runs for the version's lifecycle: health, stop).
Like the images, it unpickles ``model.joblib`` / ``model.pkl`` / pickled boosters
in the emulator process: the emulation trusts what the test itself uploaded to
its own emulated bucket (never point it at files you would not unpickle).

Vertex AI ``xgboost-cpu.M-m`` (the ``sk_xg_prediction_lib`` of the prebuilt
images, and ``google.cloud.aiplatform.prediction.xgboost.predictor``):

- loads ``model.joblib`` (joblib), else ``model.pkl`` (pickle), else
  ``model.bst`` (``xgboost.Booster(model_file=...)``); the object must come from
  the xgboost module ("Invalid model type detected" otherwise);
- ``{"instances": rows}`` -> ``model.predict(xgboost.DMatrix(rows))`` ->
  ``{"predictions": result.tolist()}``. A scikit-learn-API estimator loaded from a
  joblib file is called the same way, and recent xgboost refuses a DMatrix there.

SageMaker ``sagemaker-xgboost`` in algorithm mode (``aws/sagemaker-xgboost-container``,
``algorithm_mode/serve.py`` and ``serve_utils.py``):

- loads every non-dot file at the root of the model directory
  (``SAGEMAKER_INFERENCE_ENSEMBLE``, default ``true``; else the first only): pickle
  first, then ``Booster.load_model``, then ``set_param("nthread", 1)`` (so a
  pickled scikit-learn-API estimator does not load); several boosters answer
  their mean;
- reads ``text/csv`` and ``text/libsvm`` (a request without Content-Type is
  read as libsvm); anything else, JSON included, is 415 naming the content type;
- answers ``Accept`` (default ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``, else
  ``text/csv``): CSV one prediction per line (``np.savetxt``), or for
  ``application/json`` ``{"predictions": [{"score": p}, ...]}``; other Accept is 406;
  an empty body is 204; a prediction failure is 400; with ``SAGEMAKER_INFERENCE_OUTPUT``
  the selected keys per row (``predicted_label``, ``probability``, ...).
"""

from __future__ import annotations

import csv
import json
import pickle
import threading
from pathlib import Path
from typing import Any

VERTEX_FILES = ("model.joblib", "model.pkl", "model.bst")
SAGEMAKER_ACCEPTS = (
    "application/json",
    "application/jsonlines",
    "application/x-recordio-protobuf",
    "text/csv",
)
SAGEMAKER_INPUTS = {
    "text/csv": "csv",
    "csv": "csv",
    "text/libsvm": "libsvm",
    "text/x-libsvm": "libsvm",
    "libsvm": "libsvm",
}


class ContainerError(Exception):
    """The container cannot load its model or answer; ``status`` is its HTTP status."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def is_sagemaker_xgboost_image(image: str) -> bool:
    """``<account>.dkr.ecr.<region>.amazonaws.com/sagemaker-xgboost:<tag>``."""
    return image.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0] == "sagemaker-xgboost"


def native_suffix(path: Path) -> str:
    """``.json`` or ``.ubj``: which native format the file at ``path`` holds (by its bytes)."""
    with Path(path).open("rb") as handle:
        head = handle.read(2)
    return ".json" if head[:2] in (b'{"', b"{ ", b"{\n") else ".ubj"


def _xgboost() -> Any:
    import xgboost

    return xgboost


class _Container:
    """A loaded model answering under a lock (xgboost's predict is not thread-safe)."""

    def __init__(self, models: list[Any]) -> None:
        self.models = models
        self._lock = threading.Lock()

    def _predict(self, matrix: Any) -> Any:
        import numpy as np

        with self._lock:
            answers = [model.predict(matrix) for model in self.models]
        return answers[0] if len(answers) == 1 else np.mean(answers, axis=0)


class VertexXGBoostContainer(_Container):
    """``xgboost-cpu.M-m`` on Vertex AI; ``predict(instances) -> list``."""

    @classmethod
    def load(cls, model_dir: Path) -> VertexXGBoostContainer:
        model_dir = Path(model_dir)
        path = next((model_dir / n for n in VERTEX_FILES if (model_dir / n).is_file()), None)
        if path is None:
            raise ContainerError(
                f"Could not find {', '.join(VERTEX_FILES[:2])}, or {VERTEX_FILES[2]} in {model_dir}"
            )
        xgboost = _xgboost()
        try:
            if path.name == "model.joblib":
                import joblib

                model = joblib.load(path)
            elif path.name == "model.pkl":
                model = pickle.loads(path.read_bytes())
            else:
                model = xgboost.Booster(model_file=str(path))
        except Exception as error:  # noqa: BLE001 - the container's own message
            raise ContainerError(f"Could not load the model: {path.name}. {error}.") from None
        if "xgboost" not in type(model).__module__:
            raise ContainerError(
                f"Invalid model type detected: {type(model).__module__}.{type(model).__name__}. "
                "Please make sure the model file is an exported xgboost model."
            )
        return cls([model])

    def predict(self, instances: list[Any]) -> list[Any]:
        xgboost = _xgboost()
        try:
            matrix = xgboost.DMatrix(instances)
        except Exception as error:  # noqa: BLE001
            raise ContainerError(
                f"Could not initialize DMatrix from inputs: {error}", 400
            ) from None
        try:
            return self._predict(matrix).tolist()
        except Exception as error:  # noqa: BLE001
            raise ContainerError(f"Exception during xgboost prediction: {error}", 400) from None


class SageMakerXGBoostContainer(_Container):
    """``sagemaker-xgboost`` in algorithm mode; ``invoke(body, content_type, accept)``."""

    def __init__(self, models: list[Any], environment: dict[str, str]) -> None:
        super().__init__(models)
        self.environment = environment

    @classmethod
    def load(
        cls, model_dir: Path, environment: dict[str, str] | None = None
    ) -> SageMakerXGBoostContainer:
        environment = dict(environment or {})
        files = sorted(
            p for p in Path(model_dir).iterdir() if p.is_file() and not p.name.startswith(".")
        )
        if not files:
            raise ContainerError(f"no model file in {model_dir}")
        if environment.get("SAGEMAKER_INFERENCE_ENSEMBLE", "true") != "true":
            files = files[:1]
        xgboost = _xgboost()
        models = []
        for path in files:
            try:
                model = pickle.loads(path.read_bytes())
            except Exception as pickle_error:  # noqa: BLE001
                try:
                    model = xgboost.Booster()
                    model.load_model(str(path))
                except Exception as xgb_error:  # noqa: BLE001
                    raise ContainerError(
                        f"Model {path.name} cannot be loaded:\nPickle load error={pickle_error}"
                        f"\nXGB load model error={xgb_error}"
                    ) from None
            try:
                model.set_param("nthread", 1)
            except Exception as error:  # noqa: BLE001 - e.g. a pickled XGBClassifier
                raise ContainerError(f"Model {path.name} cannot be loaded: {error}") from None
            models.append(model)
        return cls(models, environment)

    def invoke(
        self, body: bytes, content_type: str | None, accept: str | None
    ) -> tuple[int, bytes, str]:
        """``(status, body, content type)`` as the container answers ``POST /invocations``."""
        if not body:
            return 204, b"", "text/plain"
        kind = SAGEMAKER_INPUTS.get((content_type or "").split(";")[0].strip().lower())
        if content_type is None:
            kind = "libsvm"
        if kind is None:
            return (
                415,
                (
                    f"Content-type {content_type} is not supported. Supported content-type is text/csv, "
                    "text/libsvm, application/x-recordio-protobuf"
                ).encode(),
                "text/plain",
            )
        try:
            matrix = _csv_matrix(body) if kind == "csv" else _libsvm_matrix(body)
        except Exception as error:  # noqa: BLE001
            return (
                415,
                (
                    f"Loading {kind} data failed with Exception, please ensure data is in {kind} format:\n"
                    f" {type(error)}\n {error}"
                ).encode(),
                "text/plain",
            )
        try:
            raw = self._predict(matrix)
        except Exception as error:  # noqa: BLE001
            return 400, f"Unable to evaluate payload provided: {error}".encode(), "text/plain"
        predictions = raw.tolist()
        accept = (accept or "").split(";")[0].strip().lower()
        if not accept or accept == "*/*":
            accept = self.environment.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "text/csv")
        if accept not in SAGEMAKER_ACCEPTS:
            return (
                406,
                (
                    f"Accept type {accept} is not supported. Please use supported accept types: "
                    f"{list(SAGEMAKER_ACCEPTS)}."
                ).encode(),
                "text/plain",
            )
        if "SAGEMAKER_INFERENCE_OUTPUT" in self.environment:
            return self._selected(raw, accept)
        if accept == "application/json":
            return (
                200,
                json.dumps({"predictions": [{"score": p} for p in predictions]}).encode(),
                accept,
            )
        if accept == "text/csv":
            return 200, _savetxt(predictions), accept
        if accept == "application/jsonlines":
            return 200, "\n".join(json.dumps(p) for p in predictions).encode(), accept
        return 406, b"application/x-recordio-protobuf answers are not emulated", "text/plain"


    def _selected(self, raw: Any, accept: str) -> tuple[int, bytes, str]:
        """Selectable inference output (``SAGEMAKER_INFERENCE_OUTPUT``, ``serve_utils.get_selected_predictions``)."""
        keys = self.environment["SAGEMAKER_INFERENCE_OUTPUT"].replace(" ", "").lower().split(",")
        try:
            config = json.loads(self.models[0].save_config())["learner"]
            objective = config["objective"]["name"]
            num_class = config["learner_model_param"].get("num_class", "")
            if objective not in _SELECTABLE:
                raise ValueError(f"Objective `{objective}` unsupported for selectable inference predictions.")
            rows = [_selected_row(value, keys, objective, num_class) for value in raw]
            if accept == "application/json":
                return 200, json.dumps({"predictions": rows}).encode(), accept
            if accept == "text/csv":
                lines = [
                    ",".join(f'"{row[k]}"' if isinstance(row[k], list) else str(row[k]) for k in keys)
                    for row in rows
                ]
                return 200, "\n".join(lines).encode(), accept
            raise RuntimeError(f"Cannot encode selected predictions into accept type '{accept}'.")
        except Exception as error:  # noqa: BLE001 - the container answers 500 with the message
            return 500, str(error).encode(), "text/plain"


#: Objective -> the selectable keys valid for it (``serve_utils.VALID_OBJECTIVES``).
_CLASSIFYING = ["predicted_label", "labels", "raw_score", "raw_scores"]
_SELECTABLE = {
    **dict.fromkeys(
        ("reg:squarederror", "reg:logistic", "reg:gamma", "reg:absoluteerror", "reg:tweedie"),
        ["predicted_score"],
    ),
    "binary:logistic": [*_CLASSIFYING, "probability", "probabilities"],
    "binary:logitraw": _CLASSIFYING,
    "binary:hinge": _CLASSIFYING,
    "multi:softmax": _CLASSIFYING,
    "multi:softprob": [*_CLASSIFYING, "probability", "probabilities"],
}


def _selected_row(value: Any, keys: list[str], objective: str, num_class: str) -> dict[str, Any]:
    """One prediction's selected content; a key the objective does not give is NaN."""
    import numpy as np

    multi = objective == "multi:softprob"
    one = None if multi else float(np.asarray(value).item())
    content = {
        "predicted_label": (
            int(np.argmax(value)) if multi
            else int(one > 0.5) if objective == "binary:logistic"
            else int(one > 0) if objective == "binary:logitraw"
            else one
        ),
        "labels": (
            [0, 1] if objective.startswith("binary:")
            else list(range(int(num_class))) if num_class
            else float("nan")
        ),
        "probability": float(np.max(value)) if multi else one,
        "probabilities": np.asarray(value).tolist() if multi else [1.0 - one, one],
        "raw_score": float(np.max(value)) if multi else one,
        "raw_scores": np.asarray(value).tolist() if multi else [1.0 - one, one],
        "predicted_score": one,
    }
    valid = _SELECTABLE[objective]
    return {key: content[key] if key in valid else float("nan") for key in keys}


def _csv_matrix(body: bytes) -> Any:
    """``encoder.csv_to_dmatrix``: delimiter sniffed on the first line, empty cells NaN, floats."""
    import numpy as np

    text = body.strip().decode("utf-8")
    sniffed = csv.Sniffer().sniff(text.split("\n")[0][:512]).delimiter
    delimiter = "," if sniffed.isalnum() else sniffed
    rows = [
        ["nan" if cell == "" else cell for cell in line.split(delimiter)]
        for line in text.split("\n")
    ]
    return _xgboost().DMatrix(np.array(rows).astype(float))


def _libsvm_matrix(body: bytes) -> Any:
    import numpy as np
    from scipy.sparse import csr_matrix

    rows, cols, values = [], [], []
    for index, line in enumerate(body.strip().decode("utf-8").split("\n")):
        for item in line.split(" "):
            if ":" in item:
                column, value = item.split(":", 1)
                rows.append(index)
                cols.append(int(column))
                values.append(float(value))
    columns = np.array(cols, dtype=int)
    if len(columns) and columns.min() >= 1:
        columns = columns - 1  # libsvm indices are 1-based
    return _xgboost().DMatrix(csr_matrix((values, (rows, columns))))


def _savetxt(predictions: list[Any]) -> bytes:
    """What ``np.savetxt(stream, predictions, delimiter=",", fmt="%s")`` writes."""
    import io

    import numpy as np

    stream = io.StringIO()
    np.savetxt(stream, np.asarray(predictions), delimiter=",", fmt="%s")
    return stream.getvalue().encode()
