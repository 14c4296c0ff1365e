"""Planning a local batch job: which model, which input, which chunks, which job id.

:func:`plan_job` resolves the model to a package, lists (and for ``gs://`` /
``s3://`` downloads) the input, checks the needed columns against its header
and cuts it into chunks, then stores all of it in the job directory
(:mod:`cloudeploy.batch.jobdir`) for :mod:`cloudeploy.batch.engine` to run. The
job id derives from the model digest, the input's fingerprint and the spec, so
the same job planned again is found, not duplicated, and resumes.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from cloudeploy import lazy
from cloudeploy.batch import io, remote
from cloudeploy.batch.jobdir import JobDir
from cloudeploy.batch.model import resolve_model
from cloudeploy.batch.spec import CARRY_ALL, PREDICTION_COLUMN, BatchSpec, errors_uri
from cloudeploy.crashpoints import crash_point
from cloudeploy.errors import ConflictError, ValidationError
from cloudeploy.packaging.manifest import read_manifest

pq = lazy.module("pyarrow.parquet")
orjson = lazy.module("orjson")


def derive_job_id(spec: BatchSpec, model_digest: str, input_fingerprint: list[dict[str, Any]]) -> str:
    """A job id that is the same exactly when the same model scores the same input the same way."""
    identity = {
        **{k: v for k, v in spec.to_dict().items() if k not in ("job_id", "workers", "model", "options")},
        "model_digest": model_digest,
        "input": input_fingerprint,
        "destination": spec.destination if "://" in spec.destination else os.path.abspath(spec.destination),
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()
    return f"batch-{digest[:12]}"


def plan_job(spec: BatchSpec, home: Path, *, model: Any = None, provider: Any = None, trust: bool = False) -> JobDir:
    """Create (or find) the job directory for ``spec`` under ``home`` and return it.

    ``model`` overrides ``spec.model`` (an estimator object, for the Python
    API). Re-planning a spec whose job exists returns that job unchanged; a job
    id given explicitly with a different spec is a ConflictError.
    """
    home = Path(home)
    resolved = resolve_model(spec.model if model is None else model, provider, home, trust=trust)
    source = SourceFiles.of(spec.source, provider)
    # Features are told apart from the columns named to carry, not from those '*' adds.
    requested, spec = spec, resolve_carry(spec, source)
    fingerprint = source.fingerprint
    job_id = spec.job_id or derive_job_id(spec, resolved.digest, fingerprint)
    spec = spec.with_job_id(job_id)
    job = JobDir(home / job_id)
    if job.exists():
        recorded = job.record()
        if recorded["model_digest"] != resolved.digest or recorded["input"] != fingerprint or (
            BatchSpec.from_dict(recorded["spec"]) != spec
        ):
            raise ConflictError(
                f"batch job {job_id} exists with another model, input or spec",
                hint="use another --job-id, or leave it out to derive one from the spec",
            )
        return job
    files = source.materialize(job.path / "input")
    schema = read_manifest(resolved.package_dir).schema
    names = input_columns(files[0], spec.input_format)  # type: ignore[arg-type]
    _check_columns(files[0], names, list(spec.carry_columns))
    columns = feature_columns(requested, schema, names)
    _check_columns(files[0], names, [*spec.carry_columns, *columns])
    chunks = io.plan_chunks(files, spec.input_format, spec.chunk_rows)  # type: ignore[arg-type]
    job.create(
        {
            "spec": spec.to_dict(),
            "model": resolved.label,
            "package_dir": str(resolved.package_dir),
            "model_digest": resolved.digest,
            "trust": trust,
            "input": fingerprint,
            "feature_columns": columns,
            "chunks": chunks,
            **outputs_of(spec, job),
            "created_at": time.time(),
        }
    )
    job.write_status(state="pending", chunks_total=len(chunks))
    crash_point("local.batch.after_plan")
    return job


def feature_columns(spec: BatchSpec, schema, names: list[str] | None) -> list[str]:
    """The input columns that feed the model's features, in the model's order.

    Without ``spec.features``: the model's feature names; for a model fitted
    on a plain array (features ``x0..``) whose names the input lacks, the
    input's columns other than the carried ones, in input order, when their
    number matches.
    """
    if not spec.features:
        if schema.named or names is None or all(n in names for n in schema.names):
            return schema.names
        rest = [n for n in names if n not in spec.carry_columns]
        if len(rest) != len(schema):
            raise ValidationError(
                f"the model takes {len(schema)} unnamed features but the input has {len(rest)} other "
                f"column(s) ({', '.join(rest)})",
                hint="name the input columns to use with features (CLI: --feature COL, once per feature)",
            )
        return rest
    if len(spec.features) != len(schema):
        raise ValidationError(
            f"features names {len(spec.features)} column(s) but the model takes {len(schema)} "
            f"({', '.join(schema.names)})"
        )
    if schema.named and list(spec.features) != schema.names:
        raise ValidationError(
            f"the model was fitted on named features ({', '.join(schema.names)}); features must name the same, "
            f"got {', '.join(spec.features)}"
        )
    return list(spec.features)


def input_columns(source: str | IO[bytes], fmt: str) -> list[str] | None:
    """The column names of an input file (JSON Lines: of its first record), if known.

    ``source`` is a path or a binary file open at its start; only the header
    (CSV, JSON Lines) or the footer (Parquet) is read.
    """

    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as handle:
            return input_columns(handle, fmt)
    if fmt == "parquet":
        try:
            return pq.read_schema(source).names
        except Exception as error:  # pyarrow raises several types for a bad file
            raise ValidationError(f"{getattr(source, 'name', 'the input')} is not a readable Parquet file: {error}") from None
    if fmt == "csv":
        import csv
        import io

        text = io.TextIOWrapper(source, encoding="utf-8-sig", newline="")
        try:
            return next(csv.reader(text), [])
        finally:
            text.detach()
    for line in source:
        if line.strip():
            try:
                first = orjson.loads(line)
            except orjson.JSONDecodeError:
                return None  # a bad first record is reported as a failed row
            return list(first) if isinstance(first, dict) else None
    return None


def resolve_carry(spec: BatchSpec, source: SourceFiles) -> BatchSpec:
    """``spec`` with ``"*"`` in ``carry_columns`` replaced by the input's columns, in input order.

    The names come from the first input file's header (CSV), schema (Parquet)
    or first record (JSON Lines); of a ``gs://`` or ``s3://`` input only those
    bytes are fetched. Columns named besides ``"*"`` keep their place
    (``("id", "*")``: ``id``, then every other column). A spec without ``"*"``
    is returned unchanged. ValidationError when the input has no header to
    read the names from, or a column the output cannot carry.
    """
    if not spec.carries_all:
        return spec
    where = source.first
    names = source.columns(spec.input_format)  # type: ignore[arg-type]
    hint = "add a header line naming the columns, or name the columns to carry instead of '*'"
    if not names:
        raise ValidationError(f"carry_columns '*' needs the input's column names, but {where} has no header", hint=hint)
    if spec.input_format == "csv" and all(_is_number(n) for n in names):
        raise ValidationError(
            f"carry_columns '*' needs the input's column names, but the first line of {where} is data, "
            f"not a header ({','.join(names[:5])}{',...' if len(names) > 5 else ''})",
            hint=hint,
        )
    unnamed = [str(i + 1) for i, n in enumerate(names) if not n.strip()]
    if unnamed:
        raise ValidationError(f"the header of {where} leaves column(s) {', '.join(unnamed)} unnamed", hint=hint)
    if PREDICTION_COLUMN in names:
        raise ValidationError(
            f"{where} has a column named {PREDICTION_COLUMN!r}, the name the output gives the predictions",
            hint="rename that column, or name the columns to carry instead of '*'",
        )
    named = set(spec.carry_columns) - {CARRY_ALL}
    carry: list[str] = []
    for column in spec.carry_columns:
        carry.extend([n for n in names if n not in named] if column == CARRY_ALL else [column])
    return replace(spec, carry_columns=tuple(carry))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_columns(path: str, names: list[str] | None, needed: list[str]) -> None:
    """Refuse at once an input that lacks a needed column (rather than failing every row)."""
    if names is None:
        return
    missing = [c for c in needed if c not in names]
    if missing:
        raise ValidationError(
            f"{path} has no column(s) {', '.join(missing)} (it has: {', '.join(names) or 'none'})",
            hint="check --id-column and the model's features, or pass --feature for each input column",
        )


class SourceFiles:
    """A job's input: local files, or cloud objects downloaded into the job on demand."""

    def __init__(self, fingerprint: list[dict[str, Any]], files: list[str], objects=None, store=None) -> None:
        self.fingerprint = fingerprint
        self._files = files
        self._objects = objects
        self._store = store

    @classmethod
    def of(cls, source: str, provider: Any = None) -> SourceFiles:
        """List ``source`` (a path, glob, ``gs://`` or ``s3://`` URI); NotFoundError when empty."""
        if remote.is_remote(source):
            store = remote.object_store(source, provider)
            objects = store.list(source)
            fingerprint = [{"uri": o.uri, "size": o.size, "tag": o.tag} for o in objects]
            return cls(fingerprint, [], objects, store)
        files = io.expand_source(source)
        return cls(io.fingerprint(files), files)

    @property
    def first(self) -> str:
        """The first input file or object, as the user would name it."""
        return self._objects[0].uri if self._objects else self._files[0]

    def columns(self, fmt: str) -> list[str] | None:
        """The first input's column names (see :func:`input_columns`), read without downloading it."""
        if self._objects is None:
            return input_columns(self._files[0], fmt)
        with self._store.open(self._objects[0]) as handle:
            return input_columns(handle, fmt)

    def materialize(self, folder: Path) -> list[str]:
        """Local paths of the input files (downloading cloud objects into ``folder`` once)."""
        if self._objects is None:
            return self._files
        return remote.fetch(self._objects, self._store, folder)


def outputs_of(spec: BatchSpec, job: JobDir) -> dict[str, str]:
    """Where a job's output and failed rows go, and where they are written first."""
    if remote.is_remote(spec.destination):
        return {
            "destination": spec.destination,
            "errors": errors_uri(spec.destination),
            "local_destination": str(job.path / f"output.{spec.output_format}"),
            "local_errors": str(job.path / "errors.jsonl"),
        }
    destination = os.path.abspath(spec.destination)
    errors = os.path.abspath(errors_uri(spec.destination))
    return {"destination": destination, "errors": errors, "local_destination": destination, "local_errors": errors}
