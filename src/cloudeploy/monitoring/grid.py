"""An exact, chunk-order-independent histogram built in one streaming pass.

Equal-width bins need the range first, and a second pass over a large training
set is not allowed. Instead each numerical feature is counted on a *fine grid*
of power-of-two-wide cells anchored at zero: cell ``k`` at exponent ``e`` holds
``[k·2^e, (k+1)·2^e)``. Finding a value's cell is ``floor(ldexp(x, -e))`` — exact
in floating point, so no value ever lands on the wrong side of an edge.

The exponent is the smallest one whose grid covers the running ``[min, max]``
with at most ``cells`` cells. When a chunk widens the range the exponent grows
and cells merge pairwise (``k -> k >> d``), which keeps every count exact. The
final exponent depends only on the overall min and max, so the counts come out
the same however the data was chunked: streaming equals in-memory, bit for bit.

:meth:`GridHistogram.coarsen` then groups whole cells into ``bins`` equal-width
bins: the bin edges are cell edges (so the coarse counts are exact), they cover
``[min, max]``, and any slack — less than ``bins`` cells, about 1% of one bin at
the default resolution — is split evenly beyond both ends. Quantiles are read
from the fine grid, accurate to one cell (``(max - min) / cells`` or better).
"""

from __future__ import annotations

import math

from cloudeploy import lazy
from cloudeploy.errors import ValidationError

np = lazy.module("numpy")

#: Cells per output bin. 2048 keeps the slack under ~1% of a bin at 16 KB per bin.
CELLS_PER_BIN = 2048
#: The grid is never finer than 2^-50 of the largest magnitude, which keeps cell
#: indices exact in float64 (< 2^51) and gives constant features a finite grid.
_RELATIVE_RESOLUTION_BITS = 50
#: Cell edges k·2^e must be representable: 2^-1074 is the smallest float64 step.
_SMALLEST_EXPONENT = -1074
#: Far below the float64 maximum, so that bin edges beyond the data and sums of squares stay finite.
_LARGEST_MAGNITUDE = 1e100


def _cell(value: float, exponent: int) -> int:
    """``floor(value / 2^exponent)``; a negative value whose quotient underflows is in cell -1."""
    cell = math.floor(math.ldexp(value, -exponent))
    return -1 if cell == 0 and value < 0 else cell


def _cells(values: np.ndarray, exponent: int) -> np.ndarray:
    """:func:`_cell` for an array, as floats holding whole numbers."""
    cells = np.floor(np.ldexp(values, -exponent))
    cells[(cells == 0) & (values < 0)] = -1
    return cells


class GridHistogram:
    """Exact counts and moments of one numerical feature, fed chunk by chunk."""

    def __init__(self, name: str, cells: int) -> None:
        if cells < 2 or cells % 2:
            raise ValueError("cells must be an even number >= 2")
        self.name = name
        self.cells = cells
        self.exponent: int | None = None
        self.origin = 0  # global index of counts[0]
        self.counts = np.zeros(cells, dtype=np.int64)
        self.count = 0
        self.missing = 0
        self.min = math.inf
        self.max = -math.inf
        self._mean = 0.0
        self._m2 = 0.0

    def add(self, values: np.ndarray) -> None:
        """Count a 1-D float array; NaN is missing, infinities are refused."""
        values = np.asarray(values, dtype=np.float64).ravel()
        nan = np.isnan(values)
        if nan.any():
            self.missing += int(nan.sum())
            values = values[~nan]
        if values.size == 0:
            return
        if not np.all(np.isfinite(values)):
            raise ValidationError(
                f"feature {self.name!r} has infinite values", hint="drop or clip them first"
            )
        low, high = float(values.min()), float(values.max())
        if max(abs(low), abs(high)) > _LARGEST_MAGNITUDE:
            raise ValidationError(
                f"feature {self.name!r} has values beyond ±1e100, too large to summarise",
                hint="rescale the feature",
            )
        self._add_moments(values)
        self.min, self.max = min(self.min, low), max(self.max, high)
        exponent = self._exponent_for(self.min, self.max)
        origin = _cell(self.min, exponent)
        if self.exponent is None:
            self.exponent, self.origin = exponent, origin
        elif (exponent, origin) != (self.exponent, self.origin):
            self._regrid(exponent, origin)
        cells = _cells(values, self.exponent) - self.origin
        self.counts += np.bincount(cells.astype(np.int64), minlength=self.cells)

    def _add_moments(self, values: np.ndarray) -> None:
        # Chan et al.'s parallel update: one chunk's moments merged into the running ones.
        n = values.size
        mean = float(values.mean())
        m2 = float(np.sum((values - mean) ** 2))
        total = self.count + n
        delta = mean - self._mean
        self._mean += delta * n / total
        self._m2 += m2 + delta * delta * self.count * n / total
        self.count = total

    def _exponent_for(self, low: float, high: float) -> int:
        magnitude = max(abs(low), abs(high))
        floor = (math.frexp(magnitude)[1] if magnitude else 0) - _RELATIVE_RESOLUTION_BITS
        floor = max(floor, _SMALLEST_EXPONENT)
        half_span = high / 2 - low / 2  # halves keep the span finite near the float limits
        if half_span <= 0:  # a constant, or two neighbouring subnormals
            exponent = floor
        else:  # the -1 keeps the guess at or below the smallest exponent that fits
            log_span = math.log2(half_span) + 1
            exponent = max(floor, math.floor(log_span - math.log2(self.cells)) - 1)
        while self._cells_spanned(low, high, exponent) > self.cells:
            exponent += 1
        return exponent

    @staticmethod
    def _cells_spanned(low: float, high: float, exponent: int) -> int:
        return _cell(high, exponent) - _cell(low, exponent) + 1

    def _regrid(self, exponent: int, origin: int) -> None:
        occupied = np.nonzero(self.counts)[0]
        # Cell indices are below 2^63 in magnitude, so shifting by 63 already gives
        # floor(k / 2^shift) for any larger shift (numpy's >> is undefined past 63).
        shift = min(exponent - self.exponent, 63)
        merged = ((occupied + self.origin) >> shift) - origin
        counts = np.zeros(self.cells, dtype=np.int64)
        np.add.at(counts, merged, self.counts[occupied])
        self.exponent, self.origin, self.counts = exponent, origin, counts

    @property
    def mean(self) -> float:
        return self._mean

    @property
    def std(self) -> float:
        """Population standard deviation (ddof=0)."""
        return math.sqrt(self._m2 / self.count) if self.count else 0.0

    def coarsen(self, bins: int) -> tuple[list[float], list[int]]:
        """``bins`` equal-width bins made of whole cells: ``(edges, counts)``, exact."""
        if self.count == 0:
            return [], []
        occupied = np.nonzero(self.counts)[0]
        first, last = int(occupied[0]), int(occupied[-1])
        spanned = last - first + 1
        width = math.ceil(spanned / bins)
        start = first - (bins * width - spanned) // 2
        padded = np.zeros(bins * width, dtype=np.int64)
        low, high = max(start, 0), min(start + bins * width, self.cells)
        padded[low - start : high - start] = self.counts[low:high]
        counts = padded.reshape(bins, width).sum(axis=1)
        edges = [
            math.ldexp(self.origin + start + j * width, self.exponent) for j in range(bins + 1)
        ]
        return edges, [int(c) for c in counts]

    def quantiles(self, probabilities: list[float]) -> dict[str, float]:
        """Quantiles interpolated within the fine cells, clamped to ``[min, max]``."""
        if self.count == 0:
            return {}
        cumulative = np.cumsum(self.counts)
        result = {}
        for p in probabilities:
            target = p * self.count
            cell = int(np.searchsorted(cumulative, target, side="left"))
            cell = min(cell, self.cells - 1)
            before = int(cumulative[cell - 1]) if cell else 0
            inside = int(self.counts[cell])
            fraction = (target - before) / inside if inside else 0.0
            value = math.ldexp(self.origin + cell + fraction, self.exponent)
            result[f"{p:g}"] = min(self.max, max(self.min, value))
        return result
