"""Answers shaped like the prebuilt SageMaker scikit-learn container's.

A model whose image is ``.../sagemaker-scikit-learn:<tag>`` is served in the
emulation by ``cloudeploy serve``, whose own SageMaker answers are
``{"predictions": [...], "modelVersionId": ...}`` for JSON and, without an
``Accept`` header, the request's format. The real container (the SageMaker
inference toolkit behind ``aws/sagemaker-scikit-learn-container``) answers:

- JSON: the encoded prediction array itself, a plain JSON list;
- without ``Accept`` (or ``*/*``): the container's default,
  ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`` from the model's environment, else
  ``application/json`` (sagemaker-inference-toolkit ``environment.py``), so a
  CSV request without ``Accept`` gets JSON.

Other images (the cloudeploy serving image, bring-your-own containers) keep
their own answers. Requests are decoded as the container does
(``np.array(json.loads(body))``): a JSON object such as the Vertex-shaped
``{"instances": [...]}`` becomes a 0-d array the model refuses, so the container
answers 500 and the caller gets a ModelError, as on the service.
"""

from __future__ import annotations

import json
from typing import Any

from cloudeploy.testing.sagemaker import containers

JSON = "application/json"


def is_sklearn_image(image: str) -> bool:
    repository = image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    return repository == "sagemaker-scikit-learn"


def accept_for(account: str, region: str, variant: Any, accept: str | None) -> str | None:
    """The Accept to ask the model server for on behalf of ``variant``'s container."""
    if not is_sklearn_image(variant.image) or (accept and accept.strip() != "*/*"):
        return accept
    container = containers.serving_container(account, region, variant.model) or {}
    return (container.get("Environment") or {}).get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", JSON)


def shape_answer(variant: Any, body: bytes, content_type: str) -> tuple[bytes, str]:
    """``(body, content type)`` as the variant's container would answer them."""
    if not is_sklearn_image(variant.image) or not content_type.startswith(JSON):
        return body, content_type
    try:
        data = json.loads(body)
    except ValueError:
        return body, content_type
    if isinstance(data, dict) and "predictions" in data:
        return json.dumps(data["predictions"]).encode(), JSON
    return body, content_type


def refuse_request(variant: Any, body: bytes, content_type: str) -> bytes | None:
    """The container's 500 body when it cannot decode ``body`` into rows, else None.

    Only JSON objects are refused: the toolkit turns a JSON body into an array,
    and an object makes a 0-d array that scikit-learn's ``predict`` rejects.
    """
    if not is_sklearn_image(variant.image) or not content_type.startswith(JSON):
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return (
        "ValueError: Expected 2D array, got scalar array instead: array="
        f"{json.dumps(data)[:200]}. The scikit-learn container decodes a JSON body with "
        "np.array(json.loads(body)): send a list of rows, not an object."
    ).encode()
