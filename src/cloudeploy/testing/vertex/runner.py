"""The model-server processes behind emulated deployments.

Each deployed model is served by a real ``cloudeploy serve`` process on a free
port of 127.0.0.1, so predictions come from the actual model. This module is the
only place that knows how to start, probe, call and stop one; everything else
holds a :class:`ModelServer`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from cloudeploy.testing.vertex._wire import ApiError

#: How long a predict call may take before the emulator answers 503.
PREDICT_TIMEOUT = 30.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


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
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self.port = free_port(self.host)
        command = [
            sys.executable, "-m", "cloudeploy.cli", "serve", str(self.package_dir),
            "--port", str(self.port), "--host", self.host,
            "--version", self.version, "--model", self.model, "--trust",
        ]  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(threads, "1")  # one replica, one core: many servers share few CPUs
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )

    def ready(self) -> bool:
        """True once ``/health`` answers 200. Raises ApiError if the process died."""
        if self.process is None:
            return False
        if self.process.poll() is not None:
            raise ApiError(
                "FAILED_PRECONDITION",
                f"Model server failed to start (exit code {self.process.returncode}): {self.output()[-2000:]}",
            )
        import httpx

        try:
            return httpx.get(f"{self.url}/health", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False

    def predict(self, instances: list[Any], parameters: Any = None) -> list[Any]:
        """The model's predictions; a 4xx from the server becomes INVALID_ARGUMENT."""
        import httpx

        body: dict[str, Any] = {"instances": instances}
        if parameters:
            body["parameters"] = parameters
        try:
            reply = httpx.post(f"{self.url}/predict", json=body, timeout=PREDICT_TIMEOUT)
        except httpx.HTTPError as error:
            raise ApiError(
                "UNAVAILABLE",
                f"model server for {self.model} {self.version} is unreachable: {error}",
            ) from None
        if 400 <= reply.status_code < 500:
            raise ApiError("INVALID_ARGUMENT", _error_text(reply))
        if reply.status_code != 200:
            raise ApiError("INTERNAL", _error_text(reply))
        return reply.json()["predictions"]

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self) -> None:
        """Terminate (the server drains and exits) and reap; kill after 10 s."""
        stop_all([self])

    def _signal_stop(self) -> subprocess.Popen[bytes] | None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
        return process

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None


def stop_all(servers: list[ModelServer]) -> None:
    """Stop several servers at once: signal them all, then reap each."""
    processes = [(server, server._signal_stop()) for server in servers]
    for server, process in processes:
        if process is not None:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        server._log.close()


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
