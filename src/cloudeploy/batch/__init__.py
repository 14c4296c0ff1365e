"""Batch prediction: score files of rows with a model, the same way on every provider.

Public API::

    batch_predict(model, input, output, *, input_format=None, output_format=None,
                  id_column=None, carry_columns=(), features=(), machine_type=None,
                  replica_count=1, max_replica_count=None, max_error_rate=0.1,
                  chunk_rows=50_000, workers=None, job_id=None, provider=None,
                  profile=None, trust=False, wait=True, timeout=None,
                  progress=no_progress, options=None) -> BatchJob
    submit(spec, *, model=None, provider=None, profile=None, trust=False,
           wait=True, timeout=None, progress=no_progress) -> BatchJob
    job_handle(job_id, *, provider=None, profile=None) -> BatchJob
    BatchSpec(model, source, destination, ...)     the job, the same on every provider
    BatchJob: .status() -> BatchStatus, .wait(timeout=None), .outputs(), .errors()

Who runs a spec is the provider's batch backend (``provider.batch_backend()``):
the local engine (``engine``: chunks scored by worker processes, resumable), a
Vertex AI BatchPredictionJob (``providers/vertex/batch.py``) or a SageMaker
transform job (``providers/sagemaker/batch.py``); the cloud runners
check and stage the input with the local engine's readers (``staging``), so
all three write the same columns (the carried columns, then ``prediction``)
and report failed rows the same way. Names are resolved lazily so that
importing this package costs nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "batch_predict": "cloudeploy.batch.api",
    "submit": "cloudeploy.batch.api",
    "job_handle": "cloudeploy.batch.api",
    "BatchSpec": "cloudeploy.batch.spec",
    "BatchJob": "cloudeploy.batch.jobs",
    "BatchStatus": "cloudeploy.batch.jobs",
    "LocalBatchJob": "cloudeploy.batch.jobs",
}

__all__ = [
    "BatchJob",
    "BatchSpec",
    "BatchStatus",
    "LocalBatchJob",
    "batch_predict",
    "job_handle",
    "submit",
]

if TYPE_CHECKING:  # pragma: no cover
    from cloudeploy.batch.api import batch_predict, job_handle, submit
    from cloudeploy.batch.jobs import BatchJob, BatchStatus, LocalBatchJob
    from cloudeploy.batch.spec import BatchSpec


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'cloudeploy.batch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
