"""A ``cloudeploy serve`` process under test: started for real, talked to over HTTP."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

SLOW_GLOBAL = "tests.serving.slow_model.pause"
#: Server arguments that let the slow package load.
SLOW_ARGS = ("--allow-global", SLOW_GLOBAL)
READY = re.compile(r"cloudeploy serve: ready on (http://\S+)")


REPO_ROOT = Path(__file__).resolve().parents[2]


def _pythonpath() -> str:
    """The repository root first, so a served package can name ``tests.serving.slow_model``."""
    return os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))


class ServerProcess:
    """Runs ``python -m cloudeploy.cli serve ARGS``; collects stderr; knows its URL once ready."""

    def __init__(self, args: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        command = [sys.executable, "-m", "cloudeploy.cli", "serve", *args]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": _pythonpath(), **(env or {})},
            cwd=cwd,
        )
        self.url: str | None = None
        self._lines: list[str] = []
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._lines.append(line)
            match = READY.search(line)
            if match and self.url is None:
                self.url = match.group(1)
                self._ready.set()

    @property
    def stderr(self) -> str:
        return "".join(self._lines)

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self.process.poll() is not None:
                self._reader.join(2)
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.stderr}")
            if time.monotonic() > deadline:
                raise AssertionError(f"server not ready after {timeout}s:\n{self.stderr}")
        assert self.url is not None
        return self.url

    def wait_exit(self, timeout: float = 30.0) -> int:
        code = self.process.wait(timeout)
        self._reader.join(2)
        return code

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._reader.join(2)


def rows(frame, start: int = 0, count: int = 1) -> list[list[float]]:
    """``count`` rows of a DataFrame as plain lists (what a JSON client sends)."""
    return frame.iloc[start : start + count].to_numpy().tolist()
