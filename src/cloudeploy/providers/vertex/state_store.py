"""The Vertex AI provider's state store: objects in the profile's staging bucket.

Each record is the object ``gs://<staging bucket>/<prefix>/cloudeploy-state/<key>.json``.
Conditional writes use Cloud Storage's generation preconditions:
create-if-absent is ``ifGenerationMatch=0``, replace-if-unchanged is
``ifGenerationMatch=<generation read>``, and a conditional delete passes the
same precondition; a lost race is HTTP 412 (``PreconditionFailed``). The
version token of a record is its object generation, which Cloud Storage never
reuses for a name.

Permissions the caller needs on the bucket: ``storage.objects.get``,
``storage.objects.create`` and ``storage.objects.delete`` (replacing an object
is a delete too), e.g. ``roles/storage.objectUser``.
"""

from __future__ import annotations

from typing import Any

from cloudeploy.providers.state_store import ABSENT, PreconditionFailed, StateStore
from cloudeploy.providers.vertex.errors import translated
from cloudeploy.providers.vertex.sdk import VertexClients

FOLDER = "cloudeploy-state"


class GcsStateStore(StateStore):
    """Records as objects under ``<staging bucket>/<prefix>/cloudeploy-state/``."""

    def __init__(self, clients: VertexClients) -> None:
        settings = clients.settings
        self.clients = clients
        self.bucket_name = settings.bucket
        self.prefix = "/".join(p for p in (settings.staging_prefix, FOLDER) if p)
        self.location = f"gs://{self.bucket_name}/{self.prefix}"

    def _blob(self, key: str) -> Any:
        return self.clients.storage.bucket(self.bucket_name).blob(f"{self.prefix}/{key}.json")

    def _read(self, key: str) -> tuple[bytes, str] | None:
        from google.api_core.exceptions import NotFound
        from google.api_core.exceptions import PreconditionFailed as GcsPreconditionFailed

        bucket = self.clients.storage.bucket(self.bucket_name)
        with translated(f"reading {self.location}/{key}.json"):
            for _ in range(5):
                # Metadata first, then the bytes of that very generation: the two always agree.
                blob = bucket.get_blob(f"{self.prefix}/{key}.json")
                if blob is None:
                    return None
                generation = blob.generation  # (a download may overwrite it from response headers)
                try:
                    return blob.download_as_bytes(if_generation_match=generation), str(generation)
                except NotFound:
                    return None
                except GcsPreconditionFailed:
                    continue  # replaced between the two reads: read again
        raise PreconditionFailed(f"{self.location}/{key}.json kept changing while it was read")

    def _write(self, key: str, data: bytes, expect: Any) -> str:
        from google.api_core.exceptions import NotFound
        from google.api_core.exceptions import PreconditionFailed as GcsPreconditionFailed

        blob = self._blob(key)
        condition: dict[str, Any] = {}
        if expect is ABSENT:
            condition["if_generation_match"] = 0
        elif expect is not None:
            condition["if_generation_match"] = int(expect)
        with translated(f"writing {self.location}/{key}.json"):
            try:
                # Never retried blindly: a retried conditional write could fail on its own first attempt.
                blob.upload_from_string(data, content_type="application/json", retry=None, **condition)
            except (GcsPreconditionFailed, NotFound):
                raise PreconditionFailed(f"{self.location}/{key}.json changed since it was read") from None
        return str(blob.generation)

    def _remove(self, key: str, expect: str | None) -> bool:
        from google.api_core.exceptions import NotFound
        from google.api_core.exceptions import PreconditionFailed as GcsPreconditionFailed

        blob = self._blob(key)
        condition = {"if_generation_match": int(expect)} if expect is not None else {}
        with translated(f"deleting {self.location}/{key}.json"):
            try:
                blob.delete(retry=None, **condition)
            except NotFound:
                return False
            except GcsPreconditionFailed:
                raise PreconditionFailed(f"{self.location}/{key}.json changed since it was read") from None
        return True
