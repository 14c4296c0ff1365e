"""The Cloud Storage side of the emulator: gcp-storage-emulator, in-process.

:class:`StorageEmulator` runs the maintained ``gcp-storage-emulator`` package in a
thread of this process. :class:`Bucketeer` is how the Vertex emulator itself
reads and writes objects (model artifacts, batch inputs and outputs): through
the real ``google-cloud-storage`` client pointed at the emulator, like any client.

The package ignores request preconditions; :func:`honour_preconditions` adds
them, as Cloud Storage's JSON API has them: ``ifGenerationMatch`` (0: the
object must not exist), ``ifGenerationNotMatch``, ``ifMetagenerationMatch`` and
``ifMetagenerationNotMatch`` on uploads, reads, metadata updates and deletes.
A failed one is HTTP 412 ``conditionNotMet`` and changes nothing (304 for a read
with a ``...NotMatch`` that matched). The package serves one request at a time,
so the check and the write are atomic, which is what a generation-match lock
needs.
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


PRECONDITIONS = ("ifGenerationMatch", "ifGenerationNotMatch", "ifMetagenerationMatch", "ifMetagenerationNotMatch")
_CONDITION_NOT_MET = "At least one of the pre-conditions you specified did not hold."


def _target_name(request, handler_name: str) -> str | None:
    """The object a request names: the route's object, or an upload's ``name``."""
    params = request.params or {}
    if params.get("object_id"):
        return params["object_id"]
    if "name" in request.query:
        return request.query["name"][0]
    if handler_name == "insert":
        kind = (request.query.get("uploadType") or [""])[0]
        data = request.data
        if kind == "multipart" and isinstance(data, dict):
            return (data.get("meta") or {}).get("name")
        if kind == "resumable" and isinstance(data, dict):
            return data.get("name")
    return None


def _failed_precondition(request, storage, handler_name: str) -> int | None:
    """The HTTP status a failed precondition of ``request`` answers (412/304), or None."""
    from gcp_storage_emulator.exceptions import NotFound

    wanted = {key: request.query[key][0] for key in PRECONDITIONS if key in request.query}
    if not wanted:
        return None
    name = _target_name(request, handler_name)
    bucket = (request.params or {}).get("bucket_name")
    if not name or not bucket:
        return None
    try:
        obj = storage.get_file_obj(bucket, name)
    except NotFound:
        obj = None
    writing = handler_name in ("insert", "delete", "patch", "xml_upload")
    if obj is None:
        if wanted.get("ifGenerationMatch") == "0":
            return None
        # A missing object: an upload that expected one fails the precondition; a read or delete is a 404.
        return 412 if handler_name in ("insert", "xml_upload") and (
            "ifGenerationMatch" in wanted or "ifMetagenerationMatch" in wanted) else None
    generation, metageneration = str(obj.get("generation")), str(obj.get("metageneration"))
    for key, value in wanted.items():
        if key == "ifGenerationMatch" and value != generation:
            return 412
        if key == "ifMetagenerationMatch" and value != metageneration:
            return 412
        if key == "ifGenerationNotMatch" and value == generation:
            return 412 if writing else 304
        if key == "ifMetagenerationNotMatch" and value == metageneration:
            return 412 if writing else 304
    return None


def _with_preconditions(handler):
    name = handler.__name__

    def checked(request, response, storage, *args, **kwargs):
        from http import HTTPStatus

        status = _failed_precondition(request, storage, name)
        if status == 412:
            response.status = HTTPStatus.PRECONDITION_FAILED
            response.json({"error": {"code": 412, "message": _CONDITION_NOT_MET, "errors": [
                {"message": _CONDITION_NOT_MET, "domain": "global", "reason": "conditionNotMet",
                 "locationType": "header", "location": "If-Match"}]}})
            return None
        if status == 304:
            response.status = HTTPStatus.NOT_MODIFIED
            return None
        return handler(request, response, storage, *args, **kwargs)

    checked.__name__ = name
    checked.honours_preconditions = True
    return checked


def honour_preconditions() -> None:
    """Make the package's object handlers check preconditions (idempotent, process-wide)."""
    from gcp_storage_emulator import server
    from gcp_storage_emulator.handlers import objects

    for _, handlers in server.HANDLERS:
        for method, handler in list(handlers.items()):
            if handler.__module__ == objects.__name__ and handler.__name__ in (
                "insert", "get", "download", "delete", "patch", "xml_upload"
            ) and not getattr(handler, "honours_preconditions", False):
                handlers[method] = _with_preconditions(handler)
    if not getattr(objects.insert, "honours_preconditions", False):
        objects.insert = _with_preconditions(objects.insert)  # the router's fallback for bare /b/.../o uploads


class StorageEmulator:
    """gcp-storage-emulator on ``host:port`` (0 picks a free port), in memory, honouring preconditions."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        from gcp_storage_emulator.server import create_server

        honour_preconditions()
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
