"""The SageMaker provider's state store: S3 objects in the profile's bucket.

Each record is ``s3://<bucket>/<prefix>/cloudeploy-state/<key>.json``. Conditional
writes use S3's conditional requests: create-if-absent is ``PutObject`` with
``If-None-Match: *``, replace-if-unchanged is ``PutObject`` with
``If-Match: <ETag read>``, and a conditional delete is ``DeleteObject`` with
``If-Match``. A lost race is 412 ``PreconditionFailed`` (or 409
``ConditionalRequestConflict`` when two conditional writes overlap). The
version token is the object's ETag; every write carries a fresh nonce (see
:mod:`cloudeploy.providers.state_store`), so two writes never share one.

Permissions the caller needs: ``s3:GetObject``, ``s3:PutObject`` and
``s3:DeleteObject`` on ``<bucket>/<prefix>/cloudeploy-state/*``.
"""

from __future__ import annotations

from typing import Any

from cloudeploy.providers.sagemaker.client import Clients
from cloudeploy.providers.sagemaker.errors import error_code, translated
from cloudeploy.providers.state_store import ABSENT, PreconditionFailed, StateStore

FOLDER = "cloudeploy-state"
#: Error codes that mean "the condition did not hold".
LOST_RACE = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})


class S3StateStore(StateStore):
    """Records as objects under ``<bucket>/<prefix>/cloudeploy-state/``."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients
        self.bucket = clients.settings.bucket
        self.prefix = clients.settings.key(FOLDER)
        self.location = f"s3://{self.bucket}/{self.prefix}"

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}.json"

    def _read(self, key: str) -> tuple[bytes, str] | None:
        with translated(f"reading {self.location}/{key}.json"):
            try:
                answer = self.clients.s3.get_object(Bucket=self.bucket, Key=self._key(key))
            except Exception as error:
                if error_code(error) in ("NoSuchKey", "404"):
                    return None
                raise
            return answer["Body"].read(), answer["ETag"]

    def _write(self, key: str, data: bytes, expect: Any) -> str:
        condition: dict[str, str] = {}
        if expect is ABSENT:
            condition["IfNoneMatch"] = "*"
        elif expect is not None:
            condition["IfMatch"] = expect
        with translated(f"writing {self.location}/{key}.json"):
            try:
                answer = self.clients.s3.put_object(Bucket=self.bucket, Key=self._key(key), Body=data,
                                                    ContentType="application/json", **condition)
            except Exception as error:
                if error_code(error) in LOST_RACE or (expect not in (None, ABSENT)
                                                      and error_code(error) in ("NoSuchKey", "404")):
                    raise PreconditionFailed(f"{self.location}/{key}.json changed since it was read") from None
                raise
            return answer["ETag"]

    def _remove(self, key: str, expect: str | None) -> bool:
        if self._read(key) is None:
            return False
        condition = {"IfMatch": expect} if expect is not None else {}
        with translated(f"deleting {self.location}/{key}.json"):
            try:
                self.clients.s3.delete_object(Bucket=self.bucket, Key=self._key(key), **condition)
            except Exception as error:
                code = error_code(error)
                if code in ("NoSuchKey", "404"):
                    return False
                if code in LOST_RACE:
                    raise PreconditionFailed(f"{self.location}/{key}.json changed since it was read") from None
                raise
        return True
