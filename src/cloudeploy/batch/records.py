"""Cloud batch job records that live with the provider: any runner follows a job by its id.

A cloud job's record (its spec, the registered version, where its input and
output are staged, the remote job's ids) and, once the job ended, its result
are kept in the provider's state store under ``batch/<job-id>``
(docs/state.md), besides the job directory of the machine that submitted it.
A runner whose home has no such directory (a fresh CI runner, another
laptop) gets it back with :func:`restore`; :func:`fetch_staged` then brings
the files the output join reads (the staged parts, the carried id columns,
the rows refused while staging) from the staging bucket, where submit put
them.

A record never moves back: once a job is recorded as ended, a runner that
publishes an older view leaves the ended one in place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cloudeploy.batch.jobdir import TERMINAL_STATES, JobDir, write_json
from cloudeploy.batch.remote import object_store
from cloudeploy.errors import NotFoundError

#: Files of a job directory a record carries (small JSON; the data stays in the bucket).
_STAGED = "staged.json"


def key(job_id: str) -> str:
    return f"batch/{job_id}"


def publish(provider: Any, job: JobDir) -> None:
    """Record ``job`` (its record, staging result and status) in ``provider``'s state store."""
    store = _store(provider)
    if store is None:
        return
    staged = job.path / _STAGED
    view = {
        "record": job.record(),
        "staged": json.loads(staged.read_text()) if staged.is_file() else None,
        "status": job.status_record() if (job.path / "status.json").is_file() else None,
    }

    def merge(current: dict[str, Any] | None) -> dict[str, Any] | None:
        if current is None:
            return view
        ended = (current.get("status") or {}).get("state") in TERMINAL_STATES
        newer = dict(view)
        if ended and (view["status"] or {}).get("state") not in TERMINAL_STATES:
            newer["status"] = current["status"]
        newer["staged"] = view["staged"] or current.get("staged")
        return None if newer == current else newer

    store.update(key(job.job_id), merge)


def restore(provider: Any, job_id: str, home: Path) -> JobDir | None:
    """The job directory of ``job_id`` under ``home``, rebuilt from the state store; None if unrecorded."""
    store = _store(provider)
    found = store.get(key(job_id)) if store is not None else None
    if found is None:
        return None
    value = found.value
    job = JobDir(home / job_id)
    job.create(value["record"])
    if value.get("staged") is not None:
        write_json(job.path / _STAGED, value["staged"])
    if value.get("status") is not None:
        write_json(job.path / "status.json", value["status"])
    return job


def staged_uris(record: dict[str, Any]) -> dict[str, str]:
    """Where submit leaves what a job's output join reads, under the job's staging folder."""
    base = record["input_uri"].rsplit("/", 1)[0]
    return {"ids": f"{base}/ids", "errors": f"{base}/errors.jsonl"}


def fetch_staged(provider: Any, job: JobDir, parts: list[Path], ids: list[Path]) -> None:
    """Download the staged ``parts`` and carried ``ids`` files this runner lacks, and the errors file.

    NotFoundError naming the job when the bucket no longer holds one of them.
    """
    record = job.record()
    uris = staged_uris(record)
    wanted = [(path, f"{record['input_uri']}/{path.name}") for path in parts]
    wanted += [(path, f"{uris['ids']}/{path.name}") for path in ids]
    wanted.append((job.path / "errors.jsonl", uris["errors"]))
    for path, uri in wanted:
        if path.is_file():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            object_store(uri, provider).download(uri, path)
        except NotFoundError:  # the providers' stores translate their SDK's not-found; other errors pass
            raise NotFoundError(
                f"batch job {job.job_id}: {uri} is gone, so this runner cannot join the job's output",
                hint="follow the job on the runner that submitted it, or run the job again",
            ) from None


def _store(provider: Any) -> Any:
    factory = getattr(provider, "state_store", None)
    return factory() if callable(factory) else None
