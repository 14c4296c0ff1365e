"""Fast start of ``cloudeploy serve`` processes for the emulators.

Importing scikit-learn and the serving stack costs seconds; an emulator starts
a model server per deployment. :func:`launch_server` forks each one from a
multiprocessing *forkserver* that has imported them once (:data:`PRELOAD`), so a
server is up in a fraction of a second. The child runs the very same CLI entry
point as ``python -m cloudeploy.cli <argv>``, with the launching process's
environment *at launch time* (so ``PYTHONPATH`` set by a test for a model's
module reaches the server, as it would through exec).

No orphans: a child gets SIGTERM when the forkserver dies (Linux
``PR_SET_PDEATHSIG``), every live child is in a registry, and interpreter exit
stops them all.
"""

from __future__ import annotations

import atexit
import importlib
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

from cloudeploy.lifetime import die_with_parent

#: What a child runs: the ``cloudeploy`` console script's target. Named, not imported:
#: serving sits below the CLI in the layers, and the child runs it as exec would.
ENTRY_POINT = "cloudeploy.cli:main"

#: Imported once by the forkserver; children inherit them.
PRELOAD = [
    "cloudeploy.serving.launcher",
    "cloudeploy.cli",
    "cloudeploy.commands.serve",
    "cloudeploy.serving.server",
    "cloudeploy.serving.app",
    "cloudeploy.packaging.load",
    "cloudeploy.packaging.onnx_format",
    "onnxruntime",  # compiled graphs: what most packages serve
    "sklearn.linear_model",
    "sklearn.ensemble",
    "joblib",
]

#: One replica, one core: many servers share few CPUs.
_THREAD_LIMITS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

_LIVE: set[ServerProcess] = set()
_LIVE_LOCK = threading.Lock()
_CONTEXT_LOCK = threading.Lock()
_CONTEXT = None


class ServerProcess:
    """A launched ``cloudeploy`` process: pid, liveness, and a stop that reaps it."""

    def __init__(self, process: multiprocessing.process.BaseProcess) -> None:
        self._process = process
        self.pid: int = process.pid  # type: ignore[assignment]

    def is_alive(self) -> bool:
        return self._process.is_alive()

    @property
    def exitcode(self) -> int | None:
        """None while running; negative for a signal, as with subprocess."""
        return self._process.exitcode

    def terminate(self) -> None:
        """Send SIGTERM (the server drains and exits) without waiting."""
        if self._process.is_alive():
            self._process.terminate()

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, SIGKILL after ``grace`` seconds, reap, and forget. Idempotent."""
        self.terminate()
        self._process.join(grace)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        with _LIVE_LOCK:
            _LIVE.discard(self)


def launch_server(
    argv: list[str], log_path: str | Path, *, env: Mapping[str, str] | None = None
) -> ServerProcess:
    """Start ``cloudeploy <argv>`` with stdout and stderr appended to ``log_path``.

    Returns at once; the caller probes readiness. ``env`` overrides entries of
    this process's current environment for the child.
    """
    child_env = {**_THREAD_LIMITS, **os.environ, **(env or {})}
    process = _context().Process(
        target=_run, args=(list(argv), str(log_path), child_env), name=f"cloudeploy-{argv[0]}"
    )
    process.start()
    handle = ServerProcess(process)
    with _LIVE_LOCK:
        _LIVE.add(handle)
    return handle


def live_processes() -> list[ServerProcess]:
    """Every launched process not yet stopped."""
    with _LIVE_LOCK:
        return list(_LIVE)


def stop_all(processes: list[ServerProcess] | None = None, grace: float = 10.0) -> None:
    """Stop ``processes`` (default: all launched ones): signal all first, so they drain in parallel."""
    targets = live_processes() if processes is None else list(processes)
    for process in targets:
        process.terminate()
    for process in targets:
        process.stop(grace)


atexit.register(stop_all)


def _context():
    global _CONTEXT
    with _CONTEXT_LOCK:
        if _CONTEXT is None:
            methods = multiprocessing.get_all_start_methods()
            method = "forkserver" if "forkserver" in methods else "spawn"
            _CONTEXT = multiprocessing.get_context(method)
            if method == "forkserver":
                _CONTEXT.set_forkserver_preload(PRELOAD)
        return _CONTEXT


def _run(argv: list[str], log_path: str, env: dict[str, str]) -> None:
    """Child process: ``cloudeploy <argv>`` in ``env``, output to ``log_path``."""
    die_with_parent(signal.SIGTERM)  # no server outlives the forkserver
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.environ.clear()
    os.environ.update(env)
    # The forkserver's sys.path was fixed when it started; PYTHONPATH set since then
    # (a test making its model module importable) must still apply, as through exec.
    for entry in reversed(env.get("PYTHONPATH", "").split(os.pathsep)):
        if entry and entry not in sys.path:
            sys.path.insert(0, entry)
    sys.argv = ["cloudeploy", *argv]
    module, _, function = ENTRY_POINT.partition(":")
    getattr(importlib.import_module(module), function)()
