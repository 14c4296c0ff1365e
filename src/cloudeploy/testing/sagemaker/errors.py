"""The service's error shapes, raised as moto service exceptions.

moto serialises a ``ServiceException`` with the operation's error shape (HTTP
status, ``__type``/``Code``), so boto3 raises the same ``ClientError`` codes as
against the real service. The runtime's ``ModelError`` carries the container's
status and body the way SageMaker reports them.
"""

from __future__ import annotations

from moto.core.exceptions import ServiceException


class ValidationException(ServiceException):
    """Bad input or a state that forbids the call (HTTP 400)."""

    code = "ValidationException"


class ResourceNotFound(ServiceException):
    code = "ResourceNotFound"


class ResourceInUse(ServiceException):
    code = "ResourceInUse"


class ConflictException(ServiceException):
    code = "ConflictException"


class RuntimeValidationError(ServiceException):
    """sagemaker-runtime's ValidationError (unknown endpoint, endpoint not ready)."""

    code = "ValidationError"


class ModelError(ServiceException):
    """The model container answered 4xx/5xx (HTTP 424 to the caller)."""

    code = "ModelError"

    def __init__(self, message: str, *, status: int, body: str, log_stream_arn: str) -> None:
        super().__init__(message)
        self.OriginalStatusCode = status
        self.OriginalMessage = body
        self.LogStreamArn = log_stream_arn


class ServiceUnavailable(ServiceException):
    code = "ServiceUnavailable"
