"""What the cloud runners share: staging the input, and joining their output back.

Clouds fail a whole mini-batch for one bad row, and they cannot carry an id
column past a model that does not take it. So before a cloud job starts, the
input is read here with the local engine's readers and checks: rows that fail
go to the errors file exactly as the local engine reports them, the good rows'
features become the job's input parts (one per chunk), and their carried
columns stay in the local job directory (``ids/part-NNNNN.parquet``). Once the
cloud job is done, :func:`assemble_output` zips each output part, line for
line, with its ids and writes the destination in the requested format, so the
three providers produce the same columns and the same predictions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudeploy import lazy
from cloudeploy.batch import io
from cloudeploy.batch.jobdir import JobDir, read_json, write_json
from cloudeploy.batch.plan import feature_columns, input_columns
from cloudeploy.batch.spec import PREDICTION_COLUMN, BatchSpec
from cloudeploy.batch.validate import check_rows
from cloudeploy.errors import OperationFailed

if TYPE_CHECKING:
    import pyarrow as pa

    from cloudeploy.packaging.schema import InputSchema

pa = lazy.module("pyarrow")
pq = lazy.module("pyarrow.parquet")

#: ``upload(index, features)``: store one part of the job's input (a table of the good rows' features).
UploadPart = Callable[[int, "pa.Table"], None]


@dataclass(frozen=True)
class Staged:
    """The result of staging: rows per staged part (by chunk index), records read, rows failed."""

    parts: dict[int, int]
    records: int
    failed: int

    def to_dict(self) -> dict[str, Any]:
        return {"parts": {str(k): v for k, v in self.parts.items()}, "records": self.records, "failed": self.failed}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Staged:
        return cls({int(k): v for k, v in data["parts"].items()}, data["records"], data["failed"])


def stage_input(
    spec: BatchSpec, schema: InputSchema, files: list[str], job: JobDir, upload: UploadPart, errors_path: Path,
    *, before_marker: Callable[[], None] | None = None,
) -> Staged:
    """Check every row of ``files``, upload the good rows' features part by part, keep their ids.

    Idempotent: a job directory that already holds ``staged.json`` is not staged again.
    ``before_marker()`` runs once everything is staged, before ``staged.json`` marks it
    so (what must be done exactly once with the staging, such as publishing the errors).
    Raises OperationFailed when more than ``spec.max_error_rate`` of the rows fail.
    """
    marker = job.path / "staged.json"
    if marker.is_file():
        return Staged.from_dict(read_json(marker))
    names = input_columns(files[0], spec.input_format)  # type: ignore[arg-type]
    columns = feature_columns(spec, schema, names)
    numeric = {c for c, f in zip(columns, schema.features, strict=True) if f.type in ("number", "integer")}
    (job.path / "ids").mkdir(parents=True, exist_ok=True)
    carry = list(spec.carry_columns)
    records = failed = 0
    parts: dict[int, int] = {}
    errors_path.parent.mkdir(parents=True, exist_ok=True)
    with open(errors_path, "wb") as errors:
        for chunk in io.plan_chunks(files, spec.input_format, spec.chunk_rows):  # type: ignore[arg-type]
            kept: list[pa.Table] = []
            features: list[pa.Table] = []
            for batch in io.read_chunk(chunk, spec.input_format, features=columns, numeric=numeric,  # type: ignore[arg-type]
                                       carry=carry, batch_rows=spec.chunk_rows):
                checked = check_rows(batch.table, columns, schema)
                carried = batch.table.select(carry).to_pylist() if carry and checked.failures else None
                entries = [{"row": records + record + 1, "reason": reason} for record, reason in batch.rejected]
                for position, reason in checked.failures.items():
                    entry = {"row": records + int(batch.records[position]) + 1, "reason": reason}
                    entry.update(carried[position] if carried else {})
                    entries.append(entry)
                for entry in sorted(entries, key=lambda e: e["row"]):
                    errors.write(json.dumps(entry, default=str).encode() + b"\n")
                failed += len(entries)
                if carry:
                    kept.append(batch.table.select(carry).filter(pa.array(checked.ok)))
                features.append(_features_table(checked.model_input, schema))
                records += batch.total
            good = pa.concat_tables(features) if features else None
            if good is None or good.num_rows == 0:
                continue
            if carry:
                pq.write_table(pa.concat_tables(kept), job.path / "ids" / f"part-{chunk['index']:05d}.parquet")
            upload(chunk["index"], good)
            parts[chunk["index"]] = good.num_rows
    if records and failed / records > spec.max_error_rate:
        raise OperationFailed(
            f"{failed} of {records} rows failed ({failed / records:.1%}), more than max_error_rate "
            f"{spec.max_error_rate:.1%}; see {errors_path}",
            hint="fix the input, or raise --max-error-rate to accept the rest",
        )
    staged = Staged(parts=parts, records=records, failed=failed)
    if before_marker is not None:
        before_marker()
    write_json(marker, staged.to_dict())
    return staged


def _features_table(model_input: Any, schema: InputSchema) -> pa.Table:
    if hasattr(model_input, "columns"):
        return pa.Table.from_pandas(model_input, preserve_index=False)
    return pa.table({name: model_input[:, i] for i, name in enumerate(schema.names)})


def csv_lines(table: pa.Table) -> bytes:
    """Features as header-less CSV, one line per row (the SageMaker and Vertex CSV input)."""
    return io.encode(table, "csv", header=False)


def assemble_output(
    spec: BatchSpec, job: JobDir, staged: Staged, predictions_of: Callable[[int], Iterable[Any]], destination: Path
) -> int:
    """Join each part's predictions with its ids and write ``destination``. Returns the row count.

    ``predictions_of(index)`` yields the predictions of part ``index`` in input order.
    """
    fmt = spec.output_format
    parts_dir = job.path / "out"
    parts_dir.mkdir(exist_ok=True)
    paths = []
    rows = 0
    for index, count in sorted(staged.parts.items()):
        predictions = list(predictions_of(index))
        if len(predictions) != count:
            raise OperationFailed(
                f"output part {index} has {len(predictions)} predictions for {count} input rows",
                hint="the job's output does not line up with its input; run it again with a new job id",
            )
        if fmt == "csv" and predictions and isinstance(predictions[0], list):
            predictions = [json.dumps(p) for p in predictions]
        column = pa.array(predictions)
        if spec.carry_columns:
            ids = pq.read_table(job.path / "ids" / f"part-{index:05d}.parquet")
            table = ids.append_column(PREDICTION_COLUMN, column)
        else:
            table = pa.table({PREDICTION_COLUMN: column})
        path = parts_dir / f"part-{index:05d}.{fmt}"
        writer = io.PartWriter(path, fmt)  # type: ignore[arg-type]
        writer.write(table)
        writer.close()
        paths.append(path)
        rows += table.num_rows
    io.assemble(paths, destination, fmt, spec.output_columns)  # type: ignore[arg-type]
    return rows


def local_destination(spec: BatchSpec, job: JobDir) -> Path:
    """Where the output is written first: the destination itself, or a file to upload from."""
    if "://" in spec.destination:
        return job.path / f"output.{spec.output_format}"
    return Path(os.path.abspath(spec.destination))

