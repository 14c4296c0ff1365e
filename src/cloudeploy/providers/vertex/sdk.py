"""The one module that builds Google Cloud clients for the Vertex provider.

Clients use the REST transport. With ``api_endpoint`` in the profile (the
emulator) they send anonymous requests there, and Cloud Storage goes to
``storage_endpoint``; otherwise they use Application Default Credentials and the
regional ``{region}-aiplatform.googleapis.com``. Clients are built on first use,
and every call retries throttling and transient errors up to the profile's
``max_attempts``, and no later than the deadline of the operation that makes it
(see :mod:`.retries`). Cloud Storage uploads keep google-cloud-storage's own retries.

Cloud Monitoring is the exception: google-cloud-monitoring has gRPC transports
only, so with ``monitoring_endpoint`` (the emulator's) it gets a plaintext
channel there, and otherwise monitoring.googleapis.com with the credentials.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from cloudeploy.errors import ConfigError
from cloudeploy.providers.vertex.retries import RetryingClient, policy
from cloudeploy.providers.vertex.settings import VertexSettings


class VertexClients:
    """Lazily built GAPIC clients (``aiplatform_v1``, retrying) and a storage client."""

    def __init__(self, settings: VertexSettings) -> None:
        self.settings = settings

    @functools.cached_property
    def credentials(self) -> Any:
        if self.settings.api_endpoint:
            from google.auth.credentials import AnonymousCredentials

            return AnonymousCredentials()
        import google.auth

        credentials, _ = google.auth.default(
            scopes=["https://www.googleapis.com/auth/cloud-platform"]
        )
        return credentials

    def _client_options(self) -> Any:
        from google.api_core.client_options import ClientOptions

        endpoint = self.settings.api_endpoint or f"{self.settings.region}-aiplatform.googleapis.com"
        return ClientOptions(api_endpoint=endpoint)

    def _gapic(self, name: str) -> Any:
        from google.cloud import aiplatform_v1

        client_class = getattr(aiplatform_v1, name)
        client = client_class(
            credentials=self.credentials, transport="rest", client_options=self._client_options()
        )
        return RetryingClient(client, self.settings.max_attempts)

    @functools.cached_property
    def models(self) -> Any:
        return self._gapic("ModelServiceClient")

    @functools.cached_property
    def endpoints(self) -> Any:
        return self._gapic("EndpointServiceClient")

    @functools.cached_property
    def predictions(self) -> Any:
        return self._gapic("PredictionServiceClient")

    @functools.cached_property
    def jobs(self) -> Any:
        return self._gapic("JobServiceClient")

    @functools.cached_property
    def monitoring(self) -> Any:
        """A ``monitoring_v3.MetricServiceClient``; ConfigError for an emulator profile without one."""
        from google.cloud import monitoring_v3

        if self.settings.monitoring_endpoint:
            import grpc
            from google.cloud.monitoring_v3.services.metric_service.transports import (
                MetricServiceGrpcTransport,
            )

            channel = grpc.insecure_channel(self.settings.monitoring_endpoint)
            return monitoring_v3.MetricServiceClient(
                transport=MetricServiceGrpcTransport(channel=channel)
            )
        if self.settings.api_endpoint:
            raise ConfigError(
                "the profile points at an emulator (api_endpoint) but has no monitoring_endpoint",
                hint="add the emulator's monitoring_endpoint (host:port) to the profile; "
                "`cloudeploy emulator vertex --output json` prints it",
            )
        return monitoring_v3.MetricServiceClient(credentials=self.credentials)

    @functools.cached_property
    def bigquery(self) -> Any:
        """A ``bigquery.Client`` (REST): at ``bigquery_endpoint`` when the profile names one."""
        from google.cloud import bigquery

        if self.settings.bigquery_endpoint:
            return bigquery.Client(
                project=self.settings.project,
                credentials=self.credentials,
                client_options={"api_endpoint": self.settings.bigquery_endpoint},
            )
        if self.settings.api_endpoint:
            raise ConfigError(
                "the profile points at an emulator (api_endpoint) but has no bigquery_endpoint",
                hint="add the emulator's bigquery_endpoint (its api_endpoint) to the profile",
            )
        return bigquery.Client(project=self.settings.project, credentials=self.credentials)

    @functools.cached_property
    def storage(self) -> Any:
        from google.cloud import storage

        if self.settings.storage_endpoint:
            return storage.Client(
                project=self.settings.project,
                credentials=self.credentials,
                client_options={"api_endpoint": self.settings.storage_endpoint},
            )
        return storage.Client(project=self.settings.project, credentials=self.credentials)

    def upload_folder(self, folder: Path, uri: str, extra: dict[str, Path] | None = None) -> None:
        """Copy every file of ``folder`` (and ``extra`` name -> file) under the ``gs://`` ``uri``."""
        bucket_name, _, prefix = uri[len("gs://") :].partition("/")
        bucket = self.storage.bucket(bucket_name)
        files = {
            p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()
        }
        files.update(extra or {})
        for relative, path in files.items():
            bucket.blob(f"{prefix.strip('/')}/{relative}".lstrip("/")).upload_from_filename(
                str(path)
            )

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST JSON to ``{api}/v1/{path}`` for calls the GAPIC clients do not offer."""
        from google.api_core import exceptions
        from google.auth.transport.requests import AuthorizedSession

        session = AuthorizedSession(self.credentials)
        url = f"{self.settings.predict_base}/v1/{path}"

        def attempt() -> Any:
            response = session.post(url, json=body, timeout=60)
            if response.status_code >= 400:
                raise exceptions.from_http_response(response)
            return response.json()

        return policy(self.settings.max_attempts)(attempt)()

    @staticmethod
    def value(data: Any) -> Any:
        """A JSON value as a ``google.protobuf.Value`` (what predict requests carry)."""
        from google.protobuf import json_format, struct_pb2

        return json_format.ParseDict(data, struct_pb2.Value())

    @staticmethod
    def plain(message: Any) -> Any:
        """A protobuf ``Value`` (or proto-plus wrapper) back as plain JSON data."""
        from google.protobuf import json_format

        if hasattr(message, "DESCRIPTOR"):
            return json_format.MessageToDict(message)
        return message
