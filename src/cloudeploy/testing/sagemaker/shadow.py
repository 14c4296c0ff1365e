"""Shadow variants in the emulation: ``ShadowProductionVariants`` copies requests to a model.

What the service does, as the emulation does it:

- ``CreateEndpointConfig`` accepts ``ShadowProductionVariants`` with exactly one
  production variant and one shadow variant (the service's rule), whose models
  must exist; ``DescribeEndpointConfig`` returns them (:func:`remember`,
  :func:`described_config`).
- An endpoint created or updated to such a config starts the shadow variant's
  model server beside the production one (:func:`provision`; here at the call,
  so the shadow serves once the endpoint is InService) and DescribeEndpoint
  lists it under ``ShadowProductionVariants`` (:func:`described_endpoint`).
- After InvokeEndpoint has its answer from the production variant, :func:`mirror`
  copies the request to the shadow variant with probability
  ``shadow weight / production weight``, off the caller's path (a bounded pool;
  a full pool drops the copy). The caller only ever gets the production answer.
  The copy's outcome is recorded in CloudWatch under the shadow variant's name
  (``Invocations``, error counts, ``ModelLatency``) and, with data capture on, its
  request and answer are captured under ``{destination}/{endpoint}/{shadow variant}/``.
"""

from __future__ import annotations

import random
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import httpx

from cloudeploy.testing.sagemaker import backends, capture, metrics
from cloudeploy.testing.sagemaker.errors import ValidationException

if TYPE_CHECKING:
    from cloudeploy.testing.sagemaker.endpoints import EndpointRuntime

#: Copies in flight or waiting at most; more are dropped (counted in ``DROPPED``).
MAX_PENDING = 256

_configs: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
_running: weakref.WeakKeyDictionary[Any, set[tuple[str, str]]] = weakref.WeakKeyDictionary()
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sagemaker-shadow")
_pending = threading.BoundedSemaphore(MAX_PENDING)
_lock = threading.Lock()
DROPPED = {"count": 0}


def remember(handler: Any, name: str, production: list[dict[str, Any]]) -> None:
    """Validate and keep the ``ShadowProductionVariants`` of the config being created."""
    shadows = handler._get_param("ShadowProductionVariants") or []
    account, region = handler.current_account, handler.region
    if shadows:
        if len(production) != 1 or len(shadows) != 1:
            raise ValidationException(
                "If you use ShadowProductionVariants, you can only specify one variant for "
                "ProductionVariants and one variant for ShadowProductionVariants."
            )
        names = [v.get("VariantName") for v in production + shadows]
        if len(set(names)) != len(names):
            raise ValidationException("VariantName must be unique within an endpoint configuration")
        backends.sagemaker(account, region).validate_production_variants(shadows)
    _configs[(account, region, name)] = [dict(v) for v in shadows]


def described_config(handler: Any, name: str, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with its shadow variants, as DescribeEndpointConfig returns it."""
    shadows = _configs.get((handler.current_account, handler.region, name))
    return {**config, "ShadowProductionVariants": shadows} if shadows else config


def provision(runtime: EndpointRuntime, config: dict[str, Any]) -> None:
    """Start the model servers of ``config``'s shadow variants; stop those of earlier configs."""
    from cloudeploy.testing.sagemaker.fleet import ProvisionError

    wanted = {(v["VariantName"], v["ModelName"]) for v in config.get("ShadowProductionVariants") or []}
    with _lock:
        before = _running.get(runtime, set())
        _running[runtime] = wanted
    runtime.fleet.stop(before - wanted)
    try:
        runtime.fleet.provision(sorted(wanted))
    except ProvisionError as error:
        raise ValidationException(f"The shadow variant could not be started: {error}") from None


def described_endpoint(runtime: EndpointRuntime, body: dict[str, Any]) -> dict[str, Any]:
    """DescribeEndpoint's ``body`` with the serving config's shadow variants."""
    shadows = (runtime.config or {}).get("ShadowProductionVariants") or []
    if not shadows:
        return body
    summaries = []
    for spec in shadows:
        server = runtime.fleet.server((spec["VariantName"], spec["ModelName"]))
        summaries.append({
            "VariantName": spec["VariantName"],
            "CurrentWeight": float(spec.get("InitialVariantWeight", 1.0)),
            "DesiredWeight": float(spec.get("InitialVariantWeight", 1.0)),
            "CurrentInstanceCount": int(spec.get("InitialInstanceCount", 1)) if server else 0,
            "DesiredInstanceCount": int(spec.get("InitialInstanceCount", 1)),
        })
    return {**body, "ShadowProductionVariants": summaries}


def mirror(runtime: EndpointRuntime, variant: str, body: bytes, content_type: str, accept: str | None,
           inference_id: str | None) -> None:
    """Maybe copy a request answered by production ``variant`` to the shadow variants. Never blocks."""
    config = runtime.config or {}
    shadows = config.get("ShadowProductionVariants") or []
    if not shadows:
        return
    production = next((v for v in runtime.variants if v.name == variant), None)
    if production is None or production.weight <= 0:
        return
    for spec in shadows:
        share = float(spec.get("InitialVariantWeight", 1.0)) / production.weight
        if random.random() >= share:
            continue
        if not _pending.acquire(blocking=False):
            DROPPED["count"] += 1
            continue
        future = _pool.submit(_copy, runtime, config, spec, body, content_type, accept, inference_id)
        future.add_done_callback(lambda _: _pending.release())


def _copy(runtime: EndpointRuntime, config: dict[str, Any], spec: dict[str, Any], body: bytes,
          content_type: str, accept: str | None, inference_id: str | None) -> None:
    name = spec["VariantName"]
    server = runtime.fleet.server((name, spec["ModelName"]))
    if server is None or not server.running:
        return  # the shadow variant is gone (the endpoint moved on): nothing to copy to
    started = time.perf_counter()
    try:
        answer = server.invoke(body, content_type, accept)
        status, answer_body = answer.status_code, answer.content
        answer_type = answer.headers.get("content-type", "application/json")
    except httpx.HTTPError:
        status, answer_body, answer_type = 0, b"", "text/plain"
    latency_us = (time.perf_counter() - started) * 1e6
    metrics.record_invocation(runtime.account, runtime.region, runtime.name, name, status=status,
                              latency_us=latency_us, overhead_us=0.0)
    if 200 <= status < 300:
        capture.record(runtime.account, config.get("DataCaptureConfig") or {}, endpoint=runtime.name,
                       variant=name, request=(body, content_type), response=(answer_body, answer_type),
                       inference_id=inference_id)
