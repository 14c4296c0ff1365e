"""sagemaker-runtime InvokeEndpoint: real predictions from the variant's model server.

Picks the variant by the endpoint's weights (or ``TargetVariant``), forwards the
body to that variant's ``cloudeploy serve`` process, records CloudWatch metrics
(see ``metrics``) and, when enabled, a data-capture record of an answered call.
Errors have the service's shapes: ``ValidationError`` for an unknown or
not-ready endpoint; ``ModelError`` (424) carrying the container's status and
message for a 4xx/5xx from the container, and status 0 with the service's
message when the container gave no answer (timed out, connection refused or
reset: a crashed model server).
"""

from __future__ import annotations

import time

import httpx

from cloudeploy.testing.sagemaker import capture, metrics, shadow, sklearn_container
from cloudeploy.testing.sagemaker.errors import ModelError, RuntimeValidationError
from cloudeploy.testing.sagemaker.state import STATE


def invoke_endpoint(self):
    account, region = self.current_account, self.region
    name = self.path.split("?")[0].split("/")[2]
    with STATE.lock:
        runtime = STATE.endpoints.get((account, region, name))
    if runtime is None:
        raise RuntimeValidationError(f"Endpoint {name} of account {account} not found.")
    if runtime.status not in ("InService", "Updating") or not runtime.variants:
        raise RuntimeValidationError(
            f"Endpoint {name} of account {account} is not in service (status {runtime.status})."
        )
    headers = {key.lower(): value for key, value in self.headers.items()}
    content_type = headers.get("content-type") or "application/octet-stream"
    accept = headers.get("accept")
    body = self.body if isinstance(self.body, bytes) else (self.body or "").encode()
    try:
        variant, server = runtime.route(headers.get("x-amzn-sagemaker-target-variant"))
    except LookupError as error:
        raise RuntimeValidationError(str(error)) from None
    log_stream = f"arn:aws:logs:{region}:{account}:log-group:/aws/sagemaker/Endpoints/{name}"
    started = time.perf_counter()
    container_started = started
    try:
        if server is None or not server.running:
            raise httpx.ConnectError("the model server is not running")
        container_started = time.perf_counter()
        refused = sklearn_container.refuse_request(variant, body, content_type)
        if refused is not None:  # the prebuilt container fails on a body it cannot decode
            status, answer_body, answer_type = 500, refused, "text/plain"
        else:
            answer = server.invoke(
                body, content_type, sklearn_container.accept_for(account, region, variant, accept)
            )
            status, answer_body = answer.status_code, answer.content
            answer_type = answer.headers.get("content-type", "application/json")
            if 200 <= status < 300:
                answer_body, answer_type = sklearn_container.shape_answer(variant, answer_body, answer_type)
    except httpx.TimeoutException:
        # No container status: counted in InvocationModelErrors only, as the service does.
        status, answer_type = 0, "text/plain"
        answer_body = (
            b"Your invocation timed out while waiting for a response from container primary. "
            b"Review the latency metrics for each container in Amazon CloudWatch, resolve the "
            b"issue, and try again."
        )
    except httpx.HTTPError as error:
        status, answer_type = 0, "text/plain"
        answer_body = f"The container primary did not answer: {error}".encode()
    model_us = (time.perf_counter() - container_started) * 1e6
    if not 200 <= status < 300:
        metrics.record_invocation(
            account, region, name, variant.name, status=status, latency_us=model_us,
            overhead_us=(time.perf_counter() - started) * 1e6 - model_us,
        )  # fmt: skip
        text = answer_body.decode(errors="replace")
        kind = "client" if 400 <= status < 500 else "server"
        raise ModelError(
            f'Received {kind} error ({status}) from primary with message "{text}". '
            f"See {log_stream} in account {account} for more information.",
            status=status,
            body=text,
            log_stream_arn=log_stream,
        )
    capture.record(
        account,
        runtime.config.get("DataCaptureConfig") or {},
        endpoint=name,
        variant=variant.name,
        request=(body, content_type),
        response=(answer_body, answer_type),
        inference_id=headers.get("x-amzn-sagemaker-inference-id"),
    )
    metrics.record_invocation(
        account, region, name, variant.name, status=status, latency_us=model_us,
        overhead_us=(time.perf_counter() - started) * 1e6 - model_us,
    )  # fmt: skip
    shadow.mirror(runtime, variant.name, body, content_type, accept,
                  headers.get("x-amzn-sagemaker-inference-id"))  # after the answer (shadow.py)
    response_headers = {
        "Content-Type": answer_type,
        "x-Amzn-Invoked-Production-Variant": variant.name,
    }
    if "x-amzn-sagemaker-custom-attributes" in headers:
        response_headers["X-Amzn-SageMaker-Custom-Attributes"] = headers[
            "x-amzn-sagemaker-custom-attributes"
        ]
    return 200, response_headers, answer_body

