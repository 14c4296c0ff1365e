"""Histograms of serving data on a baseline's bins, accumulated chunk by chunk.

Numerical values are counted on the baseline's equal-width edges with
numpy's convention (bins closed on the left, the last one closed on both
sides); values below the first edge go into the first bin and values above the
last edge into the last bin, so out-of-range traffic shows up as mass in the
edge bins. Categorical values are counted exactly by ``str(value)``. Missing
values (None, NaN) are counted apart and never enter a histogram.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cloudeploy import lazy
from cloudeploy.errors import ValidationError
from cloudeploy.monitoring.baseline import baseline_features
from cloudeploy.monitoring.columns import category_keys, column_chunks

pd = lazy.module("pandas")

np = lazy.module("numpy")


@dataclass(frozen=True)
class CategoryCounts:
    """A categorical column already counted: ``{key: count}`` plus missing values."""

    counts: dict[str, int]
    missing: int = 0

    def __len__(self) -> int:
        return sum(self.counts.values()) + self.missing


class FeatureHistogram:
    """Counts of one feature: ``counts`` (numerical bins) or ``categories`` (key -> count)."""

    def __init__(self, entry: dict[str, Any]) -> None:
        self.name: str = entry["name"]
        self.kind: str = entry["type"]
        self.missing = 0
        if self.kind == "numerical":
            self.edges = np.asarray(entry["bin_edges"], dtype=np.float64)
            self._inner = self.edges[1:-1]
            self.counts = np.zeros(len(self.edges) - 1, dtype=np.int64)
            widths = np.diff(self.edges)
            self._equal_width = bool(widths.size) and bool(
                np.all(widths > 0) and np.allclose(widths, widths[0], rtol=1e-9, atol=0)
            )
        else:
            self.categories: Counter[str] = Counter()

    def add(self, column: np.ndarray | CategoryCounts) -> None:
        if isinstance(column, CategoryCounts):
            self.categories.update(column.counts)
            self.missing += column.missing
        elif self.kind == "numerical":
            self.add_numbers(column)
        else:
            self.add_categories(column)

    def add_numbers(self, values: np.ndarray) -> None:
        """Count numerical values; strings that are not numbers count as missing."""
        if values.dtype.kind not in "fiu":
            values = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(
                np.float64
            )
        values = values.astype(np.float64, copy=False)
        nan = np.isnan(values)
        if nan.any():
            self.missing += int(nan.sum())
            values = values[~nan]
        if self._equal_width:
            bins = self._equal_width_bins(values)
        else:
            bins = np.searchsorted(self._inner, values, side="right")
        self.counts += np.bincount(bins, minlength=self.counts.size)

    def _equal_width_bins(self, values: np.ndarray) -> np.ndarray:
        """``searchsorted(inner_edges, values, "right")`` by arithmetic, as numpy's histogram does.

        The estimate can be off by one bin only for values within rounding of an
        edge (a relative error far below 1e-6 of a bin); only those are compared
        with the stored edges and corrected, so counts are exact on the edges
        and the bulk of the values costs five passes and no gather.
        """
        edges, last = self.edges, self.counts.size - 1
        position = values - edges[0]
        position *= self.counts.size / (edges[-1] - edges[0])
        np.clip(position, 0.0, np.nextafter(float(self.counts.size), 0.0), out=position)
        bins = position.astype(np.intp)
        position -= bins
        near = np.flatnonzero((position < 1e-6) | (position > 1.0 - 1e-6))
        if near.size:
            value, estimate = values[near], bins[near]
            estimate -= (value < edges[estimate]) & (estimate > 0)
            estimate += (value >= edges[estimate + 1]) & (estimate < last)
            bins[near] = estimate
        return bins

    def add_categories(self, column: np.ndarray) -> None:
        keys, missing = category_keys(column)
        self.missing += missing
        if keys.size:
            values, counts = np.unique(keys.astype(str), return_counts=True)
            self.categories.update(dict(zip(values.tolist(), counts.tolist(), strict=True)))

    @property
    def count(self) -> int:
        if self.kind == "numerical":
            return int(self.counts.sum())
        return sum(self.categories.values())

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "type": self.kind,
            "count": self.count,
            "missing": self.missing,
        }
        if self.kind == "numerical":
            data.update(bin_edges=self.edges.tolist(), bin_counts=self.counts.tolist())
        else:
            data["categories"] = dict(self.categories.most_common())
        return data


class HistogramSet:
    """Serving histograms of several features on one baseline's bins.

    ``features`` limits it to a subset (in baseline order); unknown names are refused.
    ``rows`` counts the rows seen.
    """

    def __init__(self, baseline: dict[str, Any], features: Iterable[str] | None = None) -> None:
        entries = baseline_features(baseline)
        known = [e["name"] for e in entries]
        if features is not None:
            wanted = list(features)
            unknown = [f for f in wanted if f not in known]
            if unknown:
                raise ValidationError(
                    f"unknown feature(s) {', '.join(unknown)}; the baseline has {', '.join(known)}"
                )
            entries = [e for e in entries if e["name"] in set(wanted)]
        self.histograms: dict[str, FeatureHistogram] = {
            e["name"]: FeatureHistogram(e) for e in entries
        }
        self.rows = 0

    @property
    def names(self) -> list[str]:
        return list(self.histograms)

    def __getitem__(self, name: str) -> FeatureHistogram:
        return self.histograms[name]

    def add_chunk(self, chunk: dict[str, np.ndarray | CategoryCounts]) -> None:
        """Count a ``{name: column}`` chunk holding (at least) every feature of the set."""
        missing = [n for n in self.histograms if n not in chunk]
        if missing:
            raise ValidationError(f"serving data has no feature(s) {', '.join(missing)}")
        for name, histogram in self.histograms.items():
            histogram.add(chunk[name])
        if chunk:
            self.rows += len(next(iter(chunk.values())))

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "features": [h.to_dict() for h in self.histograms.values()]}


def serving_histograms(
    rows: Any, baseline: dict[str, Any], *, features: Iterable[str] | None = None
) -> HistogramSet:
    """Histograms of serving ``rows`` on ``baseline``'s bins, in one streaming pass.

    ``rows`` is anything :func:`~cloudeploy.monitoring.columns.column_chunks`
    accepts: rows in the baseline's feature order or dicts keyed by feature name,
    arrays, DataFrames, or an iterable of chunks.
    """
    histograms = HistogramSet(baseline, features)
    names = [e["name"] for e in baseline_features(baseline)]
    for chunk in column_chunks(rows, names):
        histograms.add_chunk(chunk)
    return histograms
