"""Retries of Vertex AI calls: google.api_core's ``Retry``, bounded by a number of attempts.

- Retried: throttling (429 ``RESOURCE_EXHAUSTED``), 500 ``INTERNAL``, 502, 503
  ``UNAVAILABLE``, 504, and connection errors (the request never reached the service).
- Never retried: everything else, above all 400 ``INVALID_ARGUMENT`` /
  ``FAILED_PRECONDITION``, 404 and 409, and read timeouts (the service may have
  acted on the request).
- Back-off: api_core's jittered exponential sleeps, a random wait up to 0.5, 1,
  2, 4, 8 s before each retry.
- At most ``max_attempts`` attempts in all (the profile's, default 5); when they
  run out, a ``RetryError`` names them, with the last error as its cause.

The ``aiplatform_v1`` GAPIC clients retry no method by default and requests'
adapter does not retry either, so this is the only retry layer: nothing is
retried twice.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

#: Attempts per call by default: the first and 4 retries.
DEFAULT_MAX_ATTEMPTS = 5
MAX_ATTEMPTS_LIMIT = 20
INITIAL_DELAY = 0.5
MAX_DELAY = 8.0


def retryable(error: BaseException) -> bool:
    """Whether ``error`` is throttling, a transient server error or a connection error."""
    import requests
    from google.api_core import exceptions as api

    transient = (
        api.TooManyRequests,  # ResourceExhausted is its subclass
        api.InternalServerError,
        api.BadGateway,
        api.ServiceUnavailable,
        api.GatewayTimeout,
    )
    return isinstance(error, (*transient, requests.exceptions.ConnectionError))


def policy(max_attempts: int) -> Any:
    """A fresh ``google.api_core.retry.Retry`` for one call, allowed ``max_attempts`` attempts.

    A new one per call: it counts that call's attempts.
    """
    from google.api_core.exceptions import RetryError
    from google.api_core.retry import Retry

    attempts = 1

    def count(error: Exception) -> None:
        nonlocal attempts
        if attempts >= max_attempts:
            raise RetryError(f"gave up after {attempts} attempt(s)", error) from error
        attempts += 1

    return Retry(
        predicate=retryable,
        initial=INITIAL_DELAY,
        maximum=MAX_DELAY,
        multiplier=2.0,
        timeout=None,  # bounded by attempts; waits are bounded by the caller's timeout
        on_error=count,
    )


class RetryingClient:
    """A GAPIC client whose RPC methods retry by :func:`policy` unless given ``retry=``."""

    def __init__(self, client: Any, max_attempts: int) -> None:
        self._client = client
        self._max_attempts = max_attempts

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or not _takes_retry(attribute):
            return attribute

        @functools.wraps(attribute)
        def call(*args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("retry", policy(self._max_attempts))
            return attribute(*args, **kwargs)

        return call


def _takes_retry(method: Callable[..., Any]) -> bool:
    try:
        return "retry" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False
