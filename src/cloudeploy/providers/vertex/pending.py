"""Operations started by an earlier run: found on their resource and awaited by name.

A command killed after Vertex AI accepted a long-running request (an upload, a
deploy) leaves that operation running, and the resource does not show its
effect yet. The re-run lists the unfinished operations on the endpoint or model
(``ListOperations``) and waits for them before deciding anything, so it neither
starts the same work twice nor misses what it did.
"""

from __future__ import annotations

from typing import Any


class OperationByName:
    """An operation polled by name: the ``done()`` / ``result()`` that a wait needs.

    ``result()`` raises the operation's error, as ``api_core``'s operation futures do.
    """

    def __init__(self, client: Any, name: str) -> None:
        self._client = client
        self.name = name
        self._latest: Any = None

    def done(self, retry: Any = None) -> bool:
        self._latest = self._client.get_operation(request={"name": self.name}, retry=retry)
        return bool(self._latest.done)

    def result(self, timeout: float | None = None) -> None:
        from google.api_core import exceptions

        if self._latest is not None and self._latest.HasField("error"):
            error = self._latest.error
            raise exceptions.from_grpc_status(error.code, error.message)


def unfinished(client: Any, resource: str) -> list[OperationByName]:
    """The operations on ``resource`` (an endpoint or model name) that are not done yet.

    A resource that does not exist has none (NotFound is the caller's to translate).
    """
    listed = client.list_operations(request={"name": resource})
    return [OperationByName(client, o.name) for o in listed.operations if not o.done]
