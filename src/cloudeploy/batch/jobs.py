"""Job handles: follow a batch job on any provider the same way.

``BatchJob`` is what :func:`cloudeploy.batch_predict` returns: ``status()``
reads where the job is now, ``wait()`` blocks until it ends (raising
OperationFailed when it failed, OperationTimeout when the timeout passes while
it may still run), ``outputs()`` lists the output files, ``errors()`` the rows
that failed. :class:`LocalBatchJob` reads its job directory, so any process can
follow a job that another process runs; the cloud runners subclass BatchJob.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudeploy.batch.jobdir import TERMINAL_STATES, JobDir
from cloudeploy.errors import OperationFailed, OperationTimeout

#: ``progress(status)``, called while waiting whenever the status changes.
StatusCallback = Callable[["BatchStatus"], None] | None


@dataclass(frozen=True)
class BatchStatus:
    """Where a batch job is.

    ``state`` is ``pending``, ``running``, ``succeeded``, ``failed`` or
    ``interrupted`` (its runner died; running the job again resumes it).
    ``rows`` counts input rows processed so far, ``failed_rows`` the rows
    reported as failed (known once the job ends on the local engine).
    """

    job_id: str
    provider: str
    state: str
    chunks_done: int = 0
    chunks_total: int = 0
    rows: int = 0
    failed_rows: int = 0
    message: str = ""
    outputs: tuple[str, ...] = ()
    errors: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_STATES

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "provider": self.provider,
            "state": self.state,
            "chunks_done": self.chunks_done,
            "chunks_total": self.chunks_total,
            "rows": self.rows,
            "failed_rows": self.failed_rows,
            "message": self.message,
            "outputs": list(self.outputs),
            "errors": self.errors,
            **self.extra,
        }


class BatchJob(ABC):
    """A handle on one batch prediction job."""

    job_id: str
    provider: str

    @abstractmethod
    def status(self) -> BatchStatus:
        """The job as it is now."""

    @abstractmethod
    def outputs(self) -> list[str]:
        """The output files (paths or URIs) of a finished job; empty before."""

    @abstractmethod
    def errors(self) -> list[dict[str, Any]]:
        """The failed rows: ``{"row": N, "reason": ..., <carried columns>}``, by row."""

    def wait(self, timeout: float | None = None, *, progress: StatusCallback = None, interval: float = 0.2) -> BatchStatus:
        """Block until the job ends and return its status.

        Raises OperationFailed with the job's message if it failed (or was
        interrupted), OperationTimeout after ``timeout`` seconds (the job may
        still be running: check ``status()``).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        last = None
        while True:
            status = self.status()
            if progress is not None and status != last:
                progress(status)
            last = status
            if status.done or status.state == "interrupted":
                break
            self._reap(final=False)
            if deadline is not None and time.monotonic() >= deadline:
                raise OperationTimeout(
                    f"timed out after {timeout:g}s waiting for batch job {self.job_id}; it may still be in progress",
                    hint=f"check it with .status() (CLI: cloudeploy batch --status {self.job_id})",
                )
            self._pause(interval)
        self._reap(final=True)
        if status.state != "succeeded":
            raise OperationFailed(
                f"batch job {self.job_id} {status.state}: {status.message or 'no message'}",
                hint="run the same job again to resume it" if status.state == "interrupted" else None,
            )
        return status

    def _reap(self, *, final: bool) -> None:
        """Hook for handles that own a process: collect it when it has exited (``final``: once it exits)."""
        return None

    def _pause(self, seconds: float) -> None:
        """Wait between two status reads (handles that own a process wake up when it exits)."""
        time.sleep(seconds)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(job_id={self.job_id!r})"


_RUNNER = [sys.executable, "-m", "cloudeploy.batch"]


def prestart_runner(runtime: str = "sklearn") -> subprocess.Popen:
    """Start a job runner before the job is planned; give it the job with :meth:`LocalBatchJob.start`.

    The runner imports the engine, the input readers and what the expected
    ``runtime`` loads with (``sklearn``: scikit-learn; ``onnx``: onnxruntime)
    while the caller plans, which takes that second or so off the job's
    critical path. Until it gets a job it dies with the caller;
    :func:`dismiss_runner` ends it when no job needs running.
    """
    return subprocess.Popen(
        [*_RUNNER, "-", runtime],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def dismiss_runner(runner: subprocess.Popen | None) -> None:
    """End a runner from :func:`prestart_runner` that was given no job."""
    if runner is not None and runner.poll() is None:
        runner.kill()
        runner.wait()
    if runner is not None and runner.stdin is not None:
        runner.stdin.close()


class LocalBatchJob(BatchJob):
    """A job of the local engine, read from its job directory."""

    provider = "local"

    def __init__(self, job: JobDir, process: subprocess.Popen | None = None) -> None:
        self.job = job
        self.job_id = job.job_id
        self._process = process

    @property
    def path(self) -> Path:
        return self.job.path

    def status(self) -> BatchStatus:
        record = self.job.record()
        status = self.job.status_record()
        state = status.get("state", "pending")
        if state == "running" and not self.job.is_running():
            # The runner writes its final state before it lets go of the lock: read again.
            status = self.job.status_record()
            state = status.get("state", "pending")
            if state == "running":
                # A resumed job: the status is the killed run's until the runner we started takes the lock.
                state = "pending" if self._process is not None and self._process.poll() is None else "interrupted"
        elif state == "pending" and self._process is not None and self._process.poll() not in (None, 0):
            state = "interrupted"
        finished = self.job.finished()
        message = status.get("message", "")
        if state == "interrupted" and not message:
            message = "the process running the job stopped before it finished"
        return BatchStatus(
            job_id=self.job_id,
            provider=self.provider,
            state=state,
            chunks_done=len(finished),
            chunks_total=len(record["chunks"]),
            rows=sum(r["records"] for r in finished.values()),
            failed_rows=status.get("failed_rows", sum(r["failed"] for r in finished.values())),
            message=message,
            outputs=tuple(status.get("outputs", ())) if state == "succeeded" else (),
            errors=record["errors"],
            extra={
                "job_dir": str(self.job.path),
                "destination": record["destination"],
                "runtime": status.get("runtime"),
                "runtime_choice": status.get("runtime_choice"),
            },
        )

    def outputs(self) -> list[str]:
        return list(self.status().outputs)

    def errors(self) -> list[dict[str, Any]]:
        record = self.job.record()
        path = Path(record.get("local_errors", record["errors"]))
        if not path.is_file():
            return []
        with path.open() as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def run(self, timeout: float | None = None, *, progress: StatusCallback = None) -> BatchStatus:
        """Run (or resume) the job and wait for it; see :meth:`BatchJob.wait`.

        The job runs in its own process group; interrupting the wait
        (Ctrl-C) stops it, and running it again resumes it.
        """
        self.start()
        try:
            return self.wait(timeout, progress=progress)
        except KeyboardInterrupt:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the runner started by :meth:`start` and its workers (the job stays resumable)."""
        process = self._process
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def start(self, runner: subprocess.Popen | None = None) -> LocalBatchJob:
        """Run the job in a background process (group) that outlives this one; return at once.

        ``runner`` is a process from :func:`prestart_runner` to hand the job
        to (a new one is started if it has died).
        """
        if runner is not None and runner.poll() is None and runner.stdin is not None:
            try:
                runner.stdin.write(f"{self.job.path}\n".encode())
                runner.stdin.close()
            except BrokenPipeError:
                pass
            else:
                self._process = runner
                return self
        with open(self.job.path / "run.log", "ab") as log:
            self._process = subprocess.Popen(
                [*_RUNNER, str(self.job.path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        return self

    def _pause(self, seconds: float) -> None:
        if self._process is None or self._process.poll() is not None:
            time.sleep(seconds)
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(seconds)

    def _reap(self, *, final: bool) -> None:
        if self._process is None:
            return
        if final:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=30)  # the runner exits right after writing its last status
        else:
            self._process.poll()

    @property
    def process(self) -> subprocess.Popen | None:
        """The background process started by :meth:`start`, if any."""
        return self._process
