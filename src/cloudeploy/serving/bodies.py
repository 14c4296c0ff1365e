"""Request bodies read within a limit, and early answers that clients can read.

:func:`read_bounded` refuses a body over the limit as soon as it knows: from
``Content-Length`` before reading anything, else once the bytes read pass the
limit, so nothing beyond the limit is ever held in memory.

A server that answers 413 while the client is still sending, and then closes
the connection, makes the kernel reset it: clients that write the whole body
before reading (``urllib``; ``requests`` and ``httpx`` recover only sometimes)
see a broken pipe or a reset instead of the 413. uvicorn ends a request's body
once its answer is sent, so the rest cannot be drained afterwards (nginx's
lingering close); :func:`discard_rest` reads and throws it away *before* the
early answer, bounded in bytes and seconds, so the client finishes sending and
reads the answer. Nothing is kept: memory does not grow with the body.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from starlette.requests import ClientDisconnect, Request

#: How much of a refused body is read and discarded before closing, at most.
DRAIN_MAX_BYTES = 1 << 30
#: How long a refused body is drained, at most (seconds).
DRAIN_MAX_SECONDS = 10.0


class BodyTooLarge(Exception):
    """The body is over the limit; ``message`` says by how much."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidLength(Exception):
    """``Content-Length`` is not a number."""


async def read_bounded(request: Request, limit: int) -> bytes:
    """The request body, or BodyTooLarge as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise InvalidLength(f"invalid Content-Length {declared!r}") from None
        if size > limit:
            raise BodyTooLarge(f"request body is {size} bytes; the limit is {limit}")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def discard_rest(request: Request) -> None:
    """Read what is left of the body and throw it away (before an early answer).

    Stops at the body's end, a disconnect, :data:`DRAIN_MAX_BYTES` or
    :data:`DRAIN_MAX_SECONDS`, whichever comes first; past a bound the client may
    still see a reset, which is the price of not reading an unbounded body.
    """
    if getattr(request, "_stream_consumed", False):
        return
    deadline = time.monotonic() + DRAIN_MAX_SECONDS
    drained = 0
    with contextlib.suppress(ClientDisconnect, RuntimeError, StopAsyncIteration, asyncio.TimeoutError):
        stream = request.stream().__aiter__()
        while drained < DRAIN_MAX_BYTES:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            chunk = await asyncio.wait_for(stream.__anext__(), timeout=left)
            drained += len(chunk)
