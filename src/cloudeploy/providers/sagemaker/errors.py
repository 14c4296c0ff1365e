"""boto errors -> cloudeploy errors, keeping the service's message.

Used as ``with translated("deploying v2 to house-price"):`` around SDK calls.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from cloudeploy.errors import (
    CloudeployError,
    ConfigError,
    ConflictError,
    NotFoundError,
    ProviderError,
    TransientError,
    ValidationError,
)

_NOT_FOUND = re.compile(r"could not find|not found|does not exist|no such", re.IGNORECASE)
_CONFLICT = re.compile(r"already exist|in-progress|in progress|cannot update|in use", re.IGNORECASE)
_TRANSIENT_CODES = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalServerError",
    "RequestTimeout",
}


def translate(error: Exception, doing: str) -> CloudeployError:
    """The cloudeploy error for ``error`` raised while ``doing`` something."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        ReadTimeoutError,
    )

    if isinstance(error, CloudeployError):
        return error
    if isinstance(error, (NoCredentialsError, NoRegionError)):
        return ConfigError(
            f"{doing}: {error}", hint="configure AWS credentials and the profile's region"
        )
    if isinstance(error, (EndpointConnectionError, ReadTimeoutError)):
        return TransientError(
            f"{doing}: {error}", hint="check the network (or that the emulation runs) and retry"
        )
    if not isinstance(error, ClientError):
        return ProviderError(f"{doing}: {error}")
    details = error.response.get("Error", {})
    code = details.get("Code", "")
    message = details.get("Message", "") or str(error)
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    text = f"{doing}: {message} ({code})"
    if code == "ModelError":
        original = error.response.get("OriginalStatusCode") or 0
        original_message = error.response.get("OriginalMessage") or message
        if 400 <= int(original) < 500:
            return ValidationError(f"{doing}: the model refused the input: {original_message}")
        return ProviderError(f"{doing}: the model failed: {original_message}")
    if code in _TRANSIENT_CODES or status >= 500:
        attempts = error.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) + 1
        return TransientError(
            f"{text}, after {attempts} attempt(s)",
            hint="this is usually temporary: retry later, or raise the profile's max_attempts",
        )
    if code in ("ResourceNotFound", "NoSuchKey", "NoSuchBucket") or _NOT_FOUND.search(message):
        return NotFoundError(text)
    if code in ("ResourceInUse", "ConflictException") or _CONFLICT.search(message):
        return ConflictError(text)
    if code in ("AccessDeniedException", "AccessDenied", "UnrecognizedClientException"):
        return ProviderError(
            text, hint="the credentials lack a permission; see the role's IAM policy"
        )
    if code == "ResourceLimitExceeded":
        return ProviderError(
            text, hint="a SageMaker quota is reached; request an increase or use a smaller instance"
        )
    if code.startswith("Validation") or status == 400:
        return ValidationError(text)
    return ProviderError(text)


@contextlib.contextmanager
def translated(doing: str) -> Iterator[None]:
    """Re-raise SDK errors inside the block as cloudeploy errors."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (ClientError, BotoCoreError) as error:
        raise translate(error, doing) from None


def error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return response.get("Error", {}).get("Code", "")
