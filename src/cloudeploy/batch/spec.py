"""``BatchSpec``: one description of a batch prediction job for every provider.

A spec names the model, where the rows come from and where predictions go,
which input columns ride along to the output (an id column above all), which
features the model gets, and how much machinery the clouds should use. It
validates itself on construction and fills the formats in from the file
extensions, so a bad spec is refused before any file is read or cloud called.

The output of every provider has the same columns: the carried columns in the
order given, then ``prediction``. ``"*"`` among the carried columns stands for
every input column (in input order) not named otherwise; it is resolved to
names from the input's header or schema before a job is planned or sent to a
cloud (:func:`cloudeploy.batch.plan.resolve_carry`).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from cloudeploy.errors import ValidationError

Format = Literal["csv", "jsonl", "parquet"]
FORMATS: tuple[str, ...] = ("csv", "jsonl", "parquet")
PREDICTION_COLUMN = "prediction"
#: In ``carry_columns``: every input column, in input order (what clouds write by default).
CARRY_ALL = "*"

_EXTENSIONS: dict[str, str] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_JOB_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def format_from_uri(uri: str, *, what: str) -> str:
    """The format implied by ``uri``'s extension (``.csv``, ``.jsonl``, ``.parquet``, ...).

    Glob patterns count by their extension (``data/*.csv`` is CSV). Raises
    ValidationError naming ``what`` when the extension says nothing.
    """
    name = uri.rstrip("/").rsplit("/", 1)[-1].lower()
    for extension, fmt in _EXTENSIONS.items():
        if name.endswith(extension) or name.endswith(extension + ".gz"):
            return fmt
    raise ValidationError(
        f"cannot tell the {what} format from {uri!r}",
        hint=f"name the file .csv, .jsonl or .parquet, or pass the {what} format (csv, jsonl, parquet)",
    )


def _check_format(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    lowered = str(value).lower()
    if lowered == "json":
        lowered = "jsonl"
    if lowered not in FORMATS:
        raise ValidationError(f"unknown {what} format {value!r} (known: {', '.join(FORMATS)})")
    return lowered


def _names(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    names = tuple(str(v) for v in value)
    if any(not n for n in names):
        raise ValidationError(f"{what} has an empty column name")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValidationError(f"{what} names a column twice: {', '.join(duplicates)}")
    return names


@dataclass(frozen=True)
class BatchSpec:
    """A batch prediction job, the same for every provider.

    - ``model``: a registered name (``name``, ``name@v3``, ``name@alias``), or a
      model file or package directory.
    - ``source``: a local path or glob, ``gs://...`` or ``s3://...``.
    - ``destination``: where the output goes (a file path or a cloud URI); the
      rows that failed go beside it, see :func:`errors_uri`.
    - ``input_format`` / ``output_format``: ``csv`` (with a header), ``jsonl`` or
      ``parquet``; ``None`` means from the extension of source / destination.
    - ``carry_columns``: input columns copied to the output, ids first;
      ``"*"`` stands for every input column not named otherwise, in input order.
    - ``features``: the input columns the model gets, in the model's order;
      empty means the model's schema names.
    - ``machine_type``, ``replica_count``, ``max_replica_count``: cloud resources
      (the local engine ignores them and uses ``workers`` processes).
    - ``max_error_rate``: the fraction of rows that may fail (bad values, wrong
      columns) before the job fails; the rows that fail are reported either way.
    - ``chunk_rows``: rows per chunk of the local engine (about; CSV and JSON
      Lines chunks are cut at line ends). Finished chunks are never redone.
    """

    model: str
    source: str
    destination: str
    input_format: str | None = None
    output_format: str | None = None
    carry_columns: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    machine_type: str | None = None
    replica_count: int = 1
    max_replica_count: int | None = None
    max_error_rate: float = 0.1
    chunk_rows: int = 50_000
    workers: int | None = None
    job_id: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for label in ("model", "source", "destination"):
            value = getattr(self, label)
            if not isinstance(value, str) or not value.strip():
                raise ValidationError(f"batch spec needs a {label}, got {value!r}")
        input_format = _check_format(self.input_format, "input") or format_from_uri(self.source, what="input")
        output_format = _check_format(self.output_format, "output") or format_from_uri(
            self.destination, what="output"
        )
        object.__setattr__(self, "input_format", input_format)
        object.__setattr__(self, "output_format", output_format)
        carry = _names(self.carry_columns, "carry_columns")
        features = _names(self.features, "features")
        if PREDICTION_COLUMN in carry:
            raise ValidationError(
                f"carry_columns cannot include {PREDICTION_COLUMN!r}: the output uses that name for the predictions"
            )
        object.__setattr__(self, "carry_columns", carry)
        object.__setattr__(self, "features", features)
        for label in ("replica_count", "chunk_rows"):
            value = getattr(self, label)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValidationError(f"{label} must be an integer >= 1, got {value!r}")
        if self.max_replica_count is None:
            object.__setattr__(self, "max_replica_count", self.replica_count)
        if self.max_replica_count < self.replica_count:  # type: ignore[operator]
            raise ValidationError(
                f"max_replica_count ({self.max_replica_count}) is less than replica_count ({self.replica_count})"
            )
        if self.workers is not None and (isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1):
            raise ValidationError(f"workers must be an integer >= 1, got {self.workers!r}")
        if isinstance(self.max_error_rate, bool) or not isinstance(self.max_error_rate, (int, float)) or not (
            0.0 <= self.max_error_rate <= 1.0
        ):
            raise ValidationError(f"max_error_rate must be between 0 and 1, got {self.max_error_rate!r}")
        if self.job_id is not None and not _JOB_ID_RE.match(self.job_id):
            raise ValidationError(
                f"invalid job id {self.job_id!r}",
                hint="use lowercase letters, digits and dashes, at most 63 characters",
            )
        object.__setattr__(self, "options", dict(self.options or {}))

    @property
    def carries_all(self) -> bool:
        """Whether ``carry_columns`` still holds ``"*"`` (resolved when the job is planned)."""
        return CARRY_ALL in self.carry_columns

    @property
    def output_columns(self) -> list[str]:
        """The columns of the output, on every provider (once ``"*"`` is resolved)."""
        return [*self.carry_columns, PREDICTION_COLUMN]

    def with_job_id(self, job_id: str) -> BatchSpec:
        return replace(self, job_id=job_id)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["carry_columns"] = list(self.carry_columns)
        data["features"] = list(self.features)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchSpec:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["carry_columns"] = tuple(known.get("carry_columns") or ())
        known["features"] = tuple(known.get("features") or ())
        return cls(**known)


def errors_uri(destination: str) -> str:
    """Where the failed rows of a job writing ``destination`` go.

    ``out/preds.csv`` -> ``out/preds.errors.jsonl``: one JSON object per failed
    row with its ``row`` number (1-based, counting data records, not the CSV
    header), the ``reason``, and the carried columns.
    """
    head, slash, name = destination.rstrip("/").rpartition("/")
    stem = name
    for extension in sorted(_EXTENSIONS, key=len, reverse=True):
        if stem.lower().endswith(extension):
            stem = stem[: -len(extension)]
            break
    return f"{head}{slash}{stem}.errors.jsonl"
