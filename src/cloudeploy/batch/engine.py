"""The local batch engine: planned chunks, scored by worker processes, written as parts.

A job is planned once (:mod:`cloudeploy.batch.plan`) into its job directory
(:mod:`cloudeploy.batch.jobdir`). :func:`run_job` then scores the chunks that
are not finished yet: the runner loads the model once and forks the worker
processes, which share it; per chunk a worker reads only that chunk's bytes,
checks the rows with numpy masks, predicts in a few cache-sized calls and
writes the chunk's part file and failed rows atomically. Memory is
bounded by ``chunk_rows`` times the number of workers, whatever the input size.
When every chunk is done the parts are concatenated in order into the
destination and the failed rows, numbered across the whole input, into the
errors file beside it.

Killing a job loses at most the chunks in flight: running it again with the
same spec (the job id derives from it) skips finished chunks. The step
boundaries are crash points (:mod:`cloudeploy.crashpoints`) for the
crash-resume tests: ``local.batch.after_plan`` (in :mod:`~cloudeploy.batch.plan`),
``local.batch.after_part`` (a chunk's part and record are written),
``local.batch.before_assemble`` and ``local.batch.after_assemble`` (the
destination is written, the final status not yet).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from cloudeploy import lazy
from cloudeploy.batch import io, remote
from cloudeploy.batch.jobdir import JobDir, write_json
from cloudeploy.batch.spec import PREDICTION_COLUMN, BatchSpec
from cloudeploy.batch.validate import check_rows
from cloudeploy.crashpoints import crash_point
from cloudeploy.errors import OperationFailed
from cloudeploy.lifetime import die_with_parent
from cloudeploy.packaging.load import load_package
from cloudeploy.packaging.manifest import read_manifest

np = lazy.module("numpy")
pa = lazy.module("pyarrow")

#: ``progress(chunks_done, chunks_total, rows_done)``
ChunkProgress = Callable[[int, int, int], None]


def _no_progress(done: int, total: int, rows: int) -> None:
    pass


# -- running -------------------------------------------------------------------


def worker_count(job: JobDir) -> int:
    """How many worker processes a run of ``job`` would use now."""
    record = job.record()
    pending = len(record["chunks"]) - len(job.finished())
    return max(1, min(record["spec"].get("workers") or os.cpu_count() or 1, pending))


def run_job(job: JobDir, *, progress: ChunkProgress = _no_progress) -> dict[str, Any]:
    """Score every unfinished chunk, then assemble the outputs. Returns the final status.

    With more than one worker (:func:`worker_count`) this forks, so it belongs
    in a process without threads of its own: the runner process
    (``python -m cloudeploy.batch``). With one worker it runs in the caller.

    Raises ConflictError if another process runs the job, and OperationFailed
    when more than ``max_error_rate`` of the rows failed (the errors file is
    written either way; the destination only on success).
    """
    record = job.record()
    spec = BatchSpec.from_dict(record["spec"])
    lock = job.lock()
    try:
        _remove_stale_temporaries(job)
        chunks = record["chunks"]
        pending = [c for c in chunks if c["index"] not in job.finished()]
        job.write_status(
            state="running", pid=os.getpid(), chunks_total=len(chunks), started_at=time.time(), message=""
        )
        try:
            _score(job, record, spec, pending, len(chunks), progress)
            return _finish(job, record, spec)
        except KeyboardInterrupt:
            job.write_status(state="interrupted", message="interrupted; run the job again to resume it")
            raise
        except BaseException as error:
            message = error.message if isinstance(error, OperationFailed) else f"{type(error).__name__}: {error}"
            job.write_status(state="failed", message=message, finished_at=time.time())
            raise
    finally:
        JobDir.unlock(lock)


def _remove_stale_temporaries(job: JobDir) -> None:
    """Drop the half-written files of a run that was killed (only the lock holder calls this)."""
    for path in job.parts.glob(".*.tmp"):
        path.unlink(missing_ok=True)


def _score(job: JobDir, record: dict, spec: BatchSpec, pending: list[dict], total: int, progress: ChunkProgress) -> None:
    done = total - len(pending)
    rows = sum(r["records"] for r in job.finished().values())
    progress(done, total, rows)
    if not pending:
        return
    workers = worker_count(job)
    context = _context(job, record, spec)
    rows_ahead = sum(c.get("rows") or c.get("rows_estimate") or spec.chunk_rows for c in pending)
    context["runtime"], measured = choose_runtime(job, context, pending[0], rows=rows_ahead, workers=workers)
    _init_worker(context, measured)  # forked workers share the model the measurement loaded
    io.import_formats(context["input_format"], context["output_format"])
    if workers <= 1:
        for chunk in pending:
            rows += process_chunk(chunk)["records"]
            done += 1
            progress(done, total, rows)
            crash_point("local.batch.after_part")
        return
    import multiprocessing

    # fork shares the model loaded above; it is safe because run_job runs in
    # its own runner process (python -m cloudeploy.batch) that starts no threads.
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("fork"), initializer=die_with_parent
    )
    with pool:
        queue = iter(pending)
        # A bounded number of chunks in flight keeps memory flat and cancels fast.
        running = {pool.submit(process_chunk, c) for c in _take(queue, 2 * workers)}
        while running:
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                rows += future.result()["records"]
                done += 1
                progress(done, total, rows)
                crash_point("local.batch.after_part")
            running |= {pool.submit(process_chunk, c) for c in _take(queue, len(finished))}


def _take(iterator, count: int) -> list:
    return [item for _, item in zip(range(count), iterator, strict=False)]


def _context(job: JobDir, record: dict, spec: BatchSpec) -> dict[str, Any]:
    return {
        "job_dir": str(job.path),
        "package_dir": record["package_dir"],
        "trust": record["trust"],
        "input_format": spec.input_format,
        "output_format": spec.output_format,
        "carry": list(spec.carry_columns),
        "features": record["feature_columns"],
        "batch_rows": spec.chunk_rows,
    }


def _finish(job: JobDir, record: dict, spec: BatchSpec) -> dict[str, Any]:
    finished = job.finished()
    chunks = record["chunks"]
    records = failed = written = 0
    errors_path = Path(record["local_errors"])
    errors_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = errors_path.with_name(f".{errors_path.name}.tmp")
    with open(tmp, "wb") as out:
        for chunk in chunks:
            meta = finished[chunk["index"]]
            with open(job.errors_path(chunk["index"]), "rb") as handle:
                for line in handle:
                    failure = json.loads(line)
                    failure["row"] += records + 1
                    out.write(json.dumps(failure, default=str).encode() + b"\n")
            records += meta["records"]
            failed += meta["failed"]
            written += meta["rows"]
    os.replace(tmp, errors_path)
    _publish(errors_path, record["errors"])
    counts = {"records": records, "rows": written, "failed_rows": failed, "errors": record["errors"]}
    if records and failed / records > spec.max_error_rate:
        raise OperationFailed(
            f"{failed} of {records} rows failed ({failed / records:.1%}), more than max_error_rate "
            f"{spec.max_error_rate:.1%}; see {record['errors']}",
            hint="fix the input, or raise --max-error-rate to accept the rest",
        )
    parts = [job.part_path(c["index"], spec.output_format) for c in chunks]  # type: ignore[arg-type]
    destination = Path(record["local_destination"])
    crash_point("local.batch.before_assemble")
    io.assemble(parts, destination, spec.output_format, spec.output_columns)  # type: ignore[arg-type]
    _publish(destination, record["destination"])
    crash_point("local.batch.after_assemble")
    return job.write_status(
        state="succeeded", finished_at=time.time(), outputs=[record["destination"]], **counts
    )


def _publish(path: Path, uri: str) -> None:
    """Upload ``path`` to a cloud ``uri``; a local ``uri`` is ``path`` itself."""
    if remote.is_remote(uri):
        remote.object_store(uri).upload(path, uri)


# -- the worker ----------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(context: dict[str, Any], loaded: Any = None) -> None:
    """Load the model once per process, unless ``loaded`` (the model for ``context``'s runtime)
    is given; keep pyarrow to one thread: the workers are the parallelism."""
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    key = (context["package_dir"], context["trust"], context.get("runtime"))
    if _WORKER.get("key") != key:
        _WORKER["model"] = loaded if loaded is not None else load_package(
            context["package_dir"], trust=context["trust"], runtime=context.get("runtime"), batch=True
        )
        _WORKER["predict"] = array_predict(_WORKER["model"])
        _WORKER["key"] = key
    _WORKER["context"] = context


def process_chunk(chunk: dict[str, Any]) -> dict[str, Any]:
    """Score one chunk; write its part, its failed rows, then its finished record. Returns the record."""
    context = _WORKER["context"]
    model = _WORKER["model"]
    job = JobDir(Path(context["job_dir"]))
    index = chunk["index"]
    fmt = context["output_format"]
    carry = context["carry"]
    numeric = {c for c, f in zip(context["features"], model.schema.features, strict=True) if f.type in ("number", "integer")}
    writer = io.PartWriter(job.part_path(index, fmt), fmt)
    failures: list[dict[str, Any]] = []
    records = 0
    try:
        for batch in io.read_chunk(
            chunk,
            context["input_format"],
            features=context["features"],
            numeric=numeric,
            carry=carry,
            batch_rows=context["batch_rows"],
        ):
            for record_number, reason in batch.rejected:
                failures.append({"row": records + record_number, "reason": reason})
            checked = check_rows(batch.table, context["features"], model.schema)
            failed = dict(checked.failures)
            ok = checked.ok
            predictions, rejected = _predict_in_slices(_WORKER["predict"], checked.model_input)
            if rejected:
                kept = np.flatnonzero(ok)
                for position, reason in rejected.items():
                    failed[int(kept[position])] = reason
                    ok[kept[position]] = False
            carried = batch.table.select(carry).to_pylist() if failed and carry else None
            for row, reason in sorted(failed.items()):
                failure = {"row": records + int(batch.records[row]), "reason": reason}
                if carried is not None:
                    failure.update(carried[row])
                failures.append(failure)
            writer.write(_output_table(batch.table, carry, ok, predictions, fmt))
            records += batch.total
        writer.close()
    except BaseException:
        writer.abort()
        raise
    failures.sort(key=lambda f: f["row"])
    tmp = job.errors_path(index).with_name(f".{job.errors_path(index).name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        for failure in failures:
            handle.write(json.dumps(failure, default=str).encode() + b"\n")
    os.replace(tmp, job.errors_path(index))
    meta = {
        "index": index,
        "records": records,
        "rows": writer.rows,
        "failed": len(failures),
        "pid": os.getpid(),
        "finished_at": time.time(),
    }
    write_json(job.done_path(index), meta)
    return meta


def array_predict(model) -> Callable[[Any], Any]:
    """``model``'s predict for whole chunks, returning an array where the served output is one.

    Class labels and regression values come back as the estimator's numpy
    array (what ``LoadedModel.predict`` would turn into a list, value for
    value), which pyarrow takes without a Python object per row. Other outputs
    (probabilities, ONNX models) go through ``LoadedModel.predict``.
    """
    if model.runtime == "onnx" and hasattr(model.model, "array_predictor"):
        return model.model.array_predictor(model.output_kind)  # a compiled graph
    if model.manifest.format == "onnx" or model.output_kind not in ("class_labels", "regression"):
        return model.predict
    estimator_predict = model.model.predict
    if model.output_kind == "regression":
        return lambda data: np.asarray(estimator_predict(data), dtype=float)
    return estimator_predict


#: At most this many rows of the first chunk are predicted by both runtimes
#: when a job measures them: one predict slice (:data:`PREDICT_BYTES`), the
#: size scoring calls the model with, since a forest's CPU per row in
#: scikit-learn depends on it (for the bench's forest 7.4 µs at 8,192 rows, 6.6 at
#: 17,476). The measurement runs before the workers start: serial time.
RUNTIME_SAMPLE_ROWS = 20_000

#: Wall seconds that loading the original model and racing it against the
#: compiled graph cost before any row is scored: importing scikit-learn takes
#: 1.1–1.5 CPU-s on this machine, unpickling a forest and predicting the sample
#: with both runtimes ~0.5 s more.
ORIGINAL_TRIAL_SECONDS = 2.0


def choose_runtime(job: JobDir, context: dict[str, Any], chunk: dict[str, Any], *, rows: int = 0,
                   workers: int = 1) -> tuple[str | None, Any]:
    """The runtime this job scores with, recorded in its status (``runtime``, ``runtime_choice``),
    and that runtime's model when the choice loaded it (else None).

    A package with a verified compiled graph can run on onnxruntime (its batch
    graph: a forest in blocks of trees) or on the original model. Building the
    package timed both on a batch of rows (``compiled.batch``). When the
    original could not save this job (about ``rows`` rows on ``workers``
    workers) more than loading and racing it costs (:data:`ORIGINAL_TRIAL_SECONDS`),
    the job scores with the graph and never loads the original
    (:func:`package_time_choice`). Otherwise, or for a package without those
    figures, both predict the same sample of the first chunk (one predict
    call's rows, at most :data:`RUNTIME_SAMPLE_ROWS`; CPU time, interleaved,
    best of two) and the faster wins. A resumed job keeps the choice of its
    first run, so every chunk is scored the same way. None (the package's only
    runtime) when there is nothing to choose.
    """
    status = job.status_record()
    if status.get("runtime"):
        return status["runtime"], None
    manifest = read_manifest(context["package_dir"])
    if manifest.runtime != "onnx" or manifest.format == "onnx":
        job.write_status(runtime=manifest.runtime, runtime_choice={"reason": "the package has one runtime"})
        return None, None
    settled = package_time_choice(manifest, rows, workers)
    if settled is not None:
        job.write_status(runtime="onnx", runtime_choice=settled)
        return "onnx", None
    return _measured_choice(job, context, chunk, manifest)


def package_time_choice(manifest, rows: int, workers: int) -> dict[str, Any] | None:
    """The ``runtime_choice`` of a job of ``rows`` rows on ``workers`` workers that the package's
    recorded speeds settle on the compiled graph, or None when the original might be enough
    faster to repay loading it (or the package recorded no speeds)."""
    speeds = recorded_speeds(manifest)
    if speeds is None:
        return None
    saving = (speeds["onnx"] - speeds["original"]) * rows / 1e6 / max(1, workers)
    if saving > ORIGINAL_TRIAL_SECONDS:
        return None
    return {
        "reason": "the original model could not save this job the time loading it costs; it is not loaded",
        "estimated_rows": rows,
        "package_time_cpu_seconds_per_million_rows": speeds,
        "package_time_rows": manifest.compiled["batch"].get("speed_rows"),
    }


def recorded_speeds(manifest) -> dict[str, float] | None:
    """The build's CPU-s per million rows of the compiled graph (``onnx``) and the original,
    or None without a verified graph or without both figures as finite, non-negative numbers
    (they are outside the digest: an edited manifest may hold anything there)."""
    speeds = ((manifest.compiled or {}).get("batch") or {}).get("cpu_seconds_per_million_rows")
    if not manifest.compiled_file or not isinstance(speeds, dict):
        return None
    figures = {name: speeds.get(name) for name in ("onnx", "original")}
    if not all(type(v) in (int, float) and math.isfinite(v) and v >= 0 for v in figures.values()):
        return None
    return figures


def _measured_choice(job: JobDir, context: dict[str, Any], chunk: dict[str, Any], manifest) -> tuple[str, Any]:
    """Both runtimes timed on the first rows of ``chunk``: the faster, recorded, and its model."""
    sample = _first_rows(context, chunk, manifest)
    predictors: dict[str, Callable[[Any], Any]] = {}
    models = {}
    for runtime in ("onnx", "sklearn"):
        try:
            models[runtime] = load_package(
                context["package_dir"], trust=context["trust"], runtime=runtime, batch=True
            )
        except Exception as error:  # noqa: BLE001 - e.g. the original refused by the allowlist
            job.write_status(runtime="onnx", runtime_choice={"reason": f"{runtime} unavailable: {error}"})
            return "onnx", models.get("onnx")
        predictors[runtime] = array_predict(models[runtime])
    if sample is None or not len(sample):
        job.write_status(runtime="onnx", runtime_choice={"reason": "no sample rows to measure"})
        return "onnx", models["onnx"]
    timings = {runtime: float("inf") for runtime in predictors}
    for predict in predictors.values():
        _predict(predict, _slicer(sample)(0, 10))  # warm up
    # CPU time, interleaved, best of two: what a busy shared machine disturbs least.
    for _ in range(2):
        for runtime, predict in predictors.items():
            started = time.process_time()
            _predict(predict, sample)  # rows the model refuses are set aside, as when scoring
            timings[runtime] = min(timings[runtime], time.process_time() - started)
    chosen = min(timings, key=timings.__getitem__)
    rows = len(sample)
    job.write_status(
        runtime=chosen,
        runtime_choice={
            "sample_rows": rows,
            "cpu_seconds_per_million_rows": {k: round(v / rows * 1e6, 3) for k, v in timings.items()},
        },
    )
    return chosen, models[chosen]


def _first_rows(context: dict[str, Any], chunk: dict[str, Any], manifest) -> Any:
    """Model input for the first rows of ``chunk`` that pass the checks, or None."""
    numeric = {
        c for c, f in zip(context["features"], manifest.schema.features, strict=True) if f.type in ("number", "integer")
    }
    batches = io.read_chunk(
        chunk,
        context["input_format"],
        features=context["features"],
        numeric=numeric,
        carry=context["carry"],
        batch_rows=min(context["batch_rows"], RUNTIME_SAMPLE_ROWS),
    )
    for batch in batches:  # a CSV block can hold more rows than asked for
        model_input = check_rows(batch.table, context["features"], manifest.schema).model_input
        return _slicer(model_input)(0, min(RUNTIME_SAMPLE_ROWS, _slice_rows(model_input)))
    return None


#: Input bytes (as float32) per predict call. A forest walks every tree over the
#: whole input of a call; ~2 MiB (17k rows of 30 features) stays in the CPU
#: cache: 0.31 instead of 0.42 CPU-s per 50,000 rows for a 100-tree forest.
#: Rows are predicted independently, so the predictions are the same.
PREDICT_BYTES = 2 << 20


def _predict_in_slices(predict: Callable[[Any], Any], model_input) -> tuple[Any, dict[int, str]]:
    """:func:`_predict` over slices of about :data:`PREDICT_BYTES` of ``model_input``, joined."""
    rows = _slice_rows(model_input)
    if len(model_input) <= rows:
        return _predict(predict, model_input)
    take = _slicer(model_input)
    pieces, rejected = [], {}
    for start in range(0, len(model_input), rows):
        predictions, refused = _predict(predict, take(start, start + rows))
        pieces.append(predictions)
        rejected.update({start + position: reason for position, reason in refused.items()})
    if all(isinstance(piece, np.ndarray) for piece in pieces):
        return np.concatenate(pieces), rejected
    return [value for piece in pieces for value in piece], rejected


def _slice_rows(model_input) -> int:
    """Rows per predict call: about :data:`PREDICT_BYTES` of float32 input."""
    shape = getattr(model_input, "shape", (len(model_input), 1))
    return max(1024, PREDICT_BYTES // (4 * max(1, shape[1] if len(shape) > 1 else 1)))


def _slicer(model_input) -> Callable[[int, int], Any]:
    if hasattr(model_input, "iloc"):
        return lambda a, b: model_input.iloc[a:b]
    return lambda a, b: model_input[a:b]


def _predict(predict: Callable[[Any], Any], model_input) -> tuple[Any, dict[int, str]]:
    """Predictions for every row, isolating rows the model itself refuses.

    A chunk the estimator rejects (an unseen category, say) is split in halves
    until the offending rows are found, so one bad row costs a few predict
    calls, not a call per row. Returns the predictions of the accepted rows and
    ``{position: reason}`` for the refused ones.
    """
    if len(model_input) == 0:
        return [], {}
    try:
        return predict(model_input), {}
    except (ValueError, TypeError) as error:
        if len(model_input) == 1:
            return [], {0: f"the model rejected the row: {error}"}
    middle = len(model_input) // 2
    take = _slicer(model_input)
    first, first_rejected = _predict(predict, take(0, middle))
    second, second_rejected = _predict(predict, take(middle, len(model_input)))
    rejected = {**first_rejected, **{middle + k: v for k, v in second_rejected.items()}}
    return [*first, *second], rejected


def _output_table(table, carry: list[str], ok, predictions: list[Any], fmt: str):
    """The carried columns of the rows that passed, then their predictions.

    CSV has no list type: a list-valued prediction (probabilities) is written as JSON text.
    """
    if fmt == "csv" and len(predictions) and isinstance(predictions[0], (list, dict)):
        predictions = [json.dumps(p) for p in predictions]
    column = pa.array(predictions) if len(predictions) else pa.array([], pa.float64())
    if not carry:
        return pa.table({PREDICTION_COLUMN: column})
    carried = table.select(carry)
    if not ok.all():
        carried = carried.filter(pa.array(ok))
    return carried.append_column(PREDICTION_COLUMN, column)
