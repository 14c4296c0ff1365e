"""Google API errors -> cloudeploy errors, in one place.

Vertex AI answers REST calls with ``{"error": {"code", "message", "status"}}``;
google-api-core picks the exception class from the HTTP status alone, so a
``FAILED_PRECONDITION`` arrives as a 400 ``BadRequest``. The status string is
read back from the response to tell "bad input" from "not now". The service's
own message is kept; the method and URL prefix google-api-core adds is dropped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from cloudeploy.errors import (
    CloudeployError,
    ConfigError,
    ConflictError,
    NotFoundError,
    OperationTimeout,
    ProviderError,
    TransientError,
    ValidationError,
)
from cloudeploy.providers.vertex.retries import OutOfTime

_BY_STATUS: dict[str, type[CloudeployError]] = {
    "INVALID_ARGUMENT": ValidationError,
    "OUT_OF_RANGE": ValidationError,
    "FAILED_PRECONDITION": ConflictError,
    "ALREADY_EXISTS": ConflictError,
    "ABORTED": ConflictError,
    "NOT_FOUND": NotFoundError,
    "RESOURCE_EXHAUSTED": TransientError,
    "UNAVAILABLE": TransientError,
    "DEADLINE_EXCEEDED": TransientError,
    "INTERNAL": TransientError,
}

_RETRY_HINT = "this is usually temporary: retry later, or raise the profile's max_attempts"
_HINTS: dict[type[CloudeployError], str] = {
    TransientError: "the service is busy or failed transiently; retry the command",
    ConflictError: "check the resource's current state with `cloudeploy status`",
}


def _status_and_message(error: Exception) -> tuple[str | None, str]:
    """The google.rpc status name and the service's message, as best known."""
    response = getattr(error, "response", None)
    if response is not None and hasattr(response, "json"):
        try:
            body = response.json().get("error", {})
            return body.get("status"), body.get("message") or str(error)
        except (ValueError, AttributeError):
            pass
    code = getattr(error, "grpc_status_code", None)
    status = code.name if code is not None else None
    return status, getattr(error, "message", None) or str(error)


def _last(error: Exception | None) -> str:
    """The service's message of the last failed attempt, as a prefix ("" if none)."""
    return f"{_status_and_message(error)[1]}, " if error is not None else ""


def translate(error: Exception, action: str) -> CloudeployError:
    """The cloudeploy error for a google-api-core / google-auth exception.

    Retries that outlast the attempts are a TransientError; retries cut by the
    caller's deadline (:class:`.retries.OutOfTime`) an OperationTimeout.
    """
    import requests
    from google.api_core import exceptions as api

    if isinstance(error, CloudeployError):
        return error
    if isinstance(error, OutOfTime):
        return OperationTimeout(
            f"{action}: {_last(error.last)}{error}",
            hint="give it more time with --timeout, or retry later",
        )
    if isinstance(error, api.RetryError):
        return TransientError(f"{action}: {_last(error.cause)}{error.message}", hint=_RETRY_HINT)
    if isinstance(error, requests.exceptions.Timeout) and not isinstance(
        error, requests.exceptions.ConnectionError
    ):
        return OperationTimeout(
            f"{action}: no answer within the time left; it may still be in progress",
            hint="check with `cloudeploy status`, or give more time with --timeout",
        )
    if isinstance(error, requests.exceptions.RequestException):
        return TransientError(
            f"{action}: cannot reach Vertex AI: {error}",
            hint="check the network (or that the emulator runs) and retry",
        )
    try:
        from google.auth.exceptions import DefaultCredentialsError

        if isinstance(error, DefaultCredentialsError):
            return ConfigError(
                f"{action}: no Google Cloud credentials: {error}",
                hint="run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS",
            )
    except ImportError:  # pragma: no cover - google-auth comes with the SDK
        pass
    if isinstance(error, (api.Unauthenticated, api.PermissionDenied)):
        return ProviderError(
            f"{action}: {_status_and_message(error)[1]}",
            hint="check the credentials and the IAM roles of the caller on the project",
        )
    status, message = _status_and_message(error)
    cls = _BY_STATUS.get(status or "")
    if cls is None:
        if isinstance(error, api.NotFound):
            cls = NotFoundError
        elif isinstance(error, (api.Conflict, api.FailedPrecondition)):
            cls = ConflictError
        elif isinstance(error, api.BadRequest):
            cls = ValidationError
        elif isinstance(error, (api.ServerError, api.TooManyRequests)):
            cls = TransientError
        else:
            cls = ProviderError
    return cls(f"{action}: {message}", hint=_HINTS.get(cls))


@contextlib.contextmanager
def translated(action: str) -> Iterator[None]:
    """Run a block of SDK calls; any Google API or connection error leaves as a cloudeploy error."""
    import requests
    from google.api_core.exceptions import GoogleAPIError
    from google.auth.exceptions import GoogleAuthError

    try:
        yield
    except (
        GoogleAPIError,
        GoogleAuthError,
        requests.exceptions.RequestException,
        OutOfTime,
    ) as error:
        raise translate(error, action) from error
