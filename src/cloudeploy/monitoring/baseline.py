"""Training baselines: per-feature statistics stored in the package manifest.

``compute_baseline(X_train)`` reads the data once, chunk by chunk, and returns a
JSON-ready dict that goes into ``Manifest.baseline``::

    {"format": "cloudeploy-baseline/1", "rows": 1000, "bins": 20,
     "features": [
       {"name": "age", "type": "numerical", "count": 990, "missing": 10,
        "min": 18.0, "max": 90.0, "mean": 41.2, "std": 12.9,
        "quantiles": {"0.01": ..., "0.5": ..., "0.99": ...},
        "bin_edges": [...21 floats...], "bin_counts": [...20 ints...]},
       {"name": "city", "type": "categorical", "count": 1000, "missing": 0,
        "categories": {"Berlin": 410, "Paris": 350, ...}, "other": 0}]}

Numerical bins are equal-width and exact: see :mod:`cloudeploy.monitoring.grid`
for how one streaming pass gets exact counts without knowing the range first.
The edges cover ``[min, max]`` (they may reach a little beyond, by less than ~1%
of a bin). Numerical values must be finite and within ±1e100; NaN and None are
counted as missing. Categorical features keep the ``max_categories`` most frequent values;
the rest are summed in ``"other"`` (and serving values outside the kept ones are
then compared against that bucket). ``count`` excludes missing values.

Feature types come from the schema (number/integer are numerical,
string/boolean categorical) or, without one, from the data: columns whose
values are all real numbers are numerical, everything else categorical.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cloudeploy import lazy
from cloudeploy.errors import ValidationError
from cloudeploy.monitoring.columns import as_float, category_keys, column_chunks, is_numeric_column
from cloudeploy.monitoring.grid import CELLS_PER_BIN, GridHistogram

if TYPE_CHECKING:
    from cloudeploy.packaging.schema import InputSchema

np = lazy.module("numpy")
pd = lazy.module("pandas")

BASELINE_FORMAT = "cloudeploy-baseline/1"
QUANTILES = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]
OTHER = "__other__"

FeatureKind = Literal["numerical", "categorical"]


def kind_of_schema_type(schema_type: str) -> FeatureKind:
    return "numerical" if schema_type in ("number", "integer") else "categorical"


class _CategoryCounter:
    def __init__(self, name: str) -> None:
        self.name = name
        self.counts: Counter[str] = Counter()
        self.missing = 0

    def add(self, column) -> None:
        keys, missing = category_keys(column)
        self.missing += missing
        if keys.size:
            values, counts = np.unique(keys.astype(str), return_counts=True)
            self.counts.update(dict(zip(values.tolist(), counts.tolist(), strict=True)))

    def summary(self, max_categories: int) -> dict[str, Any]:
        ranked = sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        kept = dict(ranked[:max_categories])
        return {
            "name": self.name,
            "type": "categorical",
            "count": sum(self.counts.values()),
            "missing": self.missing,
            "categories": kept,
            "other": sum(count for _, count in ranked[max_categories:]),
        }


class BaselineBuilder:
    """Accumulates baseline statistics chunk by chunk; :meth:`result` gives the dict.

    ``names`` and ``kinds`` fix the features; when ``kinds`` is None they are
    inferred from the first chunk and later chunks must agree.
    """

    def __init__(
        self,
        names: list[str] | None = None,
        kinds: dict[str, FeatureKind] | None = None,
        *,
        bins: int = 20,
        max_categories: int = 100,
    ) -> None:
        if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= 1000:
            raise ValidationError(f"bins must be an integer from 1 to 1000, got {bins!r}")
        if (
            isinstance(max_categories, bool)
            or not isinstance(max_categories, int)
            or max_categories < 1
        ):
            raise ValidationError(
                f"max_categories must be a positive integer, got {max_categories!r}"
            )
        self.names = names
        self.kinds = kinds
        self.bins = bins
        self.max_categories = max_categories
        self.rows = 0
        self._accumulators: dict[str, Any] = {}

    def add(self, chunk: dict[str, Any]) -> None:
        if not chunk:
            return
        if self.names is None:
            self.names = list(chunk)
        if self.kinds is None:
            self.kinds = {
                n: "numerical" if is_numeric_column(chunk[n]) else "categorical" for n in self.names
            }
        if not self._accumulators:
            for name in self.names:
                self._accumulators[name] = (
                    GridHistogram(name, cells=CELLS_PER_BIN * self.bins)
                    if self.kinds[name] == "numerical"
                    else _CategoryCounter(name)
                )
        for name in self.names:
            accumulator = self._accumulators[name]
            column = chunk[name]
            if self.kinds[name] == "numerical":
                accumulator.add(as_float(column, name))
            else:
                accumulator.add(column)
        self.rows += len(chunk[self.names[0]])

    def result(self) -> dict[str, Any]:
        if self.rows == 0 or not self.names:
            raise ValidationError("the baseline data is empty: it needs at least one row")
        return {
            "format": BASELINE_FORMAT,
            "rows": self.rows,
            "bins": self.bins,
            "features": [self._feature_summary(name) for name in self.names],
        }

    def _feature_summary(self, name: str) -> dict[str, Any]:
        accumulator = self._accumulators[name]
        if isinstance(accumulator, _CategoryCounter):
            return accumulator.summary(self.max_categories)
        if accumulator.count == 0:
            raise ValidationError(
                f"feature {name!r} has no values in the baseline data (all missing)"
            )
        edges, counts = accumulator.coarsen(self.bins)
        return {
            "name": name,
            "type": "numerical",
            "count": accumulator.count,
            "missing": accumulator.missing,
            "min": accumulator.min,
            "max": accumulator.max,
            "mean": accumulator.mean,
            "std": accumulator.std,
            "quantiles": accumulator.quantiles(QUANTILES),
            "bin_edges": edges,
            "bin_counts": counts,
        }


def _schema_layout(
    schema: InputSchema | None,
) -> tuple[list[str] | None, dict[str, FeatureKind] | None]:
    if schema is None:
        return None, None
    names = schema.names
    if not names:
        raise ValidationError("the schema has no features")
    return names, {f.name: kind_of_schema_type(f.type) for f in schema.features}


def compute_baseline(
    data: Any,
    schema: InputSchema | None = None,
    *,
    bins: int = 20,
    max_categories: int = 100,
) -> dict[str, Any]:
    """Per-feature training statistics of ``data`` in one streaming pass.

    ``data`` is an ndarray, a DataFrame, a list of rows, or an iterable of such
    chunks. With a ``schema`` its feature names and types are used (DataFrame
    columns are selected by name); without one, names come from DataFrame
    columns or dict keys (else ``x0 .. x{n-1}``) and types from the values.
    Returns the JSON-ready dict described in the module docstring; the same data
    chunked differently gives the same dict (up to float round-off in mean/std).
    """
    names, kinds = _schema_layout(schema)
    builder = BaselineBuilder(names, kinds, bins=bins, max_categories=max_categories)
    for chunk in column_chunks(data, names):
        builder.add(chunk)
    return builder.result()


def baseline_from_csv(
    path: str | Path,
    schema: InputSchema | None = None,
    *,
    chunk_rows: int = 100_000,
    bins: int = 20,
    max_categories: int = 100,
) -> dict[str, Any]:
    """:func:`compute_baseline` of a CSV file with a header row, read ``chunk_rows`` at a time.

    With a schema only its columns are read, numerical ones as floats and
    categorical ones as strings; memory stays bounded by one chunk.
    """
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"baseline file {path} does not exist")
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise ValidationError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
    names, kinds = _schema_layout(schema)
    options: dict[str, Any] = {"chunksize": chunk_rows}
    if names is not None and kinds is not None:
        header = pd.read_csv(path, nrows=0).columns.astype(str).tolist()
        missing = [n for n in names if n not in header]
        if missing:
            raise ValidationError(
                f"{path} has no column(s) {', '.join(missing)}; it has {', '.join(header)}"
            )
        options["usecols"] = names
        options["dtype"] = {n: "float64" if kinds[n] == "numerical" else "string" for n in names}
    try:
        reader: Iterable[Any] = pd.read_csv(path, **options)
        builder = BaselineBuilder(names, kinds, bins=bins, max_categories=max_categories)
        for frame in reader:
            builder.add(
                {n: frame[n].to_numpy() for n in (names or [str(c) for c in frame.columns])}
            )
    except (ValueError, pd.errors.ParserError) as error:
        raise ValidationError(f"cannot read {path} as CSV: {error}") from None
    return builder.result()


def baseline_features(baseline: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-feature entries of a baseline dict, checked for the fields monitoring needs."""
    if not isinstance(baseline, dict) or not isinstance(baseline.get("features"), list):
        raise ValidationError(
            "the baseline is not a cloudeploy baseline (no 'features' list)",
            hint="compute one with compute_baseline(X_train) or `cloudeploy package --baseline train.csv`",
        )
    features = baseline["features"]
    for entry in features:
        name = entry.get("name") if isinstance(entry, dict) else None
        kind = entry.get("type") if isinstance(entry, dict) else None
        needed = {"numerical": ("bin_edges", "bin_counts"), "categorical": ("categories",)}.get(
            kind
        )
        if name is None or needed is None or any(k not in entry for k in needed):
            raise ValidationError(f"baseline feature entry {entry!r} is malformed")
        if kind == "numerical" and len(entry["bin_edges"]) != len(entry["bin_counts"]) + 1:
            raise ValidationError(
                f"baseline feature {name!r}: bin_edges must have one more entry than bin_counts"
            )
    return features
