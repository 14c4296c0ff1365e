"""Vertex Explainable AI for versions whose package has training attributions.

cloudeploy computes attribution drift itself, on every provider (see
:mod:`cloudeploy.monitoring.attribution`). On Vertex AI it also turns on the
service's own feature-attribution monitoring, which is "only applicable if the
Model has explanation_spec populated":

- at upload, a version whose package holds ``attribution.json`` gets an
  ``explanation_spec``: sampled Shapley (``path_count`` 10) over the schema's
  features as one ``BAG_OF_FEATURES`` input (the shape Vertex AI's samples use
  for scikit-learn and XGBoost models answering lists of numbers), output
  ``prediction``; only when every feature is numeric (Shapley sampling perturbs
  numbers);
- in the monitoring job, each deployed model with such a spec gets
  ``explanation_config.enable_feature_attributes`` and per-feature attribution
  thresholds (``attribution_score_skew_thresholds`` /
  ``attribution_score_drift_thresholds``) equal to the spec's
  ``attribution_threshold``.
"""

from __future__ import annotations

from typing import Any

#: monitoring.attribution.ATTRIBUTION_FILE, named here: providers sit below monitoring (.importlinter).
ATTRIBUTION_FILE = "attribution.json"

#: Feature paths sampled per Shapley value (Vertex AI's samples use 10; 1..50 allowed).
PATH_COUNT = 10
_NUMERIC = {"float", "int", "integer", "number", "double", "bool", "boolean"}


def explanation_spec(manifest: Any) -> dict[str, Any] | None:
    """The ``explanation_spec`` of a new version (REST field names), or None when it gets none."""
    if ATTRIBUTION_FILE not in (manifest.files or {}) or manifest.schema is None:
        return None
    features = list(manifest.schema.features)
    if not features or any(str(feature.type).lower() not in _NUMERIC for feature in features):
        return None
    return {
        "parameters": {"sampled_shapley_attribution": {"path_count": PATH_COUNT}},
        "metadata": {
            "inputs": {
                "features": {
                    "encoding": "BAG_OF_FEATURES",
                    "modality": "numeric",
                    "index_feature_mapping": [feature.name for feature in features],
                }
            },
            "outputs": {"prediction": {}},
        },
    }


def has_explanation_spec(model_version: Any) -> bool:
    """Whether a ``google.cloud.aiplatform_v1.Model`` carries an explanation spec."""
    spec = getattr(model_version, "explanation_spec", None)
    return bool(spec and (spec.parameters or spec.metadata))
