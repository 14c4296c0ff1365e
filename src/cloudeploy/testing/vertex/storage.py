"""The Cloud Storage side of the emulator: gcp-storage-emulator, in-process.

:class:`StorageEmulator` runs the maintained ``gcp-storage-emulator`` package in a
thread of this process. :class:`Bucketeer` is how the Vertex emulator itself
reads and writes objects (model artifacts, batch inputs and outputs): through
the real ``google-cloud-storage`` client pointed at the emulator, like any client.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from cloudeploy.testing.vertex._wire import ApiError, invalid


def parse_gs_uri(uri: str) -> tuple[str, str]:
    """``gs://bucket/some/prefix`` -> ``("bucket", "some/prefix")``."""
    if not isinstance(uri, str) or not uri.startswith("gs://"):
        raise invalid(f"Cloud Storage URI must start with gs://, got {uri!r}")
    bucket, _, prefix = uri[len("gs://") :].partition("/")
    if not bucket:
        raise invalid(f"Cloud Storage URI {uri!r} has no bucket")
    return bucket, prefix


class StorageEmulator:
    """gcp-storage-emulator on ``host:port`` (0 picks a free port), in memory."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        from gcp_storage_emulator.server import create_server

        self._server = create_server(host, port, in_memory=True)
        self.host = host
        self.port = 0

    def start(self) -> None:
        self._server.start()
        # The package keeps its HTTPServer private; it is the only way to learn port 0's choice.
        self.port = self._server._api._httpd.server_address[1]

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def wipe(self) -> None:
        """Delete every bucket and object."""
        self._server.wipe()

    def stop(self) -> None:
        self._server.stop()


class Bucketeer:
    """Object access for the emulator, through google-cloud-storage."""

    def __init__(self, endpoint: str, project: str) -> None:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        self._client = storage.Client(
            project=project,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": endpoint},
        )

    def ensure_bucket(self, name: str) -> None:
        from google.api_core.exceptions import Conflict

        with contextlib.suppress(Conflict):
            self._client.create_bucket(name)

    def list(self, uri: str) -> list[str]:
        """Object names under the ``gs://`` prefix ``uri`` (a missing bucket lists nothing)."""
        from google.api_core.exceptions import NotFound

        bucket, prefix = parse_gs_uri(uri)
        try:
            return [blob.name for blob in self._client.list_blobs(bucket, prefix=prefix)]
        except NotFound:
            return []

    def download_prefix(self, uri: str, dest: Path) -> list[Path]:
        """Copy the object ``uri``, or every object in the folder ``uri``, into ``dest``.

        Paths relative to the folder are kept; a single object lands under its base name.
        """
        bucket_name, prefix = parse_gs_uri(uri)
        bucket = self._client.bucket(bucket_name)
        base = prefix.rstrip("/")
        written = []
        for name in self.list(uri):
            if name == base:
                relative = name.rsplit("/", 1)[-1]
            elif not base or name.startswith(base + "/"):
                relative = name[len(base) :].lstrip("/")
            else:
                continue  # a sibling that merely shares the prefix: gs://b/model vs gs://b/model-2
            if not relative or relative.endswith("/"):
                continue
            target = dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            bucket.blob(name).download_to_filename(str(target))
            written.append(target)
        return written

    def read_text(self, uri: str) -> str:
        from google.api_core.exceptions import NotFound

        bucket, name = parse_gs_uri(uri)
        try:
            return self._client.bucket(bucket).blob(name).download_as_text()
        except NotFound:
            raise ApiError("NOT_FOUND", f"Cloud Storage object {uri} does not exist.") from None

    def write_text(self, uri: str, text: str, content_type: str = "text/plain") -> None:
        bucket, name = parse_gs_uri(uri)
        self._client.bucket(bucket).blob(name).upload_from_string(text, content_type=content_type)
