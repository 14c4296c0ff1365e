"""``batch_predict``: one call for batch prediction on every provider.

    >>> job = cloudeploy.batch_predict("house-price@prod", "data/*.csv", "out/preds.parquet",
    ...                                id_column="house_id")      # doctest: +SKIP
    >>> job.status().failed_rows, job.outputs()                    # doctest: +SKIP

The spec (:class:`~cloudeploy.batch.spec.BatchSpec`) is the same everywhere;
the provider decides who runs it: the local engine
(:mod:`cloudeploy.batch.engine`), a Vertex AI BatchPredictionJob
(:mod:`cloudeploy.batch.vertex`) or a SageMaker transform job
(:mod:`cloudeploy.batch.sagemaker`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cloudeploy.batch.jobs import BatchJob, LocalBatchJob
from cloudeploy.batch.spec import BatchSpec
from cloudeploy.errors import ConfigError, ValidationError
from cloudeploy.providers.base import ProgressCallback, no_progress

#: Provider-only settings a spec's ``options`` may hold, per provider.
KNOWN_OPTIONS: dict[str, frozenset[str]] = {
    "local": frozenset(),
    # the registered model name for a package path (default: the package's name)
    "vertex": frozenset({"model_name"}),
    # BatchStrategy (MultiRecord | SingleRecord) and MaxPayloadInMB of the transform job
    "sagemaker": frozenset({"model_name", "batch_strategy", "max_payload_mb"}),
}


def batch_predict(
    model: Any,
    input: str,
    output: str,
    *,
    input_format: str | None = None,
    output_format: str | None = None,
    id_column: str | None = None,
    carry_columns: Sequence[str] | str = (),
    features: Sequence[str] = (),
    machine_type: str | None = None,
    replica_count: int = 1,
    max_replica_count: int | None = None,
    max_error_rate: float = 0.1,
    chunk_rows: int = 50_000,
    workers: int | None = None,
    job_id: str | None = None,
    provider: Any = None,
    profile: Any = None,
    trust: bool = False,
    wait: bool = True,
    timeout: float | None = None,
    progress: ProgressCallback = no_progress,
    options: Mapping[str, Any] | None = None,
) -> BatchJob:
    """Score ``input`` with ``model`` into ``output`` and return the job's handle.

    ``model`` is a registered name (``name``, ``name@v3``, ``name@alias``), a
    model file, a package directory, or (local provider) a fitted estimator.
    ``input`` is a local path or glob, ``gs://`` or ``s3://``; formats default
    from the extensions. ``id_column`` (then ``carry_columns``) are copied from
    each input row to its output row, followed by ``prediction``;
    ``carry_columns="*"`` copies every input column, in input order. Rows that
    fail go to the errors file beside ``output``; the job fails only when more
    than ``max_error_rate`` of the rows fail.

    Blocks until the job ends by default (raising OperationFailed if it
    fails); ``wait=False`` returns at once with the job running in the
    background, ``timeout`` bounds the wait (OperationTimeout: the job may
    still be in progress). Running the same spec again resumes the job, or
    returns it if it already finished.
    """
    if isinstance(carry_columns, str):
        carry_columns = [carry_columns]
    carry = ([id_column] if id_column else []) + [c for c in carry_columns if c != id_column]
    spec = BatchSpec(
        model=os.fspath(model) if isinstance(model, (str, os.PathLike)) else type(model).__name__,
        source=str(input),
        destination=str(output),
        input_format=input_format,
        output_format=output_format,
        carry_columns=tuple(carry),
        features=tuple(features),
        machine_type=machine_type,
        replica_count=replica_count,
        max_replica_count=max_replica_count,
        max_error_rate=max_error_rate,
        chunk_rows=chunk_rows,
        workers=workers,
        job_id=job_id,
        options=dict(options or {}),
    )
    return submit(spec, model=model, provider=provider, profile=profile, trust=trust, wait=wait,
                  timeout=timeout, progress=progress)


def submit(
    spec: BatchSpec,
    *,
    model: Any = None,
    provider: Any = None,
    profile: Any = None,
    trust: bool = False,
    wait: bool = True,
    timeout: float | None = None,
    progress: ProgressCallback = no_progress,
) -> BatchJob:
    """Run ``spec`` on its provider; see :func:`batch_predict` for ``wait``/``timeout``.

    ``model`` overrides ``spec.model`` with an object (a fitted estimator).
    """
    from cloudeploy.api import resolve_provider

    backend = resolve_provider(provider, profile)
    unknown = sorted(set(spec.options) - KNOWN_OPTIONS.get(backend.name, frozenset()))
    if unknown:
        known = ", ".join(sorted(KNOWN_OPTIONS.get(backend.name, ()))) or "none"
        raise ValidationError(
            f"unknown batch option(s) for the {backend.name} provider: {', '.join(unknown)} (known: {known})"
        )
    if backend.name == "local":
        return _submit_local(spec, backend, model, trust=trust, wait=wait, timeout=timeout, progress=progress)
    if spec.carries_all:
        # The cloud runners take explicit names; the local planner resolves them itself.
        from cloudeploy.batch.plan import SourceFiles, resolve_carry

        spec = resolve_carry(spec, SourceFiles.of(spec.source, backend))
    if backend.name == "vertex":
        from cloudeploy.batch.vertex import submit_vertex

        return submit_vertex(spec, backend, wait=wait, timeout=timeout, progress=progress)
    if backend.name == "sagemaker":
        from cloudeploy.batch.sagemaker import submit_sagemaker

        return submit_sagemaker(spec, backend, wait=wait, timeout=timeout, progress=progress)
    raise ConfigError(f"the {backend.name} provider has no batch prediction runner (known: local, vertex, sagemaker)")


def local_home(provider: Any) -> Path:
    """Where local batch jobs live: ``<CLOUDEPLOY_HOME>/batch``."""
    home = getattr(provider, "home", None) or os.environ.get("CLOUDEPLOY_HOME") or ".cloudeploy"
    return Path(home).resolve() / "batch"


def plan_local(spec: BatchSpec, provider: Any, model: Any = None, *, trust: bool = False) -> LocalBatchJob:
    """The local job for ``spec``, planned (or found, when it exists)."""
    from cloudeploy.batch.plan import plan_job

    return LocalBatchJob(plan_job(spec, local_home(provider), model=model, provider=provider, trust=trust))


def _submit_local(spec, provider, model, *, trust, wait, timeout, progress) -> LocalBatchJob:
    from cloudeploy.batch.engine import worker_count
    from cloudeploy.batch.jobs import dismiss_runner, prestart_runner

    in_process = wait and timeout is None and (spec.workers or os.cpu_count() or 1) == 1
    # A job run in the background gets a runner that imports scikit-learn while the plan is made.
    runner = None if in_process else prestart_runner()
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
            from cloudeploy.batch.engine import run_job

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


def job_handle(job_id: str, *, provider: Any = None, profile: Any = None) -> BatchJob:
    """A handle on an existing job by id (local jobs: from the job directory)."""
    from cloudeploy.api import resolve_provider
    from cloudeploy.batch.jobdir import JobDir
    from cloudeploy.errors import NotFoundError

    backend = resolve_provider(provider, profile)
    if backend.name == "local":
        job = JobDir(local_home(backend) / job_id)
        if not job.exists():
            raise NotFoundError(f"no local batch job {job_id!r} under {local_home(backend)}")
        return LocalBatchJob(job)
    if backend.name == "vertex":
        from cloudeploy.batch.vertex import vertex_job

        return vertex_job(job_id, backend)
    if backend.name == "sagemaker":
        from cloudeploy.batch.sagemaker import sagemaker_job

        return sagemaker_job(job_id, backend)
    raise ConfigError(f"the {backend.name} provider has no batch prediction runner")
