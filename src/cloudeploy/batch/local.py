"""Batch jobs run by cloudeploy's engine on this machine (an :class:`EngineBatch` backend).

Jobs live in ``<CLOUDEPLOY_HOME>/batch/<job-id>`` (:mod:`cloudeploy.batch.jobdir`);
:mod:`cloudeploy.batch.plan` plans one from the spec (or finds it, so a re-run
resumes) and :mod:`cloudeploy.batch.engine` scores its chunks, in this process
when one worker waits for it, otherwise in a runner process started in the
background.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cloudeploy.batch.engine import recorded_speeds, run_job, worker_count
from cloudeploy.batch.home import local_home
from cloudeploy.batch.jobdir import JobDir
from cloudeploy.batch.jobs import LocalBatchJob, dismiss_runner, prestart_runner
from cloudeploy.batch.plan import plan_job
from cloudeploy.batch.spec import BatchSpec
from cloudeploy.errors import NotFoundError
from cloudeploy.packaging.manifest import MANIFEST_NAME, read_manifest
from cloudeploy.providers.base import ProgressCallback, no_progress


def plan_local(spec: BatchSpec, provider: Any, model: Any = None, *, trust: bool = False) -> LocalBatchJob:
    """The local job for ``spec``, planned (or found, when it exists)."""
    return LocalBatchJob(plan_job(spec, local_home(provider), model=model, provider=provider, trust=trust))


def submit_local(spec: BatchSpec, provider: Any, model: Any = None, *, trust: bool = False, wait: bool = True,
                 timeout: float | None = None, progress: ProgressCallback = no_progress) -> LocalBatchJob:
    """Run ``spec`` with the local engine; see :func:`cloudeploy.batch.api.batch_predict`."""
    in_process = wait and timeout is None and (spec.workers or os.cpu_count() or 1) == 1
    # A job run in the background gets a runner that imports what the model needs while the plan is made.
    runner = None if in_process else prestart_runner(_expected_runtime(spec, model))
    try:
        job = plan_local(spec, provider, model, trust=trust)
        state = job.status().state
        if state == "succeeded":
            progress(f"batch job {job.job_id} already succeeded")
            return job
        if state == "running":
            progress(f"batch job {job.job_id} is already running; following it")
        elif wait and timeout is None and worker_count(job.job) == 1:
            # One worker needs no process of its own: run here and spare a Python start.
            progress(f"running batch job {job.job_id}")
            run_job(job.job, progress=lambda done, total, rows: progress(f"{done}/{total} chunks, {rows} rows"))
            return job
        else:
            progress(f"running batch job {job.job_id}")
            job.start(runner)
            runner = None
    finally:
        dismiss_runner(runner)
    if wait:
        report = lambda s: progress(f"{s.chunks_done}/{s.chunks_total} chunks, {s.rows} rows")  # noqa: E731
        try:
            job.wait(timeout, progress=report)
        except KeyboardInterrupt:
            job.stop()
            raise
    return job


def local_job(job_id: str, provider: Any) -> LocalBatchJob:
    """The local job ``job_id``; NotFoundError when its directory does not exist."""
    home = local_home(provider)
    job = JobDir(home / job_id)
    if not job.exists():
        raise NotFoundError(f"no local batch job {job_id!r} under {home}")
    return LocalBatchJob(job)


def _expected_runtime(spec: BatchSpec, model: Any) -> str:
    """The runtime the prestarted runner imports ahead: ``onnx`` for a package whose compiled graph
    was no slower than the original at package time (:func:`~cloudeploy.batch.engine.recorded_speeds`:
    then no job of it loads the original), else ``sklearn``."""
    reference = spec.model if model is None else model
    if isinstance(reference, (str, os.PathLike)):
        path = Path(reference).expanduser()
        if (path / MANIFEST_NAME).is_file():
            speeds = recorded_speeds(read_manifest(path))
            return "onnx" if speeds is not None and speeds["original"] >= speeds["onnx"] else "sklearn"
    return "sklearn"
