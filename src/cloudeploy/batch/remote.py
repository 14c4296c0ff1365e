"""``gs://`` and ``s3://`` inputs and outputs: listed, downloaded, uploaded.

Every engine reads local files, so a cloud source is listed (a single object,
a folder ending in ``/``, or a glob such as ``gs://b/day=*/part-*.csv``) and
downloaded into the job directory first; a cloud destination is written
locally and uploaded at the end. The clients are the provider's when it has
them (the Vertex provider's Cloud Storage client, the SageMaker provider's S3
client), otherwise the SDK defaults, which honour ``STORAGE_EMULATOR_HOST``
and ``AWS_ENDPOINT_URL`` respectively.
"""

from __future__ import annotations

import fnmatch
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudeploy.errors import NotFoundError, ProviderUnavailable, ValidationError

SCHEMES = ("gs://", "s3://")


def is_remote(uri: str) -> bool:
    return uri.startswith(SCHEMES)


@dataclass(frozen=True)
class RemoteObject:
    uri: str
    size: int
    tag: str  # an etag or generation: changes when the object does


def split(uri: str) -> tuple[str, str, str]:
    """``("gs", bucket, key)`` for ``gs://bucket/key``."""
    scheme, _, rest = uri.partition("://")
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise ValidationError(f"invalid URI {uri!r}: it names no bucket")
    return scheme, bucket, key


class ObjectStore:
    """List, download and upload objects of one scheme with one client."""

    def __init__(self, scheme: str, client: Any) -> None:
        self.scheme = scheme
        self.client = client

    def list(self, pattern: str) -> list[RemoteObject]:
        """The objects ``pattern`` names, sorted by URI; NotFoundError when none."""
        _, bucket, key = split(pattern)
        wildcard = any(ch in key for ch in "*?[")
        prefix = key.split("*")[0].split("?")[0].split("[")[0] if wildcard else key
        found = [o for o in self._list(bucket, prefix) if not o.uri.endswith("/")]
        if wildcard:
            found = [o for o in found if fnmatch.fnmatchcase(split(o.uri)[2], key)]
        elif not key.endswith("/") and key:
            exact = [o for o in found if split(o.uri)[2] == key]
            found = exact or [o for o in found if split(o.uri)[2].startswith(key.rstrip("/") + "/")]
        if not found:
            raise NotFoundError(f"no input objects found at {pattern!r}")
        return sorted(found, key=lambda o: o.uri)

    def _list(self, bucket: str, prefix: str) -> list[RemoteObject]:
        if self.scheme == "gs":
            return [
                RemoteObject(f"gs://{bucket}/{b.name}", int(b.size or 0), str(b.generation or b.etag or ""))
                for b in self.client.list_blobs(bucket, prefix=prefix)
            ]
        objects = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                objects.append(RemoteObject(f"s3://{bucket}/{item['Key']}", int(item["Size"]), item.get("ETag", "")))
        return objects

    def download(self, uri: str, path: Path) -> None:
        _, bucket, key = split(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        if self.scheme == "gs":
            self.client.bucket(bucket).blob(key).download_to_filename(str(tmp))
        else:
            self.client.download_file(bucket, key, str(tmp))
        tmp.replace(path)

    def read_range(self, uri: str, start: int, length: int) -> bytes:
        """``length`` bytes of the object at ``uri`` from offset ``start`` (fewer at its end)."""
        _, bucket, key = split(uri)
        end = start + length - 1
        if self.scheme == "gs":
            return self.client.bucket(bucket).blob(key).download_as_bytes(start=start, end=end)
        return self.client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end}")["Body"].read()

    def open(self, item: RemoteObject) -> io.BufferedReader:
        """A seekable binary file over ``item`` that fetches only the ranges read (a header, a footer)."""
        return io.BufferedReader(_RangeFile(self, item), buffer_size=1 << 16)

    def upload(self, path: Path, uri: str) -> None:
        _, bucket, key = split(uri)
        if self.scheme == "gs":
            self.client.bucket(bucket).blob(key).upload_from_filename(str(path))
        else:
            self.client.upload_file(str(path), bucket, key)


class _RangeFile(io.RawIOBase):
    """The raw reader behind :meth:`ObjectStore.open`: every read is one ranged GET."""

    def __init__(self, store: ObjectStore, item: RemoteObject) -> None:
        self._store = store
        self._item = item
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._item.size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer) -> int:
        length = min(len(buffer), self._item.size - self._position)
        if length <= 0:
            return 0
        data = self._store.read_range(self._item.uri, self._position, length)
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)


def object_store(uri: str, provider: Any = None) -> ObjectStore:
    """The store for ``uri``'s scheme, using ``provider``'s client when it has one."""
    scheme = split(uri)[0]
    clients = getattr(provider, "clients", None)
    try:
        if scheme == "gs":
            if clients is not None and hasattr(clients, "storage"):
                return ObjectStore("gs", clients.storage)
            from google.cloud import storage

            return ObjectStore("gs", storage.Client())
        if scheme == "s3":
            if clients is not None and hasattr(clients, "s3"):
                return ObjectStore("s3", clients.s3)
            import boto3

            return ObjectStore("s3", boto3.client("s3"))
    except ImportError as error:
        extra = "vertex" if scheme == "gs" else "sagemaker"
        raise ProviderUnavailable(
            f"reading {uri} needs {error.name}", hint=f"pip install 'cloudeploy[{extra}]'"
        ) from None
    raise ValidationError(f"unsupported URI scheme in {uri!r} (supported: {', '.join(SCHEMES)})")


def fetch(objects: list[RemoteObject], store: ObjectStore, folder: Path) -> list[str]:
    """Download ``objects`` into ``folder`` (once: files already there are kept). Returns the paths."""
    paths = []
    for index, item in enumerate(objects):
        name = split(item.uri)[2].rsplit("/", 1)[-1]
        path = folder / f"{index:05d}-{name}"
        if not (path.is_file() and path.stat().st_size == item.size):
            store.download(item.uri, path)
        paths.append(str(path))
    return paths
