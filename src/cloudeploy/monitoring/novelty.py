"""Outlier share: a novelty detector fitted on the training data, scored without unpickling.

At package time :func:`fit_novelty` fits scikit-learn's ``IsolationForest`` on
(a sample of) the training data and :func:`save_novelty` stores the fitted
trees as plain arrays — ``novelty.npz``, loaded with ``allow_pickle=False`` —
in the package, where the manifest's digest covers it. Nothing in the file can
run code, so the server and monitoring load it without the restrictions a
pickle needs; :class:`NoveltyDetector` scores rows with numpy, exactly as
``IsolationForest.score_samples`` does (checked in the tests):

- a row goes down each tree with ``x[feature] <= threshold`` on float32 values
  (scikit-learn's trees compare float32 inputs);
- its path length in a tree is the leaf's depth plus ``c(n)`` of the leaf's
  training samples, ``c(n) = 2 (ln(n − 1) + γ) − 2 (n − 1) / n`` (``c(2) = 1``,
  ``c(1) = 0``);
- ``score = −2^(−mean path length / c(max_samples))``, and a row is an outlier
  when its score is below the detector's ``offset`` (−0.5 with
  ``contamination="auto"``, scikit-learn's default).

Features: numerical ones as numbers (missing = the training median);
categorical ones as the index of the value among the baseline's categories
(anything unseen = −1, so a new category looks unusual). Each monitoring window
reports the share of serving rows flagged (:func:`outlier_share`).
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudeploy import lazy
from cloudeploy.errors import ValidationError
from cloudeploy.monitoring.baseline import baseline_features
from cloudeploy.monitoring.columns import column_chunks

pd = lazy.module("pandas")

np = lazy.module("numpy")
sklearn_ensemble = lazy.module("sklearn.ensemble")

NOVELTY_FILE = "novelty.npz"
FORMAT = "cloudeploy-novelty/1"
#: Training rows the forest is fitted on at most (a uniform sample beyond that).
MAX_FIT_ROWS = 100_000
_EULER_GAMMA = 0.5772156649015329


def average_path_length(n: np.ndarray) -> np.ndarray:
    """``c(n)``: the average path length of an unsuccessful search in a BST of ``n`` points."""
    n = np.asarray(n, dtype=np.float64)
    result = np.zeros_like(n)
    result[n == 2] = 1.0
    big = n > 2
    result[big] = 2.0 * (np.log(n[big] - 1.0) + _EULER_GAMMA) - 2.0 * (n[big] - 1.0) / n[big]
    return result


@dataclass
class Encoding:
    """How raw rows become the detector's numeric matrix."""

    names: list[str]
    kinds: list[str]
    categories: list[list[str] | None]
    fill: list[float]

    def encode(self, columns: dict[str, Any]) -> np.ndarray:
        """The matrix for ``{name: column}`` (numbers, strings, None)."""
        width = len(self.names)
        rows = len(next(iter(columns.values()))) if columns else 0
        matrix = np.empty((rows, width), dtype=np.float64)
        for j, name in enumerate(self.names):
            column = columns[name]
            if self.kinds[j] == "numerical":
                array = np.asarray(column)
                if array.dtype.kind in "fiub":
                    values = array.astype(np.float64)  # a copy: filled below
                else:
                    values = pd.to_numeric(pd.Series(array.astype(object)), errors="coerce").to_numpy(
                        np.float64, copy=True)
                values[np.isnan(values)] = self.fill[j]
            else:
                lookup = {c: i for i, c in enumerate(self.categories[j] or [])}
                values = np.array([lookup.get(str(v), -1) if v is not None else -1 for v in column],
                                  dtype=np.float64)
            matrix[:, j] = values
        return matrix

    def to_dict(self) -> dict[str, Any]:
        return {"names": self.names, "kinds": self.kinds, "categories": self.categories, "fill": self.fill}


class NoveltyDetector:
    """A fitted isolation forest as arrays; :meth:`score_samples` and :meth:`is_outlier` on rows."""

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.left = arrays["left"]
        self.right = arrays["right"]
        self.feature = arrays["feature"]
        self.threshold = arrays["threshold"]
        self.leaf_length = arrays["leaf_length"]  # depth + c(n) at leaves
        self.roots = arrays["roots"]  # index of each tree's root in the node arrays
        self.meta = meta
        self.offset = float(meta["offset"])
        self.max_samples = int(meta["max_samples"])
        self.encoding = Encoding(**meta["encoding"])

    @property
    def names(self) -> list[str]:
        return self.encoding.names

    def score_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """``IsolationForest.score_samples`` of an encoded matrix (higher is more normal)."""
        x = np.asarray(matrix, dtype=np.float32)
        rows = np.arange(x.shape[0])
        lengths = np.zeros(x.shape[0], dtype=np.float64)
        for root in self.roots:
            node = np.full(x.shape[0], root, dtype=np.int64)
            while True:
                inner = self.left[node] >= 0
                if not inner.any():
                    break
                current = node[inner]
                go_left = x[rows[inner], self.feature[current]] <= self.threshold[current]
                node[inner] = np.where(go_left, self.left[current], self.right[current])
            lengths += self.leaf_length[node]
        denominator = len(self.roots) * float(average_path_length(np.array([self.max_samples]))[0])
        return -np.power(2.0, -lengths / denominator) if denominator else -np.ones_like(lengths)

    def score_samples(self, columns: dict[str, Any]) -> np.ndarray:
        return self.score_matrix(self.encoding.encode(columns))

    def is_outlier(self, columns: dict[str, Any]) -> np.ndarray:
        """True for rows whose score is below the offset (scikit-learn's ``predict == -1``)."""
        return self.score_samples(columns) < self.offset

    # -- storage --------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write an ``.npz`` that is byte-for-byte the same for the same detector (fixed zip
        times), so the package digest is stable."""
        import zipfile

        path = Path(path)
        meta = np.frombuffer(json.dumps(self.meta, sort_keys=True).encode(), dtype=np.uint8)
        arrays = {"left": self.left, "right": self.right, "feature": self.feature,
                  "threshold": self.threshold, "leaf_length": self.leaf_length, "roots": self.roots,
                  "meta": meta}
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, array in arrays.items():
                member = io.BytesIO()
                np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, member.getvalue())
        path.write_bytes(buffer.getvalue())
        return path

    @classmethod
    def load(cls, path: str | Path) -> NoveltyDetector:
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            meta = json.loads(arrays.pop("meta").tobytes().decode())
        except (OSError, ValueError, KeyError) as error:
            raise ValidationError(f"{path} is not a cloudeploy novelty detector: {error}") from None
        if meta.get("format") != FORMAT:
            raise ValidationError(f"{path}: unknown novelty detector format {meta.get('format')!r}")
        return cls(arrays, meta)


def _encoding(baseline: dict[str, Any], names: list[str]) -> Encoding:
    entries = {e["name"]: e for e in baseline_features(baseline)}
    kinds, categories, fill = [], [], []
    for name in names:
        entry = entries[name]
        kinds.append(entry["type"])
        categories.append(sorted(entry["categories"]) if entry["type"] == "categorical" else None)
        fill.append(float(entry.get("quantiles", {}).get("0.5", entry.get("mean", 0.0)))
                    if entry["type"] == "numerical" else -1.0)
    return Encoding(list(names), kinds, categories, fill)


def fit_novelty(
    data: Any,
    baseline: dict[str, Any],
    names: list[str],
    *,
    n_estimators: int = 100,
    contamination: float = 0.01,
    seed: int = 0,
) -> NoveltyDetector:
    """Fit an ``IsolationForest`` on ``data`` (the training rows) and convert it to a detector.

    ``baseline`` (the package's training statistics) fixes how categorical
    values and missing numbers are encoded. At most :data:`MAX_FIT_ROWS` rows
    are used (a seeded uniform sample). ``contamination`` places the offset at
    that quantile of the training scores: 1% of training rows count as
    outliers, so a window's share well above 0.01 means unusual traffic.
    """
    encoding = _encoding(baseline, names)
    matrices = [encoding.encode(chunk) for chunk in column_chunks(data, names)]
    matrix = np.concatenate(matrices) if matrices else np.empty((0, len(names)))
    if matrix.shape[0] < 2:
        raise ValidationError("fitting the novelty detector needs at least two training rows")
    rng = np.random.default_rng(seed)
    if matrix.shape[0] > MAX_FIT_ROWS:
        matrix = matrix[rng.choice(matrix.shape[0], MAX_FIT_ROWS, replace=False)]
    forest = sklearn_ensemble.IsolationForest(
        n_estimators=n_estimators, contamination=contamination, random_state=seed
    ).fit(matrix)
    return from_isolation_forest(forest, encoding)


def from_isolation_forest(forest: Any, encoding: Encoding) -> NoveltyDetector:
    """The arrays of a fitted ``IsolationForest`` (all features per tree, as by default)."""
    lefts, rights, features, thresholds, leaf_lengths, roots = [], [], [], [], [], []
    start = 0
    for tree, used in zip(forest.estimators_, forest.estimators_features_, strict=True):
        structure = tree.tree_
        count = structure.node_count
        depth = np.zeros(count, dtype=np.float64)
        left, right = structure.children_left.astype(np.int64), structure.children_right.astype(np.int64)
        for node in range(count):  # parents come before their children in scikit-learn's trees
            if left[node] >= 0:
                depth[left[node]] = depth[right[node]] = depth[node] + 1
        leaf = left < 0
        lengths = np.where(leaf, depth + average_path_length(structure.n_node_samples), 0.0)
        lefts.append(np.where(leaf, -1, left + start))
        rights.append(np.where(leaf, -1, right + start))
        features.append(np.asarray(used, dtype=np.int64)[np.maximum(structure.feature, 0)])
        thresholds.append(structure.threshold.astype(np.float64))
        leaf_lengths.append(lengths)
        roots.append(start)
        start += count
    arrays = {
        "left": np.concatenate(lefts), "right": np.concatenate(rights),
        "feature": np.concatenate(features), "threshold": np.concatenate(thresholds),
        "leaf_length": np.concatenate(leaf_lengths), "roots": np.asarray(roots, dtype=np.int64),
    }
    meta = {"format": FORMAT, "offset": float(forest.offset_), "max_samples": int(forest.max_samples_),
            "n_estimators": len(forest.estimators_), "encoding": encoding.to_dict()}
    return NoveltyDetector(arrays, meta)


@dataclass(frozen=True)
class OutlierShare:
    """The share of a window's rows the detector flags, against a threshold."""

    rows: int
    outliers: int
    threshold: float

    @property
    def share(self) -> float | None:
        return self.outliers / self.rows if self.rows else None

    @property
    def breached(self) -> bool:
        return self.share is not None and self.share > self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "outliers": self.outliers, "share": self.share,
                "threshold": self.threshold, "breached": self.breached}


def outlier_share(detector: NoveltyDetector, columns_chunks: Any, threshold: float) -> OutlierShare:
    """Count flagged rows over ``{name: column}`` chunks (e.g. read from capture files)."""
    rows = outliers = 0
    for chunk in columns_chunks:
        flagged = detector.is_outlier(chunk)
        rows += int(flagged.size)
        outliers += int(flagged.sum())
    if not math.isfinite(threshold) or not 0 <= threshold <= 1:
        raise ValidationError(f"the outlier share threshold must be in [0, 1], got {threshold!r}")
    return OutlierShare(rows, outliers, float(threshold))
