"""Wire-format helpers shared by the emulator's resources.

The Vertex AI REST API speaks proto3 JSON: camelCase keys, enums as integers
(the SDK asks for ``enum-encoding=int``), int64 as strings, timestamps as RFC 3339
with a ``Z``, and errors as ``{"error": {"code", "message", "status"}}`` where the
HTTP status (not the status string) decides the SDK's exception class.
"""

from __future__ import annotations

import datetime
import itertools
import threading
from typing import Any

TYPE_PREFIX = "type.googleapis.com/"
V1 = "google.cloud.aiplatform.v1."

#: google.rpc.Code name -> HTTP status, as Google's front ends map them.
_HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}

#: google.rpc.Code name -> its number, used inside operation and job errors.
RPC_CODE = {
    "CANCELLED": 1,
    "INVALID_ARGUMENT": 3,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "FAILED_PRECONDITION": 9,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
    "DEADLINE_EXCEEDED": 4,
}


class ApiError(Exception):
    """An error the emulated service answers with, in the service's shape."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS.get(self.status, 500)

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.http_status, "message": self.message, "status": self.status}}

    def rpc_status(self) -> dict[str, Any]:
        """The ``google.rpc.Status`` form used in operations and jobs."""
        return {"code": RPC_CODE.get(self.status, 2), "message": self.message}


def invalid(message: str) -> ApiError:
    return ApiError("INVALID_ARGUMENT", message)


def precondition(message: str) -> ApiError:
    return ApiError("FAILED_PRECONDITION", message)


def not_found(message: str) -> ApiError:
    return ApiError("NOT_FOUND", message)


def now() -> str:
    """The current time as an RFC 3339 timestamp, as the API writes them."""
    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")
    return stamp.replace("+00:00", "Z")


def typed(type_name: str, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` as a ``google.protobuf.Any`` of the aiplatform v1 type ``type_name``."""
    return {"@type": TYPE_PREFIX + V1 + type_name, **body}


EMPTY = {"@type": TYPE_PREFIX + "google.protobuf.Empty"}


class IdSource:
    """Numeric resource ids, unique within one emulator process (like Vertex's)."""

    def __init__(self, start: int = 1000) -> None:
        self._counter = itertools.count(start)
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            return str(next(self._counter))


def as_int(value: Any, field: str, default: int = 0) -> int:
    """An int32/int64 field that may arrive as a JSON number or string."""
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid(f"{field} must be an integer, got {value!r}") from None


def matches_filter(resource: dict[str, Any], expression: str | None) -> bool:
    """Evaluate the subset of AIP-160 filters the SDK and cloudeploy send.

    Supports ``AND``-joined terms ``display_name="x"``, ``displayName=x`` and
    ``labels.KEY=VALUE`` (quotes optional). Unknown fields never match, so a
    caller's mistake shows up as an empty list rather than everything.
    """
    if not expression or not expression.strip():
        return True
    for term in expression.replace(" and ", " AND ").split(" AND "):
        key, sep, value = term.strip().partition("=")
        if not sep:
            raise invalid(f"unsupported filter term {term.strip()!r}")
        key, value = key.strip(), value.strip().strip('"').strip("'")
        if key.startswith("labels."):
            if resource.get("labels", {}).get(key[len("labels.") :]) != value:
                return False
        elif key in ("display_name", "displayName"):
            if resource.get("displayName") != value:
                return False
        else:
            return False
    return True
