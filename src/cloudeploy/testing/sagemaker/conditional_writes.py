"""S3 conditional writes, atomic: ``If-None-Match: *`` / ``If-Match`` on PutObject and DeleteObject.

moto 5.2.6 checks both headers on ``PutObject`` (and ``If-Match`` on
``DeleteObject``), answering 412 ``PreconditionFailed`` like S3, but checks
and writes in two steps while its server answers requests on many threads:
two conditional writes of one key racing each other could both succeed. S3
itself never lets that happen (one of them gets 412, or 409
``ConditionalRequestConflict``). :func:`install` runs every object write and
delete of the emulation under one lock, so the check and the write are one
step, which is what a lock built on conditional writes needs.
"""

from __future__ import annotations

import functools
import threading

_WRITES = threading.RLock()
_INSTALLED = False


def _serialized(method):
    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with _WRITES:
            return method(self, *args, **kwargs)

    return locked


def install() -> None:
    """Serialize moto's S3 object writes and deletes (once per process)."""
    global _INSTALLED
    if _INSTALLED:
        return
    from moto.s3.responses import S3Response

    S3Response.put_object = _serialized(S3Response.put_object)
    S3Response.delete_object = _serialized(S3Response.delete_object)
    _INSTALLED = True
