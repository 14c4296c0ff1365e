"""``serve(package_dir, settings)``: run the model server until SIGTERM, in 1..N processes.

Each process owns an explicitly created listening socket and a uvicorn
``Server`` running :func:`create_app`. With ``workers > 1`` every worker binds the
same port with ``SO_REUSEPORT``, so the kernel spreads connections across
processes (``uvicorn --workers`` can pin every keep-alive connection to one
worker); the parent only supervises. Predictions run on one thread per process,
so N workers use N cores.

Runtime: a package with a verified compiled graph is served by onnxruntime
(one intra-op thread per worker) and nothing is unpickled; ``settings.runtime``
forces ``onnx`` or ``sklearn`` (the original model file).

Lifecycle: the socket listens at once and ``/livez`` answers; the package is
loaded (digests verified) on a background thread; then readiness turns 200 and
one line ``cloudeploy serve: ready on http://HOST:PORT`` goes to stderr. A package
that cannot be loaded stops the server with its error. On SIGTERM (or SIGINT)
readiness turns 503, the listener closes, in-flight requests finish (bounded by
``drain_timeout``), queued capture is flushed, and ``serve`` returns normally,
so the process exits 0.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import uvicorn

from cloudeploy.errors import CloudeployError, ConfigError, PackageError
from cloudeploy.packaging.load import load_package
from cloudeploy.packaging.manifest import read_manifest
from cloudeploy.serving.app import create_app
from cloudeploy.serving.guard import is_loopback
from cloudeploy.serving.settings import ServerSettings

READY_MESSAGE = "cloudeploy serve: ready on {url}"
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def serve(package_dir: str | Path, settings: ServerSettings | None = None) -> None:
    """Serve the package in ``package_dir``; blocks until SIGTERM/SIGINT.

    Raises the package's :class:`~cloudeploy.errors.PackageError` (tampered,
    unsafe, version mismatch) if it cannot be loaded, and ConfigError if the port
    cannot be bound. Returns normally after a graceful drain.
    """
    settings = (settings or ServerSettings()).validate()
    package_dir = Path(package_dir)
    read_manifest(package_dir)  # a directory that is not a package fails before we bind
    if settings.workers == 1:
        sock = bind_socket(settings.host, settings.port, reuse_port=False)
        run_process(package_dir, settings, sock, on_ready=lambda: _announce(settings.host, sock))
    else:
        _supervise(package_dir, settings)


def bind_socket(host: str, port: int, *, reuse_port: bool, listen: bool = True) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0 picks a free port), listening unless told not to."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be TCP explicitly: asyncio only sets TCP_NODELAY on accepted
    # sockets whose proto says TCP, and without it every answer waits ~40 ms
    # for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
        if listen:
            sock.listen(2048)
    except OSError as error:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {error.strerror or error}", hint="pick another --port or --host"
        ) from None
    return sock


def url_of(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def run_process(
    package_dir: Path,
    settings: ServerSettings,
    sock: socket.socket,
    *,
    on_ready: Any = None,
) -> None:
    """Serve on ``sock`` in this process until a stop signal; raise if the package fails to load."""
    failures: list[BaseException] = []

    def load():
        return load_package(
            package_dir,
            trust=settings.trust,
            allowed_globals=settings.allowed_globals,
            allow_version_mismatch=settings.allow_version_mismatch,
            runtime=settings.runtime,
        )

    def failed(error: BaseException) -> None:
        failures.append(error)
        server.should_exit = True

    app = create_app(
        settings=settings,
        loader=load,
        on_loaded=lambda _server: on_ready and on_ready(),
        on_failed=failed,
        # Bound to loopback (local replicas, emulators, `cloudeploy serve`): local
        # programs only, never a web page. In a container the cloud's front end
        # owns Host and origin, so no guard there.
        loopback_only=is_loopback(settings.host),
    )
    config = uvicorn.Config(
        app,
        log_level=settings.log_level,
        access_log=False,
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=settings.drain_timeout,  # type: ignore[arg-type]  # a float works
    )
    server = DrainingServer(config, on_stop=lambda: setattr(app.state.server, "draining", True))
    server.run(sockets=[sock])
    if failures:
        error = failures[0]
        if isinstance(error, CloudeployError):
            raise error
        raise PackageError(f"cannot load the package in {package_dir}: {error}") from error


class DrainingServer(uvicorn.Server):
    """uvicorn's Server, except that a stop signal drains and then *returns*.

    uvicorn re-raises the captured signal after shutting down (so the process
    would die of SIGTERM); a container runtime should see exit code 0.
    ``on_stop()`` runs first, so readiness turns 503 before the listener closes.
    """

    def __init__(self, config: uvicorn.Config, *, on_stop: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_stop = on_stop

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def stop(signum, frame):
            if self.should_exit and signum == signal.SIGINT:
                self.force_exit = True
            self._on_stop()
            self.should_exit = True

        previous = {sig: signal.signal(sig, stop) for sig in _STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _announce(host: str, sock: socket.socket) -> None:
    sys.stderr.write(READY_MESSAGE.format(url=url_of(host, sock)) + "\n")
    sys.stderr.flush()


# -- several processes ----------------------------------------------------


def _supervise(package_dir: Path, settings: ServerSettings) -> None:
    """Start ``settings.workers`` SO_REUSEPORT workers; forward stop signals; wait for them."""
    import multiprocessing

    # Held (bound, not listening) so that port 0 resolves once for every worker.
    reservation = bind_socket(settings.host, settings.port, reuse_port=True, listen=False)
    worker_settings = settings.with_changes(port=reservation.getsockname()[1], workers=1)
    metrics_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="cloudeploy-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    context = multiprocessing.get_context("spawn")
    events = context.Queue()
    workers = [
        context.Process(
            target=_worker_main,
            args=(str(package_dir), worker_settings, index, events),
            name=f"cloudeploy-serve-{index}",
        )
        for index in range(settings.workers)
    ]
    stopping = threading.Event()

    def stop(signum, frame):
        stopping.set()
        for worker in workers:
            if worker.is_alive() and worker.pid:
                os.kill(worker.pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in _STOP_SIGNALS}
    failure: tuple[str, int] | None = None
    try:
        for worker in workers:
            worker.start()
        ready: set[int] = set()
        while any(worker.is_alive() for worker in workers):
            try:
                event = events.get(timeout=0.2)
            except queue.Empty:
                event = None
            if event and event[0] == "ready":
                ready.add(event[1])
                if len(ready) == len(workers):
                    _announce(settings.host, reservation)
            elif event and event[0] == "failed" and failure is None:
                failure = (event[2], event[3])
                stop(signal.SIGTERM, None)
            elif failure is None and not stopping.is_set():
                dead = [w for w in workers if w.exitcode is not None]
                if dead:
                    failure = (f"worker {dead[0].name} exited with code {dead[0].exitcode}", 1)
                    stop(signal.SIGTERM, None)
        for worker in workers:
            worker.join()
        with contextlib.suppress(queue.Empty):
            while failure is None:
                event = events.get(timeout=0.1)
                if event[0] == "failed":
                    failure = (event[2], event[3])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        reservation.close()
        if metrics_dir is not None:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
            shutil.rmtree(metrics_dir, ignore_errors=True)
    if failure is not None:
        message, exit_code = failure
        error = PackageError(message) if exit_code == PackageError.exit_code else CloudeployError(message)
        error.exit_code = exit_code
        raise error


def _worker_main(package_dir: str, settings: ServerSettings, index: int, events) -> None:
    """Entry point of one worker process (spawned)."""
    try:
        sock = bind_socket(settings.host, settings.port, reuse_port=True)
        run_process(Path(package_dir), settings, sock, on_ready=lambda: events.put(("ready", index)))
    except CloudeployError as error:
        events.put(("failed", index, str(error), error.exit_code))
        sys.exit(error.exit_code)
