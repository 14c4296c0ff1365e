"""Retries of Vertex AI calls: google.api_core's ``Retry``, bounded by attempts and by time.

- Retried: throttling (429 ``RESOURCE_EXHAUSTED``), 500 ``INTERNAL``, 502, 503
  ``UNAVAILABLE``, 504, and connection errors (the request never reached the service).
- Never retried: everything else, above all 400 ``INVALID_ARGUMENT`` /
  ``FAILED_PRECONDITION``, 404 and 409, and read timeouts (the service may have
  acted on the request).
- Back-off: api_core's jittered exponential sleeps, a random wait up to 0.5, 1,
  2, 4, 8 s before each retry.
- At most ``max_attempts`` attempts in all (the profile's, default 5); when they
  run out, a ``RetryError`` names them, with the last error as its cause.
- Inside a :func:`deadline` block, also no retry after the deadline: the time
  left is the ``Retry``'s ``timeout``, and api_core never starts a sleep that
  would end past it. The last attempt starts before the deadline, so a call ends
  at most one request after it; when the deadline cuts the retries,
  :class:`OutOfTime` names the attempts made. Outside such a block the attempts
  are the only bound.

The ``aiplatform_v1`` GAPIC clients retry no method by default and requests'
adapter does not retry either, so this is the only retry layer: nothing is
retried twice.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

INITIAL_DELAY = 0.5
MAX_DELAY = 8.0

#: ``time.monotonic()`` after which no call is retried; None: attempts only.
_deadline: ContextVar[float | None] = ContextVar("vertex_retry_deadline", default=None)


class OutOfTime(Exception):
    """The deadline came before the next attempt of a retried call.

    ``attempts`` were made, all failed with retryable errors; ``last`` is the last one.
    """

    def __init__(self, attempts: int, last: Exception | None) -> None:
        super().__init__(f"out of time after {attempts} attempt(s)")
        self.attempts = attempts
        self.last = last


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Bound the retries of every call made in the block by ``seconds`` from now.

    ``None`` adds no bound. Blocks nest, and an inner one never extends the
    deadline of an outer one: an operation's steps share its time.
    """
    if seconds is None:
        yield
        return
    ends = time.monotonic() + seconds
    outer = _deadline.get()
    token = _deadline.set(ends if outer is None else min(outer, ends))
    try:
        yield
    finally:
        _deadline.reset(token)


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


def policy(max_attempts: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The retry decorator for one call (what GAPIC methods take as ``retry=``).

    A ``google.api_core.retry.Retry`` allowed ``max_attempts`` attempts, with
    the time left to the enclosing :func:`deadline` as its ``timeout``; a call
    made past the deadline is tried once. Built afresh per call, so the time
    left is that of the moment of the call.
    """
    from google.api_core.exceptions import RetryError
    from google.api_core.retry import Retry

    attempts = 0

    def count(error: Exception) -> None:
        nonlocal attempts
        attempts += 1
        if attempts >= max_attempts:
            raise RetryError(f"gave up after {attempts} attempt(s)", error) from error

    ends = _deadline.get()
    retry = Retry(
        predicate=retryable,
        initial=INITIAL_DELAY,
        maximum=MAX_DELAY,
        multiplier=2.0,
        timeout=None if ends is None else max(ends - time.monotonic(), 0.0),
        on_error=count,
    )
    if ends is None:
        return retry

    def bounded(func: Callable[..., Any]) -> Callable[..., Any]:
        retrying = retry(func)

        @functools.wraps(func)
        def call(*args: Any, **kwargs: Any) -> Any:
            nonlocal attempts
            attempts = 0  # a pager calls again for each page
            try:
                return retrying(*args, **kwargs)
            except RetryError as error:
                if attempts >= max_attempts:
                    raise  # out of attempts, not of time
                raise OutOfTime(attempts, error.cause) from error.cause

        return call

    return bounded


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
            kwargs.setdefault("retry", policy(self._max_attempts))  # per call: reads the deadline now
            return attribute(*args, **kwargs)

        setattr(self, name, call)  # wrapped once: predictions come through here too
        return call


def _takes_retry(method: Callable[..., Any]) -> bool:
    try:
        return "retry" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False
