"""Cloud Storage objects for batch inputs and outputs (``gs://``).

:class:`GcsObjects` gives :class:`cloudeploy.batch.remote.ObjectStore` the four
primitives it needs (list a prefix, download, read a byte range, upload) with
one ``google.cloud.storage`` client: the Vertex provider's, or
:func:`default_objects`'s, which honours ``STORAGE_EMULATOR_HOST``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cloudeploy.providers.vertex.errors import translated


class GcsObjects:
    """Object primitives over one Cloud Storage client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def list(self, bucket: str, prefix: str) -> Iterator[tuple[str, int, str]]:
        """``(key, size, tag)`` of every object under ``prefix``; the tag changes when the object does."""
        for blob in self.client.list_blobs(bucket, prefix=prefix):
            yield blob.name, int(blob.size or 0), str(blob.generation or blob.etag or "")

    def download(self, bucket: str, key: str, path: str) -> None:
        """Write the object to ``path``; NotFoundError when it does not exist (other failures translated too)."""
        with translated(f"downloading gs://{bucket}/{key}"):
            self.client.bucket(bucket).blob(key).download_to_filename(path)

    def read_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        """Bytes ``start..end`` (inclusive) of the object."""
        return self.client.bucket(bucket).blob(key).download_as_bytes(start=start, end=end)

    def upload(self, path: str, bucket: str, key: str) -> None:
        self.client.bucket(bucket).blob(key).upload_from_filename(path)


def default_objects() -> GcsObjects:
    """Primitives over the SDK's default client (credentials and emulator from the environment)."""
    from google.cloud import storage

    return GcsObjects(storage.Client())
