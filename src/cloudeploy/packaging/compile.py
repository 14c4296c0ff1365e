"""Compiling a model to ONNX at package time, and verifying that the graph answers like it.

Two entry points, both returning plain data (a dict of JSON values, plus the ONNX
bytes) so that they can run in a restricted child process whose result the
parent checks without unpickling anything:

- :func:`compile_model` takes a loaded model object, its input schema and output
  kind, and the rows to verify on (training data, or ``None`` to generate rows
  within the schema, using the baseline statistics when there are some).
- :func:`compile_model_file` takes a model *file*, loads it with the format's
  safety rules, infers what building a package infers (schema, output kind,
  classes) and calls :func:`compile_model`. It is what the sandbox runs for an
  untrusted pickle.

Conversion: skl2onnx for scikit-learn estimators and pipelines (its converters
cover scalers, encoders, ColumnTransformer, imputers, linear models, trees and
ensembles); XGBoost and LightGBM estimators (alone or inside a pipeline) through
onnxmltools' converters registered with skl2onnx. A positional numeric schema
becomes one ``X`` input of width n; a named schema one ``[n, 1]`` input per
feature (strings as string tensors, integers as int64, numbers as floats).

Verification: the graph, fed exactly as the server feeds it (:mod:`.onnx_format`),
must give **identical labels** (same values and JSON types) on every checked row,
and probabilities within ``TOLERANCE``, regression values within ``TOLERANCE``
relative to ``max(1, largest |value| the model gives on the checked rows)``
(float32 sums of many trees are off by a few ulps of the largest values). A float32 graph that fails is retried in double precision
before giving up. Any failure is one line in ``reason``; the caller then keeps
only the original runtime.

Batch: a verified plain forest also gets a second graph with its trees in
cache-sized blocks (:func:`batch_graph`), verified the same way, and the record
says how fast the batch graph and the original predict a batch here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cloudeploy import lazy
from cloudeploy.packaging.allowlist import Allowlist
from cloudeploy.packaging.infer import (
    _category_values,
    _first_step,
    check_fitted,
    infer_classes,
    infer_output_kind,
    infer_schema,
)
from cloudeploy.packaging.load import load_model_file
from cloudeploy.packaging.onnx_format import CompiledGraph
from cloudeploy.packaging.schema import InputError, InputSchema
from cloudeploy.packaging.tree_blocks import block_trees

np = lazy.module("numpy")
skl2onnx = lazy.module("skl2onnx")
skl2onnx_types = lazy.module("skl2onnx.common.data_types")
skl2onnx_shapes = lazy.module("skl2onnx.common.shape_calculator")
onnxmltools = lazy.module("onnxmltools")
onnxmltools_types = lazy.module("onnxmltools.convert.common.data_types")
xgboost = lazy.module("xgboost")
xgboost_converter = lazy.module("onnxmltools.convert.xgboost.operator_converters.XGBoost")
lightgbm = lazy.module("lightgbm")
lightgbm_converter = lazy.module("onnxmltools.convert.lightgbm.operator_converters.LightGbm")

#: Largest accepted |onnx - original| / max(1, |original|) for probabilities and regression values.
TOLERANCE = 1e-4
#: Most rows of the training data checked; rows generated when there is none.
MAX_ROWS = 2000
GENERATED_ROWS = 1000
#: ONNX opsets of the graphs we write (ai.onnx.ml 3: what onnxmltools' tree converters emit).
TARGET_OPSET = {"": 18, "ai.onnx.ml": 3}
PRECISIONS = ("float32", "float64")


def compile_model(
    model: Any,
    schema: InputSchema,
    output_kind: str,
    *,
    data: Any = None,
    baseline: dict[str, Any] | None = None,
    classes: list[Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Convert ``model`` to ONNX and verify it; never raises for a model that does not convert.

    ``data``: training rows (DataFrame, ndarray, or list of rows / dicts), of
    which up to :data:`MAX_ROWS` are checked; without it, rows are generated
    within the schema (and within ``baseline``'s ranges and categories when
    given). Returns::

        {"onnx": bytes | None,
         "record": {"runtime": "onnxruntime", "precision": "float32" | "float64",
                    "inputs": "matrix" | "columns", "labels_from": "label" | "probabilities",
                    "verification": {"rows": int, "source": "data" | "generated",
                                     "tolerance": float, "max_deviation": float | None,
                                     "labels_identical": bool | None},
                    "batch": <batch_graph's record>}
                  or {"reason": "one line"} when there is no verified graph,
         "batch_onnx": bytes (only when the batch graph is not the graph itself)}
    """
    try:
        rows, source = verification_rows(model, schema, data=data, baseline=baseline, seed=seed)
    except _Refused as refused:
        return {"onnx": None, "record": {"reason": str(refused)}}
    expected = _original_answers(model, schema, output_kind, rows)
    if isinstance(expected, str):
        return {"onnx": None, "record": {"reason": expected}}
    rows, labels, values = expected
    failures = []
    for precision in PRECISIONS:
        try:
            onnx_bytes = convert(model, schema, output_kind, precision=precision)
        except _Refused as refused:
            failures.append(str(refused) if not failures else f"{precision}: {refused}")
            break
        except Exception as error:  # noqa: BLE001 - converters raise anything
            failures.append(f"{precision}: {_one_line(error)}")
            if precision == "float32" and _worth_double(error):
                continue
            break
        layout = input_layout(model, schema)
        answers = (output_kind, classes, rows, labels, values)
        outcome, labels_from = _verify_graph(onnx_bytes, schema, answers, inputs=layout)
        if "failure" not in outcome:
            record = {
                "runtime": "onnxruntime",
                "precision": precision,
                "inputs": layout,
                "labels_from": labels_from,
                "verification": _verification(outcome, rows, source),
            }
            result = {"onnx": onnx_bytes, "record": record}
            batch_bytes, record["batch"] = batch_graph(
                model, onnx_bytes, schema, answers, source=source, inputs=layout, labels_from=labels_from,
                speed_rows=lambda count: _generated_input(model, schema, baseline, seed, count),
            )
            if batch_bytes is not None:
                result["batch_onnx"] = batch_bytes
            return result
        failures.append(f"{precision}: {outcome['failure']}")
    return {"onnx": None, "record": {"reason": "; ".join(failures)}}


def compile_model_file(
    path: str | Path,
    model_format: str,
    *,
    schema: Any = None,
    output_kind: str | None = None,
    data: Any = None,
    baseline: dict[str, Any] | None = None,
    trust: bool = False,
    allowed_globals: tuple[str, ...] | list[str] = (),
    allow_version_mismatch: bool = False,
    compile: bool = True,
) -> dict[str, Any]:
    """Load the model file at ``path`` and compile it: what building a package learns, as plain data.

    ``model_format`` is the package format (``joblib``, ``pickle``, ``skops``,
    ``xgboost``, ``lightgbm``); the file is loaded with that format's safety rules
    (``trust``, ``allowed_globals``, ``allow_version_mismatch``). ``schema`` is
    None or what ``build_package`` accepts (a schema dict, names, or
    ``{name: type}``). ``compile=False`` only loads and infers. Returns::

        {"schema": InputSchema.to_dict(), "output_kind": str, "classes": list | None,
         "onnx": bytes | None, "record": <as compile_model>}

    Errors about the model itself (not fitted, unsafe, wrong schema) raise the
    usual :class:`~cloudeploy.errors.CloudeployError`; a model that does not
    convert or verify is a result with ``record["reason"]``.
    """
    if isinstance(schema, dict) and "features" in schema:
        schema = InputSchema.from_dict(schema)
    model = load_model_file(
        Path(path),
        model_format,
        trust=trust,
        allowlist=Allowlist(allowed_globals),
        allow_version_mismatch=allow_version_mismatch,
    )
    check_fitted(model)
    input_schema = infer_schema(model, schema)
    kind = infer_output_kind(model, output_kind)
    if kind == "unknown":  # e.g. a LightGBM booster read from its text file
        kind = {"classifier": "class_labels", "regressor": "regression"}.get(
            getattr(model, "_estimator_type", None), kind
        )
    classes = infer_classes(model) if kind in ("class_labels", "probabilities") else None
    if compile:
        result = compile_model(model, input_schema, kind, data=data, baseline=baseline, classes=classes)
    else:
        result = {"onnx": None, "record": {"reason": "not compiled (compile=False)"}}
    return {"schema": input_schema.to_dict(), "output_kind": kind, "classes": classes, **result}


# -- conversion ---------------------------------------------------------------


class _Refused(Exception):
    """The model cannot be compiled, for a reason worth one line."""


def convert(model: Any, schema: InputSchema, output_kind: str, *, precision: str = "float32") -> bytes:
    """The ONNX graph of ``model`` (serialized), with inputs laid out for ``schema``."""
    try:
        convert_sklearn = skl2onnx.convert_sklearn
    except ImportError:
        raise _Refused("skl2onnx is not installed (pip install 'cloudeploy[onnx]')") from None
    _register_boosters()
    initial_types = _initial_types(schema, precision, input_layout(model, schema))
    if type(model).__name__ == "LightGBMModel":  # a LightGBM booster read from its text file
        if precision != "float32" or input_layout(model, schema) != "matrix":
            raise _Refused("a LightGBM booster compiles to a float32 graph with one numeric input only")
        graph = onnxmltools.convert_lightgbm(
            model.booster,
            initial_types=[("X", onnxmltools_types.FloatTensorType([None, len(schema)]))],
            zipmap=False,
            target_opset=15,  # onnxmltools' LightGBM converter goes up to 15
        )
        graph.graph.name = "cloudeploy"
        return graph.SerializeToString()
    options = _options(model, output_kind)
    while True:
        try:
            onnx_model = convert_sklearn(
                model,
                initial_types=initial_types,
                options=options or None,
                target_opset=TARGET_OPSET,
                name="cloudeploy",  # a fixed graph name (the default is a random uuid): same model, same bytes
            )
        except NameError as error:  # a converter without the zipmap option (no probabilities)
            if not options or "zipmap" not in str(error):
                raise
            options = {}
            continue
        return onnx_model.SerializeToString()


def input_layout(model: Any, schema: InputSchema) -> str:
    """``matrix`` (one ``X`` input, width n) when the model takes its features as one
    numeric array; ``columns`` (one input per feature) when it selects them by name."""
    numeric = all(f.type in ("number", "integer") for f in schema.features)
    by_name = schema.named and type(_first_step(model)).__name__ == "ColumnTransformer"
    return "matrix" if numeric and not by_name else "columns"


def _initial_types(schema: InputSchema, precision: str, layout: str) -> list:
    number = skl2onnx_types.DoubleTensorType if precision == "float64" else skl2onnx_types.FloatTensorType
    if layout == "matrix":
        return [("X", number([None, len(schema)]))]
    if not schema.named:
        raise _Refused("a positional schema with non-numeric features has no ONNX input layout")
    types = []
    for feature in schema.features:
        if feature.type == "string":
            types.append((feature.name, skl2onnx_types.StringTensorType([None, 1])))
        elif feature.type == "integer" and not feature.nullable:
            types.append((feature.name, skl2onnx_types.Int64TensorType([None, 1])))
        elif feature.type in ("number", "integer"):
            types.append((feature.name, number([None, 1])))
        else:
            raise _Refused(f"feature {feature.name!r} is {feature.type}: no ONNX input type for it")
    return types


def _options(model: Any, output_kind: str) -> dict:
    """zipmap off for every classifier (plain probability tensors, not a list of dicts per row)."""
    options: dict = {}
    for part in _parts(model):
        if hasattr(part, "predict_proba") and hasattr(part, "classes_"):
            options[id(part)] = {"zipmap": False}
    return options


def _parts(model: Any) -> list[Any]:
    parts = [model]
    steps = getattr(model, "steps", None)
    if steps:
        for _, step in steps:
            parts.extend(_parts(step))
    return parts


_REGISTERED = False


def _register_boosters() -> None:
    """Teach skl2onnx the XGBoost and LightGBM estimators (whichever are installed)."""
    global _REGISTERED
    if _REGISTERED:
        return
    _REGISTERED = True
    update_registered_converter = skl2onnx.update_registered_converter
    calculate_linear_classifier_output_shapes = skl2onnx_shapes.calculate_linear_classifier_output_shapes
    calculate_linear_regressor_output_shapes = skl2onnx_shapes.calculate_linear_regressor_output_shapes

    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    try:
        convert_xgboost = xgboost_converter.convert_xgboost
        XGBClassifier, XGBRegressor = xgboost.XGBClassifier, xgboost.XGBRegressor  # noqa: N806
    except ImportError:
        pass
    else:
        update_registered_converter(
            XGBClassifier, "XGBoostXGBClassifier", calculate_linear_classifier_output_shapes,
            convert_xgboost, options=classifier_options,
        )
        update_registered_converter(
            XGBRegressor, "XGBoostXGBRegressor", calculate_linear_regressor_output_shapes, convert_xgboost
        )
    try:
        LGBMClassifier, LGBMRegressor = lightgbm.LGBMClassifier, lightgbm.LGBMRegressor  # noqa: N806
        convert_lightgbm = lightgbm_converter.convert_lightgbm
    except ImportError:
        pass
    else:
        update_registered_converter(
            LGBMClassifier, "LightGbmLGBMClassifier", calculate_linear_classifier_output_shapes,
            convert_lightgbm, options=classifier_options,
        )
        update_registered_converter(
            LGBMRegressor, "LightGbmLGBMRegressor", calculate_linear_regressor_output_shapes,
            convert_lightgbm, options={"split": None},
        )


def _worth_double(error: Exception) -> bool:
    """A float32 conversion that failed for a reason double precision would not fix is final."""
    return not isinstance(error, (NotImplementedError, _Refused)) and type(error).__name__ not in (
        "MissingShapeCalculator",
        "MissingConverter",
    )


# -- the batch graph ------------------------------------------------------------

#: Rows per timed predict call at package time: about what the batch engine
#: calls a model with (~2 MiB of float32 input), at most this many.
SPEED_ROWS = 20_000


def batch_graph(
    model: Any, onnx_bytes: bytes, schema: InputSchema, answers: tuple, *, source: str, inputs: str,
    labels_from: str, speed_rows: Callable[[int], Any],
) -> tuple[bytes | None, dict[str, Any]]:
    """What the batch engine scores the compiled model with, and how fast both runtimes are.

    A plain forest's graph is rewritten with its trees in cache-sized blocks
    (:mod:`.tree_blocks`) and kept when it verifies like the graph itself; then
    its bytes are returned, else None (batch uses the serving graph). The
    record::

        {"graph": "blocked" | "serving", "blocks": int, "labels_from": ...,
         "verification": {...},                      # for "blocked" only
         "speed_rows": int,
         "cpu_seconds_per_million_rows": {"onnx": float, "original": float}}

    The speeds are the CPU time of one batch-sized predict call of each runtime
    (best of two) on ``speed_rows(count)``: distinct rows, since repeating a few
    hundred rows lets the CPU learn a forest's branches (scikit-learn's forest
    then looks 2.5x faster than on fresh rows), and a full batch, since a small
    call is mostly scikit-learn's per-call overhead. They are measured here,
    where both runtimes are loaded, so that the batch engine can leave the
    original (and the import of scikit-learn) out of jobs it could not speed up.
    """
    output_kind, classes, rows, _, _ = answers
    chosen, record = onnx_bytes, {"graph": "serving", "labels_from": labels_from}
    blocked = block_trees(onnx_bytes) if inputs == "matrix" else None
    if blocked is not None:
        data, blocks = blocked
        # Its label output is the argmax of double-precision sums: exact on a tie of votes.
        outcome, blocked_labels_from = _verify_graph(data, schema, answers, inputs=inputs, votes_tie=False)
        if "failure" not in outcome:
            chosen = data
            record = {"graph": "blocked", "blocks": blocks, "labels_from": blocked_labels_from,
                      "verification": _verification(outcome, rows, source)}
    graph = CompiledGraph(chosen, schema, classes, labels_from=record["labels_from"], inputs=inputs)
    record.update(_speeds(model, graph, schema, output_kind, speed_rows))
    return (chosen if chosen is not onnx_bytes else None), record


def _speeds(model: Any, graph: CompiledGraph, schema: InputSchema, output_kind: str,
            speed_rows: Callable[[int], Any]) -> dict[str, Any]:
    """``speed_rows`` and ``cpu_seconds_per_million_rows`` of the graph and the original ({} if either fails).

    ``speed_rows(count)`` gives ``count`` rows as the model takes them.
    """
    width = max(1, len(schema.names))
    count = min(SPEED_ROWS, max(1000, (2 << 20) // (4 * width)))
    original = model.predict_proba if output_kind == "probabilities" else model.predict
    runtimes = {"onnx": graph.array_predictor(output_kind), "original": original}
    seconds = {}
    try:
        data = speed_rows(count)
        for name, predict in runtimes.items():
            predict(data[:10])
            best = float("inf")
            for _ in range(2):
                started = time.process_time()
                predict(data)
                best = min(best, time.process_time() - started)
            seconds[name] = round(best / count * 1e6, 3)
    except Exception:  # noqa: BLE001 - a speed is a hint; the verified answers are what count
        return {}
    return {"speed_rows": count, "cpu_seconds_per_million_rows": seconds}


# -- verification -------------------------------------------------------------


def _verify_graph(onnx_bytes: bytes, schema: InputSchema, answers: tuple, *, inputs: str,
                  votes_tie: bool | None = None) -> tuple[dict[str, Any], str]:
    """:func:`verify` with one rule for labels, else with the other; the outcome and the
    ``labels_from`` it holds for.

    ``answers`` is ``(output_kind, classes, rows, labels, values)``. A forest's
    probabilities are vote fractions that tie exactly (20 of 40 trees), where
    scikit-learn's ``argmax`` takes the first class and the graph's float32 sums
    land a few ulps either side: its labels come from the probabilities by
    scikit-learn's rule first (:func:`_votes_tie`). Training rows rarely tie
    (the trees agree on them), so verifying cannot be left to find this out.
    Other graphs try their own label output first (an SVC's label is not the
    argmax of its probabilities). ``votes_tie`` overrides what the graph says
    of itself.
    """
    output_kind, classes, rows, labels, values = answers
    rules = ["label"]
    if classes and values is not None:
        ties = _votes_tie(onnx_bytes) if votes_tie is None else votes_tie
        rules = ["probabilities", "label"] if ties else ["label", "probabilities"]
    outcome: dict[str, Any] = {}
    for rule in rules:
        outcome = verify(onnx_bytes, schema, output_kind, classes, rows, labels, values,
                         labels_from=rule, inputs=inputs)
        if "failure" not in outcome or not outcome.get("label_mismatch"):
            return outcome, rule
    return outcome, rules[-1]


def _votes_tie(onnx_bytes: bytes) -> bool:
    """Whether the graph's probabilities are averaged leaf fractions (a tree or forest
    classifier without a post-transform), which tie exactly."""
    onnx = lazy.load("onnx")
    graph = onnx.load_model_from_string(onnx_bytes).graph
    for node in graph.node:
        if node.op_type == "TreeEnsembleClassifier":
            transform = next((a.s for a in node.attribute if a.name == "post_transform"), b"NONE")
            if transform == b"NONE":
                return True
    return False


def _verification(outcome: dict[str, Any], rows: list, source: str) -> dict[str, Any]:
    return {
        "rows": len(rows),
        "source": source,
        "tolerance": TOLERANCE,
        "max_deviation": outcome["max_deviation"],
        "labels_identical": outcome["labels_identical"],
    }


def verify(
    onnx_bytes: bytes,
    schema: InputSchema,
    output_kind: str,
    classes: list[Any] | None,
    rows: list[list[Any]],
    labels: list[Any] | None,
    values: list[Any] | None,
    *,
    labels_from: str = "label",
    inputs: str = "matrix",
) -> dict[str, Any]:
    """Compare the graph's answers with the original's: ``{"failure": line}`` or the deviations."""
    try:
        graph = CompiledGraph(onnx_bytes, schema, classes, labels_from=labels_from, inputs=inputs)
        got_labels = graph.labels(rows) if labels is not None else None
        got_values = graph.values(rows, output_kind) if values is not None else None
    except Exception as error:  # noqa: BLE001 - onnxruntime's own error types
        return {"failure": f"the graph does not run: {_one_line(error)}"}
    if labels is not None:
        for index, (want, got) in enumerate(zip(labels, got_labels, strict=True)):
            if want != got or type(want) is not type(got):
                return {
                    "failure": f"row {index}: label {got!r} where the model answers {want!r}",
                    "label_mismatch": True,
                }
    deviation = None
    if values is not None:
        deviation = 0.0
        scale = 1.0
        if output_kind == "regression":
            scale = max([1.0] + [abs(v) for want in values for v in _flat(want) if not math.isnan(v)])
        for index, (want, got) in enumerate(zip(values, got_values, strict=True)):
            for a, b in zip(_flat(want), _flat(got), strict=True):
                if math.isnan(a) and math.isnan(b):
                    continue
                gap = abs(a - b) / scale
                if not gap <= TOLERANCE:
                    what = "probability" if output_kind != "regression" else "value"
                    return {"failure": f"row {index}: {what} {b!r} where the model answers {a!r} (tolerance {TOLERANCE})"}
                deviation = max(deviation, gap)
    return {"max_deviation": deviation, "labels_identical": True if labels is not None else None}


def _flat(value: Any) -> list[float]:
    return [float(v) for v in value] if isinstance(value, list) else [float(value)]


def _original_answers(model: Any, schema: InputSchema, output_kind: str, rows: list[list[Any]]):
    """(rows the model accepts, its labels or None, its probabilities/values or None), or a failure line."""
    rows = _accepted_rows(model, schema, rows)
    if not rows:
        return "the model refuses every verification row"
    data = schema.to_model_input(rows)
    labels = values = None
    if output_kind in ("class_labels", "unknown"):
        labels = model.predict(data).tolist()
        if hasattr(model, "predict_proba"):
            try:
                values = model.predict_proba(data).tolist()
            except Exception:  # noqa: BLE001 - e.g. a classifier without probability=True
                values = None
        if labels and isinstance(labels[0], list):
            return "multi-output models are not compiled"
    elif output_kind == "probabilities":
        values = model.predict_proba(data).tolist()
    else:
        values = np.asarray(model.predict(data), dtype=float).tolist()
    return rows, labels, values


def _accepted_rows(model: Any, schema: InputSchema, rows: list[list[Any]]) -> list[list[Any]]:
    """``rows`` minus those the model itself refuses (e.g. a category it has not seen)."""
    try:
        model.predict(schema.to_model_input(rows))
        return rows
    except Exception:  # noqa: BLE001
        pass
    kept = []
    for row in rows:
        try:
            model.predict(schema.to_model_input([row]))
        except Exception:  # noqa: BLE001
            continue
        kept.append(row)
    return kept


def verification_rows(
    model: Any,
    schema: InputSchema,
    *,
    data: Any = None,
    baseline: dict[str, Any] | None = None,
    seed: int = 0,
) -> tuple[list[list[Any]], str]:
    """(rows in schema order, ``"data"`` or ``"generated"``)."""
    if data is not None:
        rows = _data_rows(data, schema, seed)
        if rows:
            return rows, "data"
    return _generated_rows(model, schema, baseline, seed), "generated"


def _data_rows(data: Any, schema: InputSchema, seed: int) -> list[list[Any]]:
    columns = getattr(data, "columns", None)
    if columns is not None:
        if schema.named and all(name in columns for name in schema.names):
            frame = data[schema.names]
        else:
            frame = data
        instances = frame.astype(object).where(frame.notna(), None).to_numpy().tolist()
    elif hasattr(data, "tolist"):
        instances = data.tolist()
    else:
        instances = list(data)
    if len(instances) > MAX_ROWS:
        chosen = np.random.default_rng(seed).choice(len(instances), MAX_ROWS, replace=False)
        instances = [instances[i] for i in sorted(chosen)]
    rows = []
    for instance in instances:
        try:
            rows.extend(schema.rows([instance]))
        except InputError:
            continue  # a training row the server would refuse is no test of the graph
    return rows


def _generated_rows(model: Any, schema: InputSchema, baseline: dict[str, Any] | None, seed: int) -> list[list[Any]]:
    """Rows within the schema (those that pass its checks): baseline ranges and
    categories when known, else a spread of magnitudes."""
    columns = _generated_columns(model, schema, baseline, seed, GENERATED_ROWS)
    rows = [list(values) for values in zip(*columns, strict=True)]
    checked = []
    for row in rows:
        try:
            checked.extend(schema.rows([row]))
        except InputError:
            continue
    return checked


def _generated_columns(model: Any, schema: InputSchema, baseline: dict[str, Any] | None, seed: int,
                       count: int) -> list[list[Any]]:
    rng = np.random.default_rng(seed)
    stats = {f.get("name"): f for f in (baseline or {}).get("features", [])}
    categories = _fitted_categories(model, schema)
    ranges = _fitted_ranges(model, schema)
    return [
        _generate_column(feature, stats.get(feature.name) or ranges.get(feature.name, {}),
                         categories.get(feature.name), rng, count)
        for feature in schema.features
    ]


def _generated_input(model: Any, schema: InputSchema, baseline: dict[str, Any] | None, seed: int, count: int):
    """``count`` generated rows as the model takes them (what ``schema.to_model_input`` gives),
    built column by column: the rows of a speed measurement, not checked one by one (the
    model refusing some makes the measurement fail, which only means no timings)."""
    columns = _generated_columns(model, schema, baseline, seed, count)
    if schema.named:
        return lazy.load("pandas").DataFrame(dict(zip(schema.names, columns, strict=True)))
    return np.column_stack([np.asarray(c, dtype=float if schema.all_numeric else object) for c in columns])


def _generate_column(feature, stat: dict, fitted: list | None, rng, n: int) -> list[Any]:
    if feature.categories is not None or fitted or stat.get("categories"):
        pool = list(feature.categories or fitted or stat.get("categories", {}).keys())
        values: list[Any] = [pool[i] for i in rng.integers(0, len(pool), n)] if pool else ["a"] * n
    elif feature.type in ("number", "integer"):
        if "min" in stat and "max" in stat and stat["min"] is not None:
            low, high = float(stat["min"]), float(stat["max"])
            values = rng.uniform(low, high, n).tolist()
        else:
            magnitude = 10.0 ** rng.uniform(-2, 4, n)
            values = (magnitude * rng.choice([-1.0, 1.0], n)).tolist()
            values[: n // 10] = [0.0] * (n // 10)
        if feature.type == "integer":
            values = [int(round(v)) for v in values]
    elif feature.type == "boolean":
        values = rng.choice([True, False], n).tolist()
    else:
        values = [f"value{i}" for i in rng.integers(0, 5, n)]
    if feature.nullable:
        for index in np.nonzero(rng.random(n) < 0.05)[0]:
            values[index] = None
    return values


def _fitted_ranges(model: Any, schema: InputSchema) -> dict[str, dict[str, float]]:
    """Per-feature ``{"min", "max"}`` the model itself knows: a first scaler's fitted
    statistics, or the split thresholds of a tree model fed the raw features."""
    first = _first_step(model)
    columns: dict[int, list[float]] = {}
    if type(first).__name__ == "ColumnTransformer" and schema.named:
        indices = getattr(first, "_transformer_to_input_indices", {}) or {}
        for name, transformer, _ in getattr(first, "transformers_", []):
            if name in indices and transformer not in ("drop", "passthrough"):
                for position, bounds in _scaler_bounds(_first_step(transformer)).items():
                    if position < len(indices[name]):
                        columns[indices[name][position]] = bounds
    else:
        columns = _scaler_bounds(first)
        trees = [first] if hasattr(first, "tree_") else list(np.ravel(getattr(first, "estimators_", [])))
        for tree in trees:
            structure = getattr(tree, "tree_", None)
            if structure is None:
                continue
            for feature, threshold in zip(structure.feature, structure.threshold, strict=True):
                if feature >= 0:
                    columns.setdefault(int(feature), []).append(float(threshold))
    names = schema.names
    found = {}
    for index, values in columns.items():
        if index < len(names) and values:
            low, high = min(values), max(values)
            margin = 0.1 * (high - low) or 1.0
            found[names[index]] = {"min": low - margin, "max": high + margin}
    return found


def _scaler_bounds(step: Any) -> dict[int, list[float]]:
    mean, scale = getattr(step, "mean_", None), getattr(step, "scale_", None)
    if mean is not None and scale is not None and type(step).__name__ == "StandardScaler":
        return {i: [m - 3 * s, m + 3 * s] for i, (m, s) in enumerate(zip(mean, scale, strict=True))}
    low, high = getattr(step, "data_min_", None), getattr(step, "data_max_", None)
    if low is not None and high is not None:
        return {i: [lo, hi] for i, (lo, hi) in enumerate(zip(low, high, strict=True))}
    return {}


def _fitted_categories(model: Any, schema: InputSchema) -> dict[str, list]:
    """Each encoded column's fitted categories (from a ColumnTransformer's encoders)."""
    first = _first_step(model)
    found: dict[str, list] = {}
    if type(first).__name__ != "ColumnTransformer" or not schema.named:
        return found
    indices = getattr(first, "_transformer_to_input_indices", {}) or {}
    names = schema.names
    for name, transformer, _ in getattr(first, "transformers_", []):
        if name not in indices or transformer in ("drop", "passthrough"):
            continue
        steps = transformer.steps if hasattr(transformer, "steps") else [(name, transformer)]
        for _, step in steps:
            fitted = getattr(step, "categories_", None)
            if fitted is not None and len(fitted) == len(indices[name]):
                for position, index in enumerate(indices[name]):
                    found[names[index]] = list(_category_values(fitted[position]))
    return found


def _one_line(error: BaseException) -> str:
    if type(error).__name__ in ("MissingShapeCalculator", "MissingConverter"):
        import re

        found = re.search(r"type '<class '([\w.]+)'>'", str(error))
        return f"no ONNX converter for {found.group(1).rsplit('.', 1)[-1] if found else 'a step of the model'}"
    text = " ".join(str(error).split())
    if len(text) > 200:
        text = text[:197] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
