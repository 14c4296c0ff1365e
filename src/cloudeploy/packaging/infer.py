"""What a fitted scikit-learn model tells us: its input schema, output kind and classes.

Names come from ``feature_names_in_`` (the model then expects a DataFrame) or
are ``x0..x{n-1}`` from ``n_features_in_``. Every feature is a ``number`` unless
a ``ColumnTransformer`` routes it to a ``OneHotEncoder``/``OrdinalEncoder``: then
it is categorical, typed by the encoder's categories (``string`` for text
categories, ``integer``/``number``/``boolean`` for numeric ones, so that the
values the server passes on match the categories); when the encoder refuses
unknown values, its fitted categories are recorded as the only ones accepted.
Columns routed through an imputer are nullable. An explicit schema always wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cloudeploy import lazy
from cloudeploy.errors import PackageError, ValidationError
from cloudeploy.packaging.schema import Feature, InputSchema

pd = lazy.module("pandas")
sklearn_base = lazy.module("sklearn.base")
sklearn_exceptions = lazy.module("sklearn.exceptions")
sklearn_validation = lazy.module("sklearn.utils.validation")

FEATURE_TYPES = ("number", "integer", "string", "boolean")
OUTPUT_KINDS = ("class_labels", "probabilities", "regression")
_ENCODERS = ("OneHotEncoder", "OrdinalEncoder")
_IMPUTERS = ("SimpleImputer", "KNNImputer", "IterativeImputer", "MissingIndicator")


def check_fitted(model: Any) -> None:
    """Raise PackageError for an object that is not a fitted estimator."""
    if not hasattr(model, "predict"):
        raise PackageError(
            f"{type(model).__name__} has no predict(): not a model cloudeploy can serve"
        )
    try:
        sklearn_validation.check_is_fitted(model)
    except sklearn_exceptions.NotFittedError:
        raise PackageError(
            f"{type(model).__name__} is not fitted: call fit() before packaging"
        ) from None
    except TypeError:
        pass  # not a scikit-learn estimator; predict() is all we need


def infer_schema(
    model: Any, given: InputSchema | Sequence[str] | Mapping[str, str] | None = None
) -> InputSchema:
    """The input schema for ``model``; ``given`` (names, {name: type} or a schema) wins."""
    names = getattr(model, "feature_names_in_", None)
    model_names = [str(n) for n in names] if names is not None else None
    n_features = getattr(model, "n_features_in_", None)
    if given is not None:
        return _explicit_schema(given, model_names, n_features)
    if model_names is not None:
        types, nullable, categories = _column_types(model, model_names)
        features = tuple(
            Feature(
                name,
                types.get(name, "number"),
                nullable=name in nullable,
                categories=categories.get(name),
            )
            for name in model_names
        )
        return InputSchema(features=features, named=True)
    if isinstance(n_features, int):
        schema = InputSchema.positional(n_features)
        if _all_imputed(model):
            schema = InputSchema(
                tuple(Feature(f.name, f.type, True) for f in schema.features), named=False
            )
        return schema
    raise PackageError(
        f"cannot infer the input schema of {type(model).__name__}: it has neither "
        "feature_names_in_ nor n_features_in_",
        hint="pass schema=[...] (CLI --feature-names a,b,c)",
    )


def _explicit_schema(given: Any, model_names: list[str] | None, n_features: Any) -> InputSchema:
    if isinstance(given, InputSchema):
        features = list(given.features)
    elif isinstance(given, Mapping):
        features = [Feature(str(name), _feature_type(name, kind)) for name, kind in given.items()]
    elif isinstance(given, Sequence) and not isinstance(given, (str, bytes)):
        features = [Feature(str(name)) for name in given]
    else:
        raise ValidationError(
            f"schema must be an InputSchema, a list of feature names or a dict name -> type, got {type(given).__name__}"
        )
    if not features:
        raise ValidationError("schema has no features")
    names = [f.name for f in features]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValidationError(f"schema names features more than once: {', '.join(duplicates)}")
    if model_names is not None:
        missing = [n for n in model_names if n not in names]
        unknown = [n for n in names if n not in model_names]
        if missing or unknown:
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing)}")
            if unknown:
                parts.append(f"unknown {', '.join(unknown)}")
            raise ValidationError(
                f"schema does not match the features the model was fitted on ({'; '.join(parts)})",
                hint=f"the model expects: {', '.join(model_names)}",
            )
        by_name = {f.name: f for f in features}
        # The model wants its columns in fit order, whatever order was given.
        return InputSchema(features=tuple(by_name[n] for n in model_names), named=True)
    if isinstance(n_features, int) and n_features != len(features):
        raise ValidationError(
            f"schema has {len(features)} features but the model takes {n_features}"
        )
    named = given.named if isinstance(given, InputSchema) else False
    return InputSchema(features=tuple(features), named=named)


def _feature_type(name: Any, kind: Any) -> str:
    if kind in (float, int, str, bool):
        kind = {float: "number", int: "integer", str: "string", bool: "boolean"}[kind]
    if kind not in FEATURE_TYPES:
        raise ValidationError(
            f"feature {name!r}: unknown type {kind!r}; expected one of {', '.join(FEATURE_TYPES)}"
        )
    return kind


def _first_step(model: Any) -> Any:
    while type(model).__name__ == "Pipeline" and getattr(model, "steps", None):
        model = model.steps[0][1]
    return model


def _all_imputed(model: Any) -> bool:
    return type(_first_step(model)).__name__ in _IMPUTERS


def _column_types(
    model: Any, names: list[str]
) -> tuple[dict[str, str], set[str], dict[str, tuple]]:
    """Per-column types, nullable columns and accepted categories implied by the model's first step.

    Categories are recorded only for an encoder that refuses unknown values
    (``handle_unknown="error"``) and sees the client's values as sent (nothing
    but imputers before it): any other value is then a certain error.
    """
    first = _first_step(model)
    if type(first).__name__ in _IMPUTERS:
        return {}, set(names), {}
    if type(first).__name__ != "ColumnTransformer" or not hasattr(first, "transformers_"):
        return {}, set(), {}
    types: dict[str, str] = {}
    nullable: set[str] = set()
    categories: dict[str, tuple] = {}
    indices = getattr(first, "_transformer_to_input_indices", {}) or {}
    for name, transformer, _columns in first.transformers_:
        if transformer in ("drop", "passthrough") or name not in indices:
            continue
        columns = [names[i] for i in indices[name]]
        steps = (
            transformer.steps if type(transformer).__name__ == "Pipeline" else [(name, transformer)]
        )
        values_as_sent = True
        for _, step in steps:
            kind = type(step).__name__
            if kind in _IMPUTERS:
                nullable.update(columns)
                # An imputer fills gaps but keeps present values; a missing indicator replaces them.
                values_as_sent = values_as_sent and kind != "MissingIndicator"
            elif kind in _ENCODERS:
                fitted = getattr(step, "categories_", None)
                refuses_unknown = getattr(step, "handle_unknown", "error") == "error"
                for position, column in enumerate(columns):
                    if fitted is not None and len(fitted) == len(columns):
                        values = _category_values(fitted[position])
                        types[column] = _category_type(fitted[position], values)
                        if values_as_sent and refuses_unknown:
                            categories[column] = values
                    else:
                        types[column] = "string"
                break
            else:
                values_as_sent = False
    return types, nullable, categories


def _category_values(fitted: Any) -> tuple:
    """The fitted categories as JSON scalars, missing-value categories left out (nullable covers them)."""
    values = fitted.tolist() if hasattr(fitted, "tolist") else list(fitted)
    return tuple(
        value.item() if hasattr(value, "item") else value for value in values if not pd.isna(value)
    )


def _category_type(fitted: Any, values: tuple) -> str:
    kind = getattr(getattr(fitted, "dtype", None), "kind", "O")
    if kind == "O" and values:
        # An object column holding numbers or booleans: type it by its values, so that
        # what the server passes on (and the categories it lists) compare equal to them.
        if all(isinstance(v, bool) for v in values):
            kind = "b"
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            kind = "i"
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            kind = "f"
    return {"i": "integer", "u": "integer", "f": "number", "b": "boolean"}.get(kind, "string")


def infer_output_kind(model: Any, requested: str | None) -> str:
    """``requested`` checked against the model, else class labels or regression values."""
    if requested is not None:
        if requested not in OUTPUT_KINDS:
            raise ValidationError(
                f"unknown output kind {requested!r}; expected one of {', '.join(OUTPUT_KINDS)}"
            )
        if requested == "probabilities" and not hasattr(model, "predict_proba"):
            raise ValidationError(
                f"{type(model).__name__} has no predict_proba(): it cannot output probabilities"
            )
        return requested
    if _is_classifier(model):
        return "class_labels"
    if _is_regressor(model):
        return "regression"
    return "unknown"


def _is_classifier(model: Any) -> bool:
    try:
        return bool(sklearn_base.is_classifier(model)) or hasattr(model, "classes_")
    except Exception:  # noqa: BLE001 - foreign objects may fail sklearn's tag lookup
        return hasattr(model, "classes_")


def _is_regressor(model: Any) -> bool:
    try:
        return bool(sklearn_base.is_regressor(model))
    except Exception:  # noqa: BLE001
        return False


def infer_classes(model: Any) -> list[Any] | None:
    """The class labels as JSON values, for classifiers."""
    classes = getattr(model, "classes_", None)
    if classes is None:
        return None
    values = classes.tolist() if hasattr(classes, "tolist") else list(classes)
    if values and isinstance(values[0], list):
        return None  # multi-output classifiers: one label set per output
    return values
