"""The running emulator: Vertex AI v1 REST API plus Cloud Storage on 127.0.0.1.

``start_emulator()`` starts both (and Cloud Monitoring's gRPC MetricService,
when google-cloud-monitoring is installed) in background threads of this process and
yields a :class:`VertexEmulator` that knows their endpoints, writes a cloudeploy
profile for them, points the real SDK at them and resets all state between tests.
Leaving the context stops the servers and every model-server process.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

from cloudeploy.errors import ProviderError
from cloudeploy.testing.vertex.backend import Backends
from cloudeploy.testing.vertex.faults import FaultPlan
from cloudeploy.testing.vertex.storage import Bucketeer, StorageEmulator

DEFAULT_PROJECT = "test-project"
DEFAULT_REGION = "us-central1"
_STARTUP_TIMEOUT = 30.0


class VertexEmulator:
    """A Vertex AI + Cloud Storage emulator; use :func:`start_emulator` to run one."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        project: str = DEFAULT_PROJECT,
        region: str = DEFAULT_REGION,
    ) -> None:
        self.host = host
        self.port = port
        self.project = project
        self.region = region
        self._storage = StorageEmulator(host, 0)
        self._backends: Backends | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._metric_service: Any = None

    # -- endpoints -------------------------------------------------------------

    @property
    def api_endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def storage_endpoint(self) -> str:
        return self._storage.endpoint

    @property
    def monitoring_endpoint(self) -> str | None:
        """``host:port`` of the gRPC MetricService (plaintext), or None without google-cloud-monitoring.

        The same time series are served as REST on ``{api_endpoint}/v3/projects/P/timeSeries``.
        """
        return self._metric_service.endpoint if self._metric_service is not None else None

    @property
    def backends(self) -> Backends:
        if self._backends is None:
            raise ProviderError("the Vertex AI emulator is not running")
        return self._backends

    @property
    def faults(self) -> FaultPlan:
        """The :class:`~cloudeploy.testing.vertex.faults.FaultPlan` in force (``add``, ``clear``)."""
        return self.backends.faults

    def calls(self, method: str | None = None) -> Any:
        """Requests received for REST ``method`` (an int), or all counts (a dict) when None."""
        return self.backends.faults.calls(method)

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> VertexEmulator:
        """Start Cloud Storage, then the API; returns once both accept requests."""
        import uvicorn

        from cloudeploy.testing.vertex.app import create_app

        self._storage.start()
        self._backends = Backends(Bucketeer(self.storage_endpoint, self.project))
        config = uvicorn.Config(
            create_app(self._backends),
            host=self.host,
            port=self.port,
            log_level="warning",
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, name="vertex-emulator", daemon=True
        )
        self._thread.start()
        started = threading.Event()
        for _ in range(int(_STARTUP_TIMEOUT / 0.02)):
            if self._server.started:
                started.set()
                break
            if not self._thread.is_alive():
                break
            started.wait(0.02)
        if not started.is_set():
            self.stop()
            raise ProviderError(
                f"the Vertex AI emulator did not start on {self.host}:{self.port}",
                hint="is the port in use? pick another with --port, or 0 for a free one",
            )
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        self._start_metric_service()
        atexit.register(self.stop)
        return self

    def _start_metric_service(self) -> None:
        try:
            import google.cloud.monitoring_v3  # noqa: F401
            import grpc  # noqa: F401
        except ImportError:
            return  # REST /v3 still answers; only the gRPC client needs this
        from cloudeploy.testing.vertex.metric_service import MetricServiceServer

        self._metric_service = MetricServiceServer(self.backends.metrics, self.host).start()

    def stop(self) -> None:
        """Stop the API, every model server and Cloud Storage. Safe to call twice."""
        if self._metric_service is not None:
            self._metric_service.stop()
            self._metric_service = None
        if self._server is not None:
            self._server.should_exit = True
            if self._thread is not None:
                self._thread.join(timeout=10)
            self._server = self._thread = None
        if self._backends is not None:
            self._backends.close()
            self._backends = None
            self._storage.stop()
        atexit.unregister(self.stop)

    def reset(self) -> None:
        """Forget all state: resources in every region, buckets, model-server processes, faults."""
        self.backends.reset()
        self._storage.wipe()

    def model_server_pids(self) -> list[int]:
        """Process ids of the running model servers (to check that none is orphaned)."""
        return [s.pid for s in self.backends.servers() if s.pid is not None]

    # -- clients ---------------------------------------------------------------

    def profile_settings(self, bucket: str = "cloudeploy-test") -> dict[str, Any]:
        """A ``provider = "vertex"`` profile table pointing at this emulator; creates ``bucket``."""
        Bucketeer(self.storage_endpoint, self.project).ensure_bucket(bucket)
        monitoring = (
            {"monitoring_endpoint": self.monitoring_endpoint} if self.monitoring_endpoint else {}
        )
        return {
            "provider": "vertex",
            "project": self.project,
            "region": self.region,
            "staging_bucket": f"gs://{bucket}",
            "serving_image": f"{self.region}-docker.pkg.dev/{self.project}/cloudeploy/cloudeploy-serving:latest",
            "api_endpoint": self.api_endpoint,
            "storage_endpoint": self.storage_endpoint,
            "bigquery_endpoint": self.api_endpoint,  # BigQuery v2 REST under /bigquery/v2
            **monitoring,
        }

    def init_sdk(self, **kwargs: Any) -> None:
        """Point ``google.cloud.aiplatform`` and ``google.cloud.storage`` at this emulator."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import aiplatform

        os.environ["STORAGE_EMULATOR_HOST"] = self.storage_endpoint
        aiplatform.init(
            project=self.project,
            location=self.region,
            credentials=AnonymousCredentials(),
            api_transport="rest",
            api_endpoint=self.api_endpoint,
            **kwargs,
        )

    def __enter__(self) -> VertexEmulator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def start_emulator(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    project: str = DEFAULT_PROJECT,
    region: str = DEFAULT_REGION,
) -> Iterator[VertexEmulator]:
    """Run an emulator for the ``with`` block (``port=0`` picks a free port)."""
    emulator = VertexEmulator(host, port, project=project, region=region).start()
    try:
        yield emulator
    finally:
        emulator.stop()
