"""Turning the shapes users hand us into column chunks.

Training and serving data arrive as an ndarray, a DataFrame, a list of rows (lists
in feature order, or dicts keyed by feature name), or an iterable of such chunks.
:func:`column_chunks` turns any of them into a stream of ``{name: 1-D array}``
dicts, so that statistics code handles exactly one shape.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Iterator, Mapping, Sequence
from os import PathLike
from typing import Any

from cloudeploy import lazy
from cloudeploy.errors import ValidationError

pd = lazy.module("pandas")

np = lazy.module("numpy")

#: One chunk of rows, column by column (numpy arrays); a string so numpy stays unimported.
Chunk = "dict[str, np.ndarray]"

#: Rows gathered into one chunk when data comes row by row.
ROWS_PER_CHUNK = 10_000


def _is_chunk(value: Any) -> bool:
    if isinstance(value, np.ndarray):
        return value.ndim == 2
    return type(value).__name__ == "DataFrame" and hasattr(value, "columns")


def _is_row(value: Any) -> bool:
    return isinstance(value, (Mapping, list, tuple)) or (
        isinstance(value, np.ndarray) and value.ndim == 1
    )


def _positional_names(width: int) -> list[str]:
    return [f"x{i}" for i in range(width)]


def _frame_chunk(frame: Any, names: list[str] | None) -> Chunk:
    columns = [str(c) for c in frame.columns]
    wanted = names or columns
    missing = [n for n in wanted if n not in columns]
    if missing:
        raise ValidationError(
            f"data has no column(s) {', '.join(missing)}; it has {', '.join(columns) or 'none'}"
        )
    by_name = dict(zip(columns, frame.columns, strict=True))
    return {n: _series_array(frame[by_name[n]]) for n in wanted}


def _series_array(series: Any) -> np.ndarray:
    """A column's values; nullable numeric dtypes (``Int64``, ``Float64``) become floats with NaN."""
    dtype = series.dtype
    numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    if isinstance(dtype, pd.api.extensions.ExtensionDtype) and numeric:
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    return series.to_numpy()


def _array_chunk(array: np.ndarray, names: list[str] | None) -> Chunk:
    if array.ndim != 2:
        raise ValidationError(
            f"expected 2-D data (rows x features), got an array of shape {array.shape}"
        )
    names = names or _positional_names(array.shape[1])
    if array.shape[1] != len(names):
        raise ValidationError(
            f"data has {array.shape[1]} columns but {len(names)} features are expected ({', '.join(names)})"
        )
    return {n: array[:, j] for j, n in enumerate(names)}


def _rows_chunk(rows: Sequence[Any], names: list[str] | None) -> Chunk:
    if isinstance(rows[0], Mapping):
        names = names or [str(k) for k in rows[0]]
        try:
            columns = {n: [row[n] for row in rows] for n in names}
        except KeyError as error:
            raise ValidationError(f"a row has no feature {error.args[0]!r}") from None
        return {n: _column_array(values) for n, values in columns.items()}
    width = len(rows[0])
    names = names or _positional_names(width)
    for index, row in enumerate(rows):
        if len(row) != len(names):
            raise ValidationError(
                f"row {index} has {len(row)} values; expected {len(names)} ({', '.join(names)})"
            )
    transposed = list(zip(*rows, strict=True))
    return {n: _column_array(values) for n, values in zip(names, transposed, strict=True)}


def _column_array(values: Sequence[Any]) -> np.ndarray:
    """Numbers as a numpy array of their own kind (None becomes NaN), else objects.

    Integers stay integers, so that a categorical feature sent as ``10115``
    gets the key ``"10115"`` (as the model server's schema coercion gives), not
    ``"10115.0"``; booleans are never turned into numbers.
    """
    first = next((v for v in values if v is not None), None)
    if isinstance(first, (bool, np.bool_)):
        array = np.asarray(values)
        if array.ndim == 1 and array.dtype.kind == "b":
            return array
    elif not isinstance(first, (str, bytes)):
        try:
            array = np.asarray(values)
        except (TypeError, ValueError):
            array = None
        if array is not None and array.ndim == 1 and array.dtype.kind in "iuf":
            return array
        mixed = array is not None and array.ndim == 1 and array.dtype.kind == "O"
        if mixed and not any(isinstance(v, (bool, np.bool_)) for v in values):
            try:
                return np.asarray(values, dtype=np.float64)
            except (TypeError, ValueError):
                pass
    objects = np.empty(len(values), dtype=object)
    objects[:] = list(values)
    return objects


def to_chunk(data: Any, names: list[str] | None = None) -> Chunk:
    """One chunk (DataFrame, 2-D array, or a non-empty list of rows) as ``{name: column}``."""
    if _is_chunk(data):
        return (
            _frame_chunk(data, names)
            if not isinstance(data, np.ndarray)
            else _array_chunk(data, names)
        )
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        if len(data) == 0:
            return {}
        if not _is_row(data[0]):
            raise ValidationError(f"expected rows (lists or dicts), got {type(data[0]).__name__}")
        return _rows_chunk(data, names)
    raise ValidationError(
        f"expected a DataFrame, a 2-D array or a list of rows, got {type(data).__name__}"
    )


def column_chunks(data: Any, names: list[str] | None = None) -> Iterator[Chunk]:
    """Stream ``data`` as column chunks; see the module docstring for accepted shapes.

    Rows streamed one by one are gathered into chunks of :data:`ROWS_PER_CHUNK`.
    """
    if isinstance(data, (str, bytes, PathLike)):
        raise ValidationError(
            f"got a path ({data!s}) where data was expected",
            hint="read CSV files with baseline_from_csv, capture files with capture_histograms",
        )
    if _is_chunk(data):
        yield to_chunk(data, names)
        return
    if isinstance(data, np.ndarray):
        raise ValidationError(
            f"expected 2-D data (rows x features), got an array of shape {data.shape}"
        )
    if isinstance(data, Sequence) and data and _is_row(data[0]) and not _is_chunk(data[0]):
        for start in range(0, len(data), ROWS_PER_CHUNK):
            yield to_chunk(data[start : start + ROWS_PER_CHUNK], names)
        return
    if not isinstance(data, Iterable):
        raise ValidationError(
            f"expected a DataFrame, an array, a list of rows or an iterable of chunks, got {type(data).__name__}"
        )
    pending: list[Any] = []
    for item in data:
        if _is_row(item) and not _is_chunk(item):
            pending.append(item)
            if len(pending) >= ROWS_PER_CHUNK:
                yield to_chunk(pending, names)
                pending = []
            continue
        if pending:
            yield to_chunk(pending, names)
            pending = []
        yield to_chunk(item, names)
    if pending:
        yield to_chunk(pending, names)


def is_numeric_column(column: np.ndarray) -> bool:
    """True when every non-missing value is a real number (booleans are not)."""
    kind = column.dtype.kind
    if kind in "fiu":
        return True
    if kind != "O":
        return False
    return all(
        v is None or (isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)))
        for v in column
    )


def as_float(column: np.ndarray, feature: str) -> np.ndarray:
    """A numerical column as float64 (None becomes NaN); anything else is refused."""
    if column.dtype.kind in "fiu":
        return column.astype(np.float64, copy=False)
    try:
        return np.asarray(column, dtype=np.float64)
    except (TypeError, ValueError):
        bad = next(v for v in column if not _is_number(v))
        raise ValidationError(
            f"feature {feature!r} is numerical but has the value {bad!r}"
        ) from None


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return value is not None


def category_keys(column: np.ndarray) -> tuple[np.ndarray, int]:
    """Category keys (``str(value)``) of a column and the number of missing values.

    None, NaN and pandas' NA are missing. ``str`` is what the model server's schema
    coercion produces for string features, so training and serving keys agree.
    """
    series = pd.Series(column, dtype=object)
    present = series.notna().to_numpy()
    keys = series[present].astype(str).to_numpy(dtype=object)
    return keys, int((~present).sum())
