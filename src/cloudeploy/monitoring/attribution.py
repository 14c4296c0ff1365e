"""Feature-attribution drift: which features the model's answers rest on, then and now.

At package time :func:`baseline_attributions` explains the model on a sample of
the training rows and records, per feature, the mean absolute attribution and
its rank (``attribution.json``, in the manifest's files, so covered by the
digest). At monitoring time :func:`serving_attributions` explains the serving
window's rows with the same method and :func:`attribution_drift` compares:

- ``share``: a feature's mean |attribution| over the sum of all features' (its
  part of what drives the answers, in [0, 1]); ``share_change`` = serving − baseline;
- ``rank``: 1 for the feature with the largest share; ``rank_change`` = serving − baseline.

A feature is breached when its share changed more than sampling explains — the
change exceeds :data:`SIGNIFICANCE_Z` standard errors of the two estimates
(α = 0.01 two-sided, Bonferroni-corrected over the features; the standard error of a
share is the spread of the rows' attributions over √rows) — and the change matters:
``|share_change|`` exceeds the share threshold (0.1), or ``|rank_change|`` exceeds the
rank threshold (2 places) for a feature that ranks in the top :data:`MATERIAL_RANKS`
then or now. "The model relied on square footage; now zip code dominates" shows as
both. Without the significance test, a sample of a few hundred rows moves the shares
of a 30-feature model by more than 0.1 and reorders its minor features on unshifted
traffic; ranks among features that carry little of the answer are not watched.
A baseline record written before standard errors were recorded (no ``share_se``)
is judged on the thresholds alone.

Methods, chosen by the model (:func:`choose_method`):

- ``tree_shap``: exact tree SHAP (the ``shap`` library's ``TreeExplainer``, the
  optional extra ``cloudeploy[explain]``, imported only here) for tree ensembles
  and boosted trees — scikit-learn forests, extra trees, gradient boosting,
  decision trees, XGBoost, LightGBM;
- ``linear``: coefficient × (value − training mean) for a bare linear model
  (``coef_`` on the raw features), the exact SHAP values of a linear model with
  independent features;
- ``sampled``: a model-agnostic estimate for anything else — for each feature,
  the model's output minus its mean output with that feature replaced by values
  of a fixed training background sample (kept in the file), i.e. the feature's
  interventional effect, on a sample of rows.

The output explained: a regressor's prediction; a classifier's probability of
its last class (binary) or of each class (multi-class, attributions summed in
absolute value over classes).

A package whose model file was never trusted in this process (an untrusted
pickle is opened only in the packaging sandbox) is explained through its
compiled graph instead (``runtime: "onnx"`` in the record, method ``sampled``):
the graph answers like the model (it was verified on the baseline), and neither
packaging nor monitoring has to unpickle anything to explain it.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudeploy import lazy
from cloudeploy.errors import ValidationError
from cloudeploy.monitoring.columns import to_chunk

pd = lazy.module("pandas")

np = lazy.module("numpy")

ATTRIBUTION_FILE = "attribution.json"
FORMAT = "cloudeploy-attribution/1"
SAMPLE_ROWS = 300
BACKGROUND_ROWS = 30
DEFAULT_SHARE_THRESHOLD = 0.1
DEFAULT_RANK_THRESHOLD = 2
#: A rank change is watched for features in the top this-many, at baseline or serving.
MATERIAL_RANKS = 5
#: Family-wise false-alarm rate of the per-feature significance test.
SIGNIFICANCE_ALPHA = 0.01

_TREE_MODULES = ("xgboost", "lightgbm")
_TREE_NAMES = ("Forest", "Trees", "GradientBoosting", "DecisionTree")


def _final_estimator(model: Any) -> Any:
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model


def choose_method(model: Any) -> str:
    """``tree_shap``, ``linear`` or ``sampled`` for ``model`` (see the module docstring)."""
    if getattr(model, "steps", None):
        return "sampled"  # the pipeline's steps change the feature space
    name = type(model).__name__
    module = type(model).__module__
    tree = module.split(".")[0] in _TREE_MODULES or any(part in name for part in _TREE_NAMES)
    if tree and "HistGradientBoosting" not in name:  # shap's TreeExplainer does not take those
        return "tree_shap"
    coef = getattr(model, "coef_", None)
    if coef is not None and np.ndim(coef) in (1, 2) and np.shape(coef)[-1] == getattr(model, "n_features_in_", -1):
        return "linear"
    return "sampled"


def _is_classifier(model: Any) -> bool:
    """scikit-learn's own test (its estimator tags; ``_estimator_type`` is gone since 1.8), or our wrappers'."""
    if getattr(model, "_estimator_type", None) == "classifier":
        return True
    try:
        sklearn_base = lazy.load("sklearn.base")  # a probe: without scikit-learn, not a classifier
    except ImportError:
        return False
    return bool(sklearn_base.is_classifier(model))


def _output(model: Any):
    """The function explained: rows (DataFrame) -> (n,) or (n, classes) array."""
    if hasattr(model, "predict_proba") and _is_classifier(model):
        def probabilities(frame):
            p = np.asarray(model.predict_proba(frame), dtype=np.float64)
            return p[:, -1] if p.shape[1] == 2 else p
        return probabilities
    return lambda frame: np.asarray(model.predict(frame), dtype=np.float64)


def _frame(columns: dict[str, Any], names: list[str]):
    return pd.DataFrame({n: np.asarray(columns[n]) for n in names}, columns=names)


def _abs_rows(values: np.ndarray) -> np.ndarray:
    """|attribution| per row and feature, (rows, features), of (rows, features[, classes]) values."""
    values = np.abs(np.asarray(values, dtype=np.float64))
    if values.ndim == 3:
        values = values.sum(axis=2)
    return values


@dataclass
class Explainer:
    """What is needed to explain rows the same way at package and at monitoring time."""

    method: str
    names: list[str]
    means: list[float] | None = None
    background: list[list[Any]] | None = None
    #: ``"model"``: the model object; ``"onnx"``: the package's compiled graph (a CompiledGraph)
    #: answering ``graph_output`` (``"probabilities"`` or ``"regression"``).
    runtime: str = "model"
    graph_output: str | None = None

    def explain(self, model: Any, columns: dict[str, Any]) -> np.ndarray:
        """|attribution| per row and feature, (rows, features), for the rows of ``columns``."""
        frame = _frame(columns, self.names)
        if frame.empty:
            raise ValidationError("no rows to explain")
        if self.method == "tree_shap":
            try:
                shap = lazy.load("shap")  # a probe: missing shap is a ValidationError
            except ImportError:
                raise ValidationError("tree SHAP needs the shap library",
                                      hint="pip install 'cloudeploy[explain]'") from None
            explainer = shap.TreeExplainer(model)
            values = explainer.shap_values(frame, check_additivity=False)
            if isinstance(values, list):  # older shap: one array per class
                values = np.stack(values, axis=-1)
            return _abs_rows(values)
        if self.method == "linear":
            coef = np.asarray(model.coef_, dtype=np.float64)
            centred = frame.to_numpy(dtype=np.float64) - np.asarray(self.means, dtype=np.float64)
            if coef.ndim == 2 and coef.shape[0] > 1:
                return _abs_rows(centred[:, :, None] * coef.T[None, :, :])
            return _abs_rows(centred * coef.reshape(-1))
        return self._sampled(model, frame)

    def _sampled(self, model: Any, frame: Any) -> np.ndarray:
        output = _graph_output(model, self.graph_output) if self.runtime == "onnx" else _output(model)
        background = pd.DataFrame(self.background, columns=self.names)
        base = output(frame)
        effects = []
        for name in self.names:
            # every row with `name` replaced by every background value, in one predict call
            repeated = frame.loc[frame.index.repeat(len(background))].reset_index(drop=True)
            repeated[name] = np.tile(background[name].to_numpy(), len(frame))
            replaced = output(repeated).reshape(len(frame), len(background), *base.shape[1:]).mean(axis=1)
            effects.append(base - replaced)
        values = np.stack(effects, axis=1)  # (rows, features[, classes])
        return _abs_rows(values)

    def to_dict(self) -> dict[str, Any]:
        record = {"method": self.method, "names": self.names, "means": self.means, "background": self.background}
        if self.runtime != "model":
            record.update(runtime=self.runtime, graph_output=self.graph_output)
        return record


def _graph_output(graph: Any, kind: str | None):
    """The function explained, for a compiled graph: like :func:`_output` for the model it came from."""
    if kind not in ("probabilities", "regression"):
        raise ValidationError(f"cannot explain a compiled graph's {kind!r} output")

    def values(frame):
        result = np.asarray(graph.values(frame, kind), dtype=np.float64)
        if kind == "probabilities" and result.ndim == 2 and result.shape[1] == 2:
            return result[:, -1]
        return result.reshape(-1) if kind == "regression" else result
    return values


def _sample(columns: dict[str, Any], names: list[str], rows: int, seed: int) -> dict[str, Any]:
    count = len(np.asarray(columns[names[0]]))
    if count <= rows:
        return {n: np.asarray(columns[n]) for n in names}
    index = np.sort(np.random.default_rng(seed).choice(count, rows, replace=False))
    return {n: np.asarray(columns[n])[index] for n in names}


def summarize(abs_rows: np.ndarray, names: list[str]) -> dict[str, dict[str, float]]:
    """``{feature: {"mean_abs", "share", "share_se", "rank"}}`` from |attribution| per row and feature.

    ``share_se`` is the standard error of the share: the standard deviation of the
    feature's per-row |attribution| over the total mean |attribution|, over √rows.
    """
    abs_rows = np.asarray(abs_rows, dtype=np.float64)
    rows = abs_rows.shape[0]
    mean_abs = abs_rows.mean(axis=0)
    spread = abs_rows.std(axis=0, ddof=1) if rows > 1 else np.zeros_like(mean_abs)
    total = float(np.sum(mean_abs))
    order = np.argsort(-mean_abs, kind="stable")
    ranks = np.empty(len(names), dtype=int)
    ranks[order] = np.arange(1, len(names) + 1)

    def share(value: float) -> float:
        return float(value / total) if total > 0 else 0.0

    return {name: {"mean_abs": float(mean_abs[i]), "share": share(mean_abs[i]),
                   "share_se": share(spread[i]) / math.sqrt(max(rows, 1)), "rank": int(ranks[i])}
            for i, name in enumerate(names)}


def significance_z(features: int, alpha: float = SIGNIFICANCE_ALPHA) -> float:
    """The two-sided z threshold for ``alpha`` family-wise over ``features`` tests (Bonferroni)."""
    return statistics.NormalDist().inv_cdf(1 - alpha / (2 * max(features, 1)))


def baseline_attributions(model: Any, data: Any, names: list[str], *, seed: int = 0,
                          graph_output: str | None = None) -> dict[str, Any]:
    """The package's attribution record: method, how to repeat it, and per-feature summaries.

    ``model`` is the model object, or — with ``graph_output`` (``"probabilities"``
    for a classifier, ``"regression"``) — the package's compiled graph, which is
    then explained with the sampled method.
    """
    columns = to_chunk(data, names) if not isinstance(data, dict) else data
    if graph_output is not None:
        explainer = Explainer("sampled", list(names), runtime="onnx", graph_output=graph_output)
    else:
        explainer = Explainer(choose_method(model), list(names))
    method = explainer.method
    if method == "linear":
        explainer.means = [float(np.nanmean(np.asarray(columns[n], dtype=np.float64))) for n in names]
    if method == "sampled":
        background = _sample(columns, names, BACKGROUND_ROWS, seed + 1)
        explainer.background = [list(row) for row in zip(*(background[n].tolist() for n in names), strict=True)]
    sample = _sample(columns, names, SAMPLE_ROWS, seed)
    return {"format": FORMAT, "explainer": explainer.to_dict(), "rows": len(sample[names[0]]),
            "features": summarize(explainer.explain(model, sample), list(names))}


def load_record(path: str | Path) -> dict[str, Any]:
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ValidationError(f"{path} is not a cloudeploy attribution record: {error}") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ValidationError(f"{path}: unknown attribution record format")
    return record


def serving_attributions(model: Any, record: dict[str, Any], columns: dict[str, Any], *, seed: int = 0
                         ) -> dict[str, Any]:
    """Per-feature summaries of the serving rows in ``columns``, explained as ``record`` says."""
    explainer = Explainer(**record["explainer"])
    sample = _sample(columns, explainer.names, SAMPLE_ROWS, seed)
    return {"rows": len(sample[explainer.names[0]]),
            "features": summarize(explainer.explain(model, sample), explainer.names)}


def attribution_drift(
    baseline: dict[str, Any],
    serving: dict[str, Any],
    *,
    share_threshold: float = DEFAULT_SHARE_THRESHOLD,
    rank_threshold: int = DEFAULT_RANK_THRESHOLD,
) -> dict[str, Any]:
    """Per feature: baseline and serving share and rank, their changes, and whether that is a breach.

    Returns ``{"method", "rows", "share_threshold", "rank_threshold", "features": [...],
    "breached": [names], "dominant": {"baseline": name, "serving": name}}``, features
    ordered by ``|share_change|``, largest first.
    """
    features = []
    z_threshold = significance_z(len(baseline["features"]))
    for name, before in baseline["features"].items():
        after = serving["features"].get(name)
        if after is None:
            continue
        share_change = after["share"] - before["share"]
        rank_change = after["rank"] - before["rank"]
        if "share_se" in before and "share_se" in after:
            noise = math.hypot(before["share_se"], after["share_se"])
            z = abs(share_change) / noise if noise > 0 else (math.inf if share_change else 0.0)
        else:
            z = None  # a record from before standard errors: thresholds alone
        significant = z is None or z > z_threshold
        material = min(before["rank"], after["rank"]) <= MATERIAL_RANKS
        features.append({
            "name": name, "baseline_share": before["share"], "serving_share": after["share"],
            "share_change": share_change, "baseline_rank": before["rank"], "serving_rank": after["rank"],
            "rank_change": rank_change, "z": z, "significant": significant,
            "breached": significant and (abs(share_change) > share_threshold
                                         or (material and abs(rank_change) > rank_threshold)),
        })
    features.sort(key=lambda f: (-abs(f["share_change"]), f["name"]))

    def dominant(summary: dict[str, Any]) -> str | None:
        return next((n for n, f in summary["features"].items() if f["rank"] == 1), None)

    return {
        "method": baseline.get("explainer", {}).get("method"),
        "rows": serving.get("rows", 0),
        "share_threshold": share_threshold,
        "rank_threshold": rank_threshold,
        "significance_z": z_threshold,
        "features": features,
        "breached": [f["name"] for f in features if f["breached"]],
        "dominant": {"baseline": dominant(baseline), "serving": dominant(serving)},
    }
