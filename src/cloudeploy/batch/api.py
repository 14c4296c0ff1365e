"""``batch_predict``: one call for batch prediction on every provider.

    >>> job = cloudeploy.batch_predict("house-price@prod", "data/*.csv", "out/preds.parquet",
    ...                                id_column="house_id")      # doctest: +SKIP
    >>> job.status().failed_rows, job.outputs()                    # doctest: +SKIP

The spec (:class:`~cloudeploy.batch.spec.BatchSpec`) is the same everywhere;
the provider's batch backend (``provider.batch_backend()``, see
:mod:`cloudeploy.providers.capabilities`) decides who runs it: the local engine
(an ``EngineBatch``: :mod:`cloudeploy.batch.local`), or a cloud service (a
``CloudBatchBackend`` driven by :mod:`cloudeploy.batch.cloudjob`): a Vertex AI
BatchPredictionJob (:mod:`cloudeploy.providers.vertex.batch`), a SageMaker
transform job (:mod:`cloudeploy.providers.sagemaker.batch`), or a third-party
provider's own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from cloudeploy.batch.cloudjob import cloud_job, submit_cloud
from cloudeploy.batch.jobs import BatchJob
from cloudeploy.batch.local import local_job, submit_local
from cloudeploy.batch.spec import BatchSpec
from cloudeploy.errors import ConfigError, ValidationError
from cloudeploy.providers import resolve_provider
from cloudeploy.providers.base import ProgressCallback, no_progress
from cloudeploy.providers.capabilities import CloudBatchBackend, EngineBatch


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
    backend = resolve_provider(provider, profile)
    runner = backend.batch_backend()
    unknown = sorted(set(spec.options) - runner.known_options)
    if unknown:
        known = ", ".join(sorted(runner.known_options)) or "none"
        raise ValidationError(
            f"unknown batch option(s) for the {backend.name} provider: {', '.join(unknown)} (known: {known})"
        )
    # The provider's typed options check the kinds of those it declares (a wrong value is refused by name).
    declared = backend.options_class.specs()
    backend.check_options({k: v for k, v in spec.options.items() if k in declared}, step="batch")
    if isinstance(runner, CloudBatchBackend):
        return submit_cloud(spec, runner, wait=wait, timeout=timeout, progress=progress)
    if isinstance(runner, EngineBatch):
        return submit_local(spec, backend, model, trust=trust, wait=wait, timeout=timeout, progress=progress)
    raise _unknown_kind(runner)


def job_handle(job_id: str, *, provider: Any = None, profile: Any = None) -> BatchJob:
    """A handle on an existing job by id (from the provider's batch backend)."""
    backend = resolve_provider(provider, profile)
    runner = backend.batch_backend()
    if isinstance(runner, CloudBatchBackend):
        return cloud_job(job_id, runner)
    if isinstance(runner, EngineBatch):
        return local_job(job_id, backend)
    raise _unknown_kind(runner)


def _unknown_kind(runner: Any) -> ConfigError:
    return ConfigError(f"{type(runner).__name__} is not a batch backend cloudeploy can drive",
                       hint="a provider's batch_backend() returns an EngineBatch or a CloudBatchBackend")
