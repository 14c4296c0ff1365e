"""Attach the extensions to moto's response classes (once per process).

moto looks an action's handler up on the response class at call time, so adding
a function as a method of ``SageMakerResponse`` adds (or replaces) the operation
for in-process use and for ``ThreadedMotoServer`` alike.
"""

from __future__ import annotations

import threading

_LOCK = threading.Lock()
_INSTALLED = False


def install() -> None:
    global _INSTALLED
    with _LOCK:
        if _INSTALLED:
            return
        from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse
        from moto.cloudwatch.responses import CloudWatchResponse
        from moto.moto_api._internal import urls as moto_api_urls
        from moto.sagemaker.responses import SageMakerResponse
        from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

        from cloudeploy.testing.sagemaker import (
            api_endpoints,
            api_models,
            autoscaling,
            conditional_writes,
            faults,
            iam_policies,
            monitoring,
            percentiles,
            registry,
            runtime,
            transform,
            unimplemented,
        )

        for module in (api_endpoints, api_models, transform, monitoring, registry):
            for name in module.HANDLERS:
                setattr(SageMakerResponse, name, getattr(module, name))
        SageMakerRuntimeResponse.invoke_endpoint = runtime.invoke_endpoint
        autoscaling.install()
        iam_policies.install()
        conditional_writes.install()  # S3 If-None-Match / If-Match: check and write in one step
        # An action nobody implements answers an error naming it, never moto's HTML 500.
        for response_class in (
            SageMakerResponse,
            SageMakerRuntimeResponse,
            ApplicationAutoScalingResponse,
        ):
            response_class.call_action = unimplemented.wrap_call_action(response_class.call_action)
        # Faults and call counts apply where moto dispatches an action, so they
        # reach real boto3 calls over HTTP and in-process calls alike.
        for response_class in (SageMakerResponse, SageMakerRuntimeResponse):
            response_class.call_action = faults.wrap_call_action(response_class.call_action)
        # moto's server builds its /moto-api app from this table on the first request.
        moto_api_urls.url_paths["{0}" + faults.HTTP_PATH] = faults.http_handler
        CloudWatchResponse.get_metric_statistics = percentiles.get_metric_statistics
        _INSTALLED = True
