"""The model-server processes behind emulated deployments.

Each deployed model is served by a real ``cloudeploy serve`` process on a free
port of 127.0.0.1, so predictions come from the actual model. This module is the
only place that knows how to start, probe, call and stop one; everything else
holds a :class:`ModelServer`. Processes come from
:func:`cloudeploy.serving.launcher.launch_server` (a preloaded forkserver: the
same CLI entry point and arguments as ``python -m cloudeploy.cli serve``, up in
a fraction of the time, and gone with the emulator).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from cloudeploy.ports import free_port
from cloudeploy.serving import launcher
from cloudeploy.testing.vertex._wire import ApiError

#: How long a predict call may take before the emulator answers 504 DEADLINE_EXCEEDED.
PREDICT_TIMEOUT = 30.0




class ModelServer:
    """One ``cloudeploy serve`` process for a package directory.

    ``start()`` returns at once; ``ready()`` is a non-blocking probe (the caller
    polls it, so an emulated deploy finishes when its operation is polled after
    the server answers ``/health``). ``stop()`` terminates and reaps the process.
    """

    def __init__(
        self, package_dir: Path, *, model: str, version: str, host: str = "127.0.0.1"
    ) -> None:
        self.package_dir = Path(package_dir)
        self.model = model
        self.version = version
        self.host = host
        self.port = 0
        self.process: launcher.ServerProcess | None = None
        self._client: Any = None
        self._client_lock = threading.Lock()
        handle, self._log_path = tempfile.mkstemp(prefix="cloudeploy-vertex-serve-", suffix=".log")
        os.close(handle)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self.port = free_port(self.host)
        argv = [
            "serve", str(self.package_dir), "--port", str(self.port), "--host", self.host,
            "--version", self.version, "--model", self.model, "--trust",
        ]  # fmt: skip
        self.process = launcher.launch_server(argv, self._log_path, env={"PYTHONUNBUFFERED": "1"})

    def ready(self) -> bool:
        """True once ``/health`` answers 200. Raises ApiError if the process died."""
        if self.process is None:
            return False
        if not self.process.is_alive():
            raise ApiError(
                "FAILED_PRECONDITION",
                f"Model server failed to start (exit code {self.process.exitcode}): {self.output()[-2000:]}",
            )
        import httpx

        try:
            return httpx.get(f"{self.url}/health", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False

    def predict(self, instances: list[Any], parameters: Any = None) -> list[Any]:
        """The model's predictions; an error answer keeps its class (see :func:`_status_of`).

        No answer within :data:`PREDICT_TIMEOUT` is DEADLINE_EXCEEDED (504); a
        server that does not take the connection (crashed) is UNAVAILABLE (503).
        """
        import httpx

        body: dict[str, Any] = {"instances": instances}
        if parameters:
            body["parameters"] = parameters
        try:
            reply = self._http().post(f"{self.url}/predict", json=body)
        except httpx.TimeoutException:
            raise ApiError(
                "DEADLINE_EXCEEDED",
                f"model server for {self.model} {self.version} did not answer within {PREDICT_TIMEOUT:g} s",
            ) from None
        except httpx.HTTPError as error:
            raise ApiError(
                "UNAVAILABLE",
                f"model server for {self.model} {self.version} is unreachable: {error}",
            ) from None
        if reply.status_code != 200:
            raise ApiError(_status_of(reply.status_code), _error_text(reply))
        return reply.json()["predictions"]

    def _http(self) -> Any:
        """One kept-alive ``httpx.Client`` per server (a new connection per predict costs more than the model)."""
        import httpx

        with self._client_lock:
            if self._client is None:
                self._client = httpx.Client(timeout=PREDICT_TIMEOUT)
            return self._client

    def close_client(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def output(self) -> str:
        try:
            return Path(self._log_path).read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Terminate (the server drains and exits) and reap; kill after 10 s."""
        stop_all([self])

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None


def stop_all(servers: list[ModelServer]) -> None:
    """Stop several servers at once: signal them all (each drains in parallel), then reap each."""
    processes = [server.process for server in servers if server.process is not None]
    for server in servers:
        server.process = None
        server.close_client()
    launcher.stop_all(processes)
    for server in servers:
        with contextlib.suppress(OSError):
            os.unlink(server._log_path)


def _status_of(code: int) -> str:
    """The google.rpc status the caller gets for the container's HTTP ``code``.

    429 and 503 keep their meaning (busy, retry later), 504 a timeout; other
    4xx are INVALID_ARGUMENT, anything else INTERNAL (a 500).
    """
    special = {429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
    if code in special:
        return special[code]
    return "INVALID_ARGUMENT" if 400 <= code < 500 else "INTERNAL"


def _error_text(reply: Any) -> str:
    try:
        data = reply.json()
    except ValueError:
        return reply.text or f"HTTP {reply.status_code}"
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data))
        if isinstance(error, dict):
            return str(error.get("message", error))
        return str(error)
    return str(data)
