"""Model-server processes: one ``cloudeploy serve`` per SageMaker model in use.

A :class:`ModelServer` runs ``python -m cloudeploy.cli serve PACKAGE`` on a free
127.0.0.1 port and answers SageMaker's container contract (``GET /ping``,
``POST /invocations``). Every started server is remembered in a registry so
that endpoint deletion, ``reset()`` and interpreter exit stop it: the emulation
leaves no orphan processes.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

_LIVE: set[ModelServer] = set()
_LIVE_LOCK = threading.Lock()


class ServerStartError(RuntimeError):
    """The model server exited or did not answer /ping in time."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ModelServer:
    """One ``cloudeploy serve`` process for a package directory."""

    def __init__(self, package_dir: Path, *, variant: str, model: str) -> None:
        self.package_dir = Path(package_dir)
        self.variant = variant
        self.model = model
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
        command = [
            sys.executable, "-m", "cloudeploy.cli", "serve", str(self.package_dir),
            "--port", str(self.port), "--host", "127.0.0.1",
            "--version", variant, "--model", model, "--trust",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        with _LIVE_LOCK:
            _LIVE.add(self)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until ``GET /ping`` answers 200; ServerStartError with the log tail otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerStartError(
                    f"the model server exited with code {self.process.returncode}: {self.log_tail()}"
                )
            try:
                if httpx.get(f"{self.url}/ping", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise ServerStartError(f"the model server did not answer /ping within {timeout:g}s")

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def invoke(self, body: bytes, content_type: str, accept: str | None) -> httpx.Response:
        headers = {"Content-Type": content_type}
        if accept:
            headers["Accept"] = accept
        return httpx.post(f"{self.url}/invocations", content=body, headers=headers, timeout=60.0)

    def log_tail(self, limit: int = 2000) -> str:
        self._log.seek(0)
        text = self._log.read().decode(errors="replace").strip()
        return text[-limit:] or "(no output)"

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds (SageMaker gives 30)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with _LIVE_LOCK:
            _LIVE.discard(self)
        self._log.close()


def live_servers() -> list[ModelServer]:
    with _LIVE_LOCK:
        return list(_LIVE)


def stop_all() -> None:
    """Stop every model server this process started."""
    for server in live_servers():
        server.stop()


atexit.register(stop_all)
