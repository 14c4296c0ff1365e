"""The directory of a local batch job: what makes it resumable.

::

    <home>/batch/<job-id>/
        job.json                    the spec, the model package, the input fingerprint, the chunk plan
        status.json                 state, counts, pid of the runner (rewritten atomically)
        job.lock                    held (flock) by the process running the job
        run.log                     output of a background runner
        parts/part-00007.<fmt>      the predictions of chunk 7
        parts/part-00007.errors.jsonl   its failed rows (chunk-local record numbers)
        parts/part-00007.json       written last: the chunk is finished

A chunk counts as finished only when its ``.json`` record exists, and every
file is written to a temporary name and renamed, so a job killed at any point
leaves either a finished chunk or nothing for that chunk.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

from cloudeploy.errors import ConflictError, NotFoundError
from cloudeploy.private import private_dir, private_opener

TERMINAL_STATES = ("succeeded", "failed")


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", opener=private_opener) as handle:
        handle.write(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


class JobDir:
    """Paths and records of one local job."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.parts = self.path / "parts"

    @property
    def job_id(self) -> str:
        return self.path.name

    def exists(self) -> bool:
        return (self.path / "job.json").is_file()

    def create(self, record: dict[str, Any]) -> None:
        private_dir(self.path)
        private_dir(self.parts)
        write_json(self.path / "job.json", record)

    def record(self) -> dict[str, Any]:
        if not self.exists():
            raise NotFoundError(f"no batch job at {self.path}")
        return read_json(self.path / "job.json")

    # -- chunks --------------------------------------------------------------

    def part_path(self, index: int, fmt: str) -> Path:
        return self.parts / f"part-{index:05d}.{fmt}"

    def errors_path(self, index: int) -> Path:
        return self.parts / f"part-{index:05d}.errors.jsonl"

    def done_path(self, index: int) -> Path:
        return self.parts / f"part-{index:05d}.json"

    def finished(self) -> dict[int, dict[str, Any]]:
        """The records of finished chunks, by chunk index."""
        done: dict[int, dict[str, Any]] = {}
        if not self.parts.is_dir():
            return done
        for path in self.parts.glob("part-*.json"):
            try:
                record = read_json(path)
            except (OSError, ValueError):
                continue
            done[int(record["index"])] = record
        return done

    # -- status --------------------------------------------------------------

    def write_status(self, **fields: Any) -> dict[str, Any]:
        status = self.status_record()
        status.update(fields, updated_at=time.time())
        write_json(self.path / "status.json", status)
        return status

    def status_record(self) -> dict[str, Any]:
        path = self.path / "status.json"
        if not path.is_file():
            return {"state": "pending"}
        try:
            return read_json(path)
        except ValueError:  # a reader racing the rename on a filesystem without atomic replace
            time.sleep(0.05)
            return read_json(path)

    # -- running -------------------------------------------------------------

    def lock(self) -> int:
        """Take the job's run lock; ConflictError if another process runs it.

        The lock is an flock on ``job.lock``: it is released when its holder
        dies, so a killed job can be resumed at once.
        """
        fd = os.open(self.path / "job.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = self.status_record().get("pid")
            raise ConflictError(
                f"batch job {self.job_id} is already running (pid {holder})",
                hint=f"wait for it: `cloudeploy batch --job-id {self.job_id} ...` resumes it once it stops",
            ) from None
        return fd

    def is_running(self) -> bool:
        """Whether some process holds the run lock now."""
        if not (self.path / "job.lock").exists():
            return False
        fd = os.open(self.path / "job.lock", os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        finally:
            os.close(fd)

    @staticmethod
    def unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
