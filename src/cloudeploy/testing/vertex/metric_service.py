"""Cloud Monitoring's ``MetricService.ListTimeSeries`` over gRPC, for the real client.

google-cloud-monitoring (2.x, up to the newest release) ships only gRPC
transports, so ``MetricServiceClient`` cannot talk to the emulator's HTTP
server. :class:`MetricServiceServer` answers it on its own plaintext port of
127.0.0.1; requests are converted to the REST query form and answered by
:class:`~cloudeploy.testing.vertex.timeseries.PredictionMetrics`, exactly as
``GET /v3/projects/{p}/timeSeries`` is. Point the client at it with::

    channel = grpc.insecure_channel(emulator.monitoring_endpoint)
    client = MetricServiceClient(transport=MetricServiceGrpcTransport(channel=channel))
"""

from __future__ import annotations

import json
from typing import Any

from cloudeploy.testing.vertex._wire import ApiError
from cloudeploy.testing.vertex.timeseries import PredictionMetrics

SERVICE = "google.monitoring.v3.MetricService"
_GRPC_CODES = {"INVALID_ARGUMENT": "INVALID_ARGUMENT", "NOT_FOUND": "NOT_FOUND"}


class MetricServiceServer:
    """A gRPC server with ``ListTimeSeries``; ``start()`` binds a port, ``stop()`` ends it."""

    def __init__(self, metrics: PredictionMetrics, host: str = "127.0.0.1") -> None:
        self.metrics = metrics
        self.host = host
        self.port = 0
        self._server: Any = None

    @property
    def endpoint(self) -> str:
        """``host:port``, the form gRPC channels take."""
        return f"{self.host}:{self.port}"

    def start(self) -> MetricServiceServer:
        from concurrent import futures

        import grpc
        from google.cloud import monitoring_v3

        handler = grpc.unary_unary_rpc_method_handler(
            self._list_time_series,
            request_deserializer=monitoring_v3.ListTimeSeriesRequest.deserialize,
            response_serializer=monitoring_v3.ListTimeSeriesResponse.serialize,
        )
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, {"ListTimeSeries": handler}),)
        )
        self.port = self._server.add_insecure_port(f"{self.host}:0")
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None).wait(5)
            self._server = None

    def _list_time_series(self, request: Any, context: Any) -> Any:
        import grpc
        from google.cloud import monitoring_v3

        message = json.loads(
            monitoring_v3.ListTimeSeriesRequest.to_json(request, use_integers_for_enums=False)
        )
        try:
            body = self.metrics.list_time_series(message.get("name", ""), rest_params(message))
        except ApiError as error:
            code = getattr(grpc.StatusCode, _GRPC_CODES.get(error.status, "INTERNAL"))
            context.abort(code, error.message)
        return monitoring_v3.ListTimeSeriesResponse.from_json(json.dumps(body))


def rest_params(message: dict[str, Any]) -> dict[str, Any]:
    """A JSON ``ListTimeSeriesRequest`` flattened into REST query keys (``interval.startTime``...)."""
    params: dict[str, Any] = {
        "filter": message.get("filter", ""),
        "view": message.get("view", "FULL"),
    }
    for group in ("interval", "aggregation"):
        for key, value in (message.get(group) or {}).items():
            params[f"{group}.{key}"] = value
    return params
