"""Process plumbing for the local provider: ports, daemons, children that die with their parent."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from cloudeploy.errors import ConflictError
from cloudeploy.lifetime import die_with_parent
from cloudeploy.ports import free_port  # noqa: F401 - the local provider's port picker
from cloudeploy.private import CHILD_UMASK, private_dir, private_opener


def ensure_port_free(host: str, port: int) -> None:
    """Raise ConflictError naming the port if something already listens on it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            raise ConflictError(
                f"port {port} on {host} is already in use",
                hint="pick another with --port, or stop what listens there",
            ) from None


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as gone.
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as handle:
        if handle.read().split(") ", 1)[1].startswith("Z"):
            return False
    return True


def _die_with_parent() -> None:  # runs in the child between fork and exec
    die_with_parent(signal.SIGTERM)


def spawn_child(args: list[str], *, log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a child that receives SIGTERM when this process dies (Linux), logging to ``log_path``.

    The child runs with umask 077: what it writes (captures, logs) is private.
    """
    private_dir(log_path.parent)
    log = open(log_path, "ab", opener=private_opener)  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            close_fds=True,
            umask=CHILD_UMASK,
        )
    finally:
        log.close()


def spawn_daemon(args: list[str], *, log_path: Path, env: dict[str, str] | None = None) -> int:
    """Start a process that outlives this one (own session, no controlling terminal, umask 077)."""
    private_dir(log_path.parent)
    with open(log_path, "ab", opener=private_opener) as log:
        process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            close_fds=True,
            umask=CHILD_UMASK,
        )
    return process.pid


def terminate(pid: int, *, timeout: float = 15.0) -> None:
    """SIGTERM ``pid`` and wait for it to exit; SIGKILL after ``timeout``."""
    if not pid_alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
