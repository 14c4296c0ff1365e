"""The emulator's state: one backend per project and region.

A :class:`RegionBackend` ties the resource stores of one ``projects/P/locations/L``
together (models, endpoints, batch and monitoring jobs share its operations and
its lock). :class:`Backends` creates them on first use, so any project and region
a client names simply exists, and :meth:`Backends.reset` forgets them all.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path

from cloudeploy.testing.vertex._wire import IdSource
from cloudeploy.testing.vertex.artifacts import (
    check_artifacts,
    download,
    is_xgboost_image,
    materialize,
    package_of,
)
from cloudeploy.testing.vertex.batch import BatchJobStore
from cloudeploy.testing.vertex.bigquery import BigQueryStore
from cloudeploy.testing.vertex.endpoints import EndpointStore
from cloudeploy.testing.vertex.faults import FaultPlan
from cloudeploy.testing.vertex.models import ModelStore, Version
from cloudeploy.testing.vertex.monitoring import MonitoringJobStore
from cloudeploy.testing.vertex.operations import OperationStore
from cloudeploy.testing.vertex.request_logging import RequestLog
from cloudeploy.testing.vertex.runner import ModelServer, stop_all
from cloudeploy.testing.vertex.storage import Bucketeer
from cloudeploy.testing.vertex.timeseries import PredictionMetrics
from cloudeploy.testing.vertex.xgboost_server import XGBoostModelServer


class RegionBackend:
    """Everything in ``projects/{project}/locations/{region}``.

    Handlers hold :attr:`lock` while they read or change state; calls to model
    servers happen outside it so that slow predictions do not block the API.
    """

    def __init__(
        self,
        project: str,
        region: str,
        *,
        ids: IdSource,
        storage: Bucketeer,
        workdir: Path,
        metrics: PredictionMetrics,
        bigquery: BigQueryStore,
    ) -> None:
        self.parent = f"projects/{project}/locations/{region}"
        #: Shared by every region: Cloud Monitoring is queried per project.
        self.metrics = metrics
        self.lock = threading.RLock()
        self._storage = storage
        self._workdir = workdir
        self.operations = OperationStore(ids)
        self.models = ModelStore(self.parent, ids, self.operations)
        self.models.check_artifacts = lambda uri, image: check_artifacts(storage, uri, image)
        self.endpoints = EndpointStore(
            self.parent, ids, self.operations, self.models, self.start_server,
            request_log=RequestLog(bigquery),
        )  # fmt: skip
        self.batch = BatchJobStore(self.parent, ids, self.models, storage, self.start_server)
        self.monitoring = MonitoringJobStore(self.parent, ids, self.operations, self.endpoints)

    def start_server(self, version: Version, label: str) -> ModelServer:
        """Start a model server for ``version``; it is not ready yet when this returns.

        A version on a prebuilt XGBoost image answers as that image does
        (:mod:`~cloudeploy.testing.vertex.xgboost_server`).
        """
        if is_xgboost_image(version.image_uri):
            folder = download(self._storage, version.artifact_uri, self._workdir)
            server: ModelServer = XGBoostModelServer(
                package_of(folder, version.artifact_uri, self._workdir), folder,
                model=version.display_name, version=f"v{version.version_id}",
            )  # fmt: skip
        else:
            package_dir = materialize(self._storage, version.artifact_uri, self._workdir)
            server = ModelServer(
                package_dir, model=version.display_name, version=f"v{version.version_id}"
            )
        server.start()
        return server

    def servers(self) -> list[ModelServer]:
        return self.endpoints.servers() + self.batch.servers()

    def clear(self) -> None:
        with self.lock:
            self.endpoints.clear()
            self.batch.clear()
            self.monitoring.clear()
            self.models.clear()


class Backends:
    """Region backends by (project, region), created on first use."""

    def __init__(self, storage: Bucketeer) -> None:
        self._storage = storage
        self._ids = IdSource()
        self.metrics = PredictionMetrics()
        #: Injected faults and per-method call counts (kept until :meth:`reset`).
        self.faults = FaultPlan()
        #: Shared by every region: request-response logs land in the project's BigQuery.
        self.bigquery = BigQueryStore()
        self._lock = threading.Lock()
        self._backends: dict[tuple[str, str], RegionBackend] = {}
        self._workdir = Path(tempfile.mkdtemp(prefix="cloudeploy-vertex-emulator-"))

    def get(self, project: str, region: str) -> RegionBackend:
        with self._lock:
            key = (project, region)
            if key not in self._backends:
                self._backends[key] = RegionBackend(
                    project,
                    region,
                    ids=self._ids,
                    storage=self._storage,
                    workdir=self._workdir,
                    metrics=self.metrics,
                    bigquery=self.bigquery,
                )
            return self._backends[key]

    def servers(self) -> list[ModelServer]:
        with self._lock:
            backends = list(self._backends.values())
        return [server for backend in backends for server in backend.servers()]

    def reset(self) -> None:
        """Stop every model server and forget every resource in every region."""
        stop_all(self.servers())  # all at once: each drains in parallel
        with self._lock:
            backends, self._backends = list(self._backends.values()), {}
        for backend in backends:
            backend.clear()
        self.metrics.clear()
        self.faults.reset()
        self.bigquery.clear()
        for child in self._workdir.iterdir():
            shutil.rmtree(child, ignore_errors=True)

    def close(self) -> None:
        self.reset()
        shutil.rmtree(self._workdir, ignore_errors=True)
