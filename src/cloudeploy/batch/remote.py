"""``gs://`` and ``s3://`` inputs and outputs: listed, downloaded, uploaded.

Every engine reads local files, so a cloud source is listed (a single object,
a folder ending in ``/``, or a glob such as ``gs://b/day=*/part-*.csv``) and
downloaded into the job directory first; a cloud destination is written
locally and uploaded at the end. The object primitives come from the provider
package that owns the scheme's SDK: the provider's own client when its batch
backend has one for the scheme (``BatchBackend.objects``), otherwise the SDK
defaults, which honour ``STORAGE_EMULATOR_HOST`` and ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import fnmatch
import importlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudeploy.errors import CapabilityError, NotFoundError, ProviderUnavailable, ValidationError

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
    """List, download and upload objects of one scheme.

    ``client`` holds the scheme's primitives, supplied by the provider package
    that owns the SDK (``providers/vertex/storage.py``,
    ``providers/sagemaker/storage.py``): ``list(bucket, prefix)`` yielding
    ``(key, size, tag)``, ``download(bucket, key, path)``,
    ``read_range(bucket, key, start, end)`` (inclusive) and
    ``upload(path, bucket, key)``.
    """

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
        return [
            RemoteObject(f"{self.scheme}://{bucket}/{name}", size, tag)
            for name, size, tag in self.client.list(bucket, prefix)
        ]

    def download(self, uri: str, path: Path) -> None:
        _, bucket, key = split(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        try:
            self.client.download(bucket, key, str(tmp))
        except BaseException:
            tmp.unlink(missing_ok=True)  # an SDK may leave an empty file behind a failed download
            raise
        tmp.replace(path)

    def read_range(self, uri: str, start: int, length: int) -> bytes:
        """``length`` bytes of the object at ``uri`` from offset ``start`` (fewer at its end)."""
        _, bucket, key = split(uri)
        return self.client.read_range(bucket, key, start, start + length - 1)

    def open(self, item: RemoteObject) -> io.BufferedReader:
        """A seekable binary file over ``item`` that fetches only the ranges read (a header, a footer)."""
        return io.BufferedReader(_RangeFile(self, item), buffer_size=1 << 16)

    def upload(self, path: Path, uri: str) -> None:
        _, bucket, key = split(uri)
        self.client.upload(str(path), bucket, key)


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


#: scheme -> (the SDK-default primitives, dotted "module:function", and the extra that installs them)
DEFAULT_OBJECTS = {
    "gs": ("cloudeploy.providers.vertex.storage:default_objects", "vertex"),
    "s3": ("cloudeploy.providers.sagemaker.storage:default_objects", "sagemaker"),
}


def object_store(uri: str, provider: Any = None) -> ObjectStore:
    """The store for ``uri``'s scheme: the provider's batch backend's when it has one for
    the scheme (its own client and credentials), otherwise the SDK's defaults, which honour
    ``STORAGE_EMULATOR_HOST`` and ``AWS_ENDPOINT_URL`` respectively."""
    scheme = split(uri)[0]
    if scheme not in DEFAULT_OBJECTS:
        raise ValidationError(f"unsupported URI scheme in {uri!r} (supported: {', '.join(SCHEMES)})")
    objects = None
    if provider is not None and hasattr(provider, "batch_backend"):
        try:
            objects = provider.batch_backend().objects(scheme)
        except CapabilityError:
            objects = None
    if objects is None:
        target, extra = DEFAULT_OBJECTS[scheme]
        module_name, _, function = target.partition(":")
        try:
            objects = getattr(importlib.import_module(module_name), function)()
        except ImportError as error:
            raise ProviderUnavailable(
                f"reading {uri} needs {error.name}", hint=f"pip install 'cloudeploy[{extra}]'"
            ) from None
    return ObjectStore(scheme, objects)


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
