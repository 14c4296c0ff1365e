"""Model-server processes: one ``cloudeploy serve`` per SageMaker model in use.

A :class:`ModelServer` runs ``cloudeploy serve PACKAGE --port P --host 127.0.0.1
--version VARIANT --model NAME --trust`` in its own process, answering SageMaker's
container contract (``GET /ping``, ``POST /invocations``).

Processes come from :func:`cloudeploy.serving.launcher.launch_server` (a
forkserver with the serving stack preloaded: a server is up in a fraction of a
second); each runs the same CLI entry point and arguments as ``python -m
cloudeploy.cli serve ...`` and dies with the forkserver.

Every started server is remembered, so that endpoint deletion, ``reset()`` and
interpreter exit stop it: the emulation leaves no orphan processes.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from cloudeploy.ports import free_port
from cloudeploy.serving.launcher import launch_server

_LIVE: set[ModelServer] = set()
_LIVE_LOCK = threading.Lock()


class ServerStartError(RuntimeError):
    """The model server exited or did not answer /ping in time."""




class ModelServer:
    """One ``cloudeploy serve`` process for a package directory."""

    def __init__(self, package_dir: Path, *, variant: str, model: str) -> None:
        self.package_dir = Path(package_dir)
        self.variant = variant
        self.model = model
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        handle, self._log_path = tempfile.mkstemp(prefix="cloudeploy-serve-", suffix=".log")
        os.close(handle)
        argv = [
            "serve", str(self.package_dir), "--port", str(self.port), "--host", "127.0.0.1",
            "--version", variant, "--model", model, "--trust",
        ]  # fmt: skip
        self.process = launch_server(argv, self._log_path)
        self.pid: int = self.process.pid
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()
        #: A prebuilt container emulated in-process (``xgboost_container``) answers instead
        #: of the server's own ``/invocations``; the process still runs for the lifecycle.
        self.container: Any = None
        with _LIVE_LOCK:
            _LIVE.add(self)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until ``GET /ping`` answers 200; ServerStartError with the log tail otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.process.is_alive():
                self.stop()
                raise ServerStartError(
                    f"the model server exited with code {self.process.exitcode}: {self.log_tail()}"
                )
            try:
                if httpx.get(f"{self.url}/ping", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
        self.stop()
        raise ServerStartError(f"the model server did not answer /ping within {timeout:g}s")

    @property
    def running(self) -> bool:
        return self.process.is_alive()

    def invoke(self, body: bytes, content_type: str, accept: str | None) -> httpx.Response:
        """POST /invocations on a kept-alive connection (SageMaker allows the container 60 s)."""
        if self.container is not None:
            status, answer, answer_type = self.container.invoke(body, content_type, accept)
            return httpx.Response(status, content=answer, headers={"content-type": answer_type})
        headers = {"Content-Type": content_type}
        if accept:
            headers["Accept"] = accept
        return self._http().post(f"{self.url}/invocations", content=body, headers=headers)

    def _http(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None:
                self._client = httpx.Client(timeout=60.0)
            return self._client

    def log_tail(self, limit: int = 2000) -> str:
        try:
            text = Path(self._log_path).read_text(errors="replace").strip()
        except OSError:
            text = ""
        return text[-limit:] or "(no output)"

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds (SageMaker gives 30)."""
        self.process.stop(grace)
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None
        with _LIVE_LOCK:
            _LIVE.discard(self)
        with contextlib.suppress(OSError):
            os.unlink(self._log_path)


def live_servers() -> list[ModelServer]:
    with _LIVE_LOCK:
        return list(_LIVE)


def stop_all() -> None:
    """Stop every model server this process started."""
    for server in live_servers():
        server.stop()


atexit.register(stop_all)
