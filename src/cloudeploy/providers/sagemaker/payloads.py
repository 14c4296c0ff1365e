"""What ``predict`` sends to an endpoint's containers, and how their answers read.

Every container cloudeploy deploys reads JSON rows except the prebuilt XGBoost
one, which reads ``text/csv`` (or libsvm) only; all three read CSV. So rows go
as JSON unless a variant the request may reach runs the XGBoost image, then as
CSV (numbers only: that container parses every cell as a float).

Answers with ``Accept: application/json``: a JSON list (scikit-learn image),
``{"predictions": [...]}`` (cloudeploy serving image), or
``{"predictions": [{"score": p}, ...]}`` (XGBoost image: ``Booster.predict``,
class probabilities for a classifier); :func:`predictions` reads all three.

The variant -> image map is read from the endpoint's config and models and
kept for :data:`MAX_AGE_S` seconds per endpoint, so a prediction makes no
control-plane call (DescribeEndpoint has a low request-rate quota, and cost
as much as the prediction itself). This process's own changes to the
endpoint drop the entry (:func:`forget`); a change made elsewhere that
switches the payload format is caught when the container refuses the request
(``provider._predict`` reads the map afresh and, if the format changed,
sends once more).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterable
from typing import Any

from cloudeploy.errors import ValidationError
from cloudeploy.providers.sagemaker import images

#: Seconds a variant -> image map is used before it is read again.
MAX_AGE_S = 30.0

#: endpoint -> (read at, monotonic; key of the config it describes; variant -> image)
_CACHE: dict[str, tuple[float, str, dict[str, str]]] = {}
_CACHE_LOCK = threading.Lock()


def forget(endpoint: str) -> None:
    """Drop ``endpoint``'s map (this process just changed the endpoint)."""
    with _CACHE_LOCK:
        _CACHE.pop(endpoint, None)


def variant_images(sagemaker: Any, endpoint: str, *, max_age: float = MAX_AGE_S) -> dict[str, str]:
    """Variant name -> container image of ``endpoint``'s current config ({} if unreadable);
    a map read less than ``max_age`` seconds ago is used as it is."""
    with _CACHE_LOCK:
        read_at, cached_key, known = _CACHE.get(endpoint, (0.0, "", {}))
    if read_at and time.monotonic() - read_at < max_age:
        return known
    try:
        description = sagemaker.describe_endpoint(EndpointName=endpoint)
        config_name = description["EndpointConfigName"]
    except Exception:  # noqa: BLE001 - invoke_endpoint reports a missing endpoint itself
        return {}
    # Any update changes LastModifiedTime, so a config name used again is another key.
    key = f"{description.get('EndpointArn', endpoint)}#{config_name}#{description.get('LastModifiedTime', '')}"
    if cached_key == key:
        with _CACHE_LOCK:
            _CACHE[endpoint] = (time.monotonic(), key, known)
        return known
    found: dict[str, str] = {}
    try:
        config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
        for variant in config.get("ProductionVariants", []):
            model = sagemaker.describe_model(ModelName=variant["ModelName"])
            container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
            found[variant["VariantName"]] = container.get("Image", "")
    except Exception:  # noqa: BLE001 - a model deleted meanwhile: fall back to JSON
        return found
    with _CACHE_LOCK:
        _CACHE[endpoint] = (time.monotonic(), key, found)  # the latest config of each endpoint only
    return found


def request(instances: list[Any], reached_images: Iterable[str]) -> tuple[bytes, str]:
    """``(body, content type)`` for ``instances`` sent to containers running ``reached_images``."""
    if not any(images.runtime_of_image(image) == "xgboost" for image in reached_images):
        return json.dumps(instances).encode(), "application/json"
    lines = []
    for row in instances:
        cells = row if isinstance(row, list | tuple) else [row]
        if not all(
            v is None or (isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v))
            for v in cells
        ):
            raise ValidationError(
                "the prebuilt XGBoost container reads CSV numbers only: send each instance as a "
                "list of numbers (missing values as null)"
            )
        lines.append(",".join("" if v is None else repr(float(v)) for v in cells))
    return "\n".join(lines).encode(), "text/csv"


def predictions(data: Any) -> list[Any]:
    """The per-row predictions of a JSON answer of any of the three containers."""
    rows = data.get("predictions", data) if isinstance(data, dict) else data
    if isinstance(rows, list) and rows and all(isinstance(r, dict) and "score" in r for r in rows):
        return [r["score"] for r in rows]
    return rows
