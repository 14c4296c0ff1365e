"""Vectorised checks of a chunk's feature columns, and the model input built from them.

The hot path works on whole columns with numpy masks: a column that parsed as
numbers costs a null check and an ``isinf``; only a column that held text is
parsed value by value (by pandas, in C). Messages are built only for the rows
that fail, so a clean chunk never loops in Python.

The rules are those of :class:`~cloudeploy.packaging.InputSchema`, which the
model server applies to requests: a missing value (null, empty, NaN) is refused
unless the feature is nullable, numeric features must parse as finite numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from cloudeploy.packaging.schema import Feature, InputSchema

from cloudeploy import lazy

np = lazy.module("numpy")
pa = lazy.module("pyarrow")
pd = lazy.module("pandas")

NUMERIC = ("number", "integer")


@dataclass
class CheckedChunk:
    """``model_input`` holds the rows where ``ok`` is true; ``failures`` maps the others to a reason."""

    ok: Any
    model_input: Any
    failures: dict[int, str]


def check_rows(table: pa.Table, columns: list[str], schema: InputSchema) -> CheckedChunk:
    """Check ``table``'s ``columns`` (one per schema feature, in order) and build the model input.

    ``failures`` maps a row index of ``table`` to the first problem found in it,
    in feature order.
    """
    n = table.num_rows
    ok = np.ones(n, dtype=bool)
    failures: dict[int, str] = {}
    values: list[Any] = []
    for column, feature in zip(columns, schema.features, strict=True):
        if feature.type in NUMERIC:
            array, problems = _numeric(table.column(column), column, feature)
        else:
            array, problems = _other(table.column(column), column, feature)
        values.append(array)
        for mask, describe in problems:
            fresh = mask & ok
            if fresh.any():
                for row in np.flatnonzero(fresh):
                    failures[int(row)] = describe(int(row))
                ok &= ~mask
    kept = values if not failures else [v[ok] for v in values]  # a clean chunk is not copied again
    return CheckedChunk(ok, _model_input(kept, schema), failures)


def _numeric(column: pa.ChunkedArray, name: str, feature: Feature):
    problems = []
    nulls = column.is_null().to_numpy(zero_copy_only=False) if column.null_count else np.zeros(len(column), bool)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        try:
            # A column carried as text as well (carry '*') usually parses whole, in C, like the CSV reader's.
            return _numeric(column.cast(pa.float64()), name, feature)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        raw = column.to_numpy(zero_copy_only=False)
        values = pd.to_numeric(pd.Series(raw, dtype=object), errors="coerce").to_numpy(dtype=float)
        unparsed = np.isnan(values) & ~nulls
        problems.append(
            (unparsed, lambda row: f"feature {name!r} must be a number, got {raw[row]!r}")
        )
    elif pa.types.is_boolean(column.type):
        values = column.fill_null(False).to_numpy(zero_copy_only=False).astype(float)
    elif pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_null(column.type):
        values = column.to_numpy(zero_copy_only=False).astype(float, copy=False)
    else:
        values = np.full(len(column), np.nan)
        problems.append(
            (~nulls, lambda row: f"feature {name!r} must be a number, got {column.type}")
        )
    missing = nulls | np.isnan(values)
    if not feature.nullable:
        problems.insert(0, (nulls, lambda row: f"feature {name!r} is missing a value (null/empty)"))
        problems.append((missing, lambda row: f"feature {name!r} is NaN"))
    problems.append((np.isinf(values), lambda row: f"feature {name!r} is infinite"))
    if feature.type == "integer":
        fractional = ~missing & ~np.isinf(values) & (np.floor(np.nan_to_num(values)) != np.nan_to_num(values))
        problems.append((fractional, lambda row: f"feature {name!r} must be a whole number, got {values[row]!r}"))
    return values, problems


def _other(column: pa.ChunkedArray, name: str, feature: Feature):
    values = column.to_numpy(zero_copy_only=False).astype(object)
    nulls = column.is_null().to_numpy(zero_copy_only=False)
    problems = []
    if not feature.nullable:
        problems.append((nulls, lambda row: f"feature {name!r} is missing a value (null/empty)"))
    if feature.type == "boolean":
        lowered = np.array([str(v).lower() if v is not None else "" for v in values], dtype=object)
        truthy = np.isin(lowered, ["true", "1"])
        valid = truthy | np.isin(lowered, ["false", "0"])
        problems.append((~valid & ~nulls, lambda row: f"feature {name!r} must be true or false, got {values[row]!r}"))
        values = truthy
    else:
        values = np.array([None if v is None else str(v) for v in values], dtype=object)
    return values, problems


def _model_input(columns: list[Any], schema: InputSchema):
    """What the model's predict takes: a DataFrame for named schemas, else an array."""
    if schema.named:
        return pd.DataFrame(dict(zip(schema.names, columns, strict=True)), columns=schema.names)
    if all(f.type in NUMERIC for f in schema.features):
        if not columns:
            return np.empty((0, 0))
        return np.column_stack(columns) if columns[0].size else np.empty((0, len(columns)))
    return np.column_stack([c.astype(object) for c in columns])
