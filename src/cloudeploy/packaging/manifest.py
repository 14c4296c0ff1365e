"""The package manifest, ``cloudeploy.json``.

A package is a directory holding one model file and this manifest. The manifest
records the sha256 of every other file in the directory. A package's identity
(``Manifest.digest``) covers those files and what else changes how the version
serves or is monitored (its input schema and training baseline): the same
model and baseline packaged twice give the same digest, which is how
registries make uploads idempotent, while a new baseline for the same model
bytes is a new version.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cloudeploy.errors import PackageError
from cloudeploy.packaging.schema import InputSchema

MANIFEST_NAME = "cloudeploy.json"
MANIFEST_VERSION = 1

ModelFormat = Literal["joblib", "pickle", "skops", "onnx", "xgboost", "lightgbm"]
#: What answers predictions: the compiled graph (or an ONNX file) on onnxruntime,
#: or the original model in its own library.
Runtime = Literal["onnx", "sklearn", "xgboost", "lightgbm"]
_NATIVE_RUNTIMES = {"xgboost": "xgboost", "lightgbm": "lightgbm"}
OutputKind = Literal["class_labels", "probabilities", "regression", "unknown"]


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


#: Keys of ``compiled["batch"]`` that hold timings of the building machine (not in the digest).
TIMING_KEYS = ("speed_rows", "cpu_seconds_per_million_rows")


def _without_timings(compiled: dict[str, Any] | None) -> dict[str, Any] | None:
    batch = (compiled or {}).get("batch")
    if not isinstance(batch, dict):
        return compiled
    return {**compiled, "batch": {k: v for k, v in batch.items() if k not in TIMING_KEYS}}  # type: ignore[dict-item]


def _canonical_sha256(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class Manifest:
    """What ``cloudeploy.json`` holds.

    ``files`` maps each file's path relative to the package directory to its
    sha256; ``model_file`` is one of them. ``frameworks`` maps library names
    (``scikit-learn``, ``numpy``, ``joblib``, ...) to the versions the model was
    saved with. ``baseline`` is reserved for training statistics (monitoring).

    ``compiled`` is what compiling the model at package time gave: None when
    it was not tried (ONNX files, packages built before compilation existed),
    ``{"file": "model.onnx", "runtime": "onnxruntime", "precision", "inputs",
    "verification": {"rows", "source", "tolerance", "max_deviation",
    "labels_identical"}, "batch": {...}}`` for a verified graph (the file is one
    of ``files``, so the digest covers it), or ``{"reason": "one line"}`` when
    conversion or verification failed and only the original runtime serves.
    ``batch`` says what batch jobs score with (``compile.batch_graph``: a
    forest's blocked graph ``model.batch.onnx`` with its own verification, or
    the same graph) and the build's timings of both runtimes (:data:`TIMING_KEYS`).
    """

    name: str
    format: ModelFormat
    model_file: str
    files: dict[str, str]
    schema: InputSchema
    output_kind: OutputKind = "unknown"
    classes: list[Any] | None = None
    frameworks: dict[str, str] = field(default_factory=dict)
    python_version: str = ""
    created_at: str = ""
    baseline: dict[str, Any] | None = None
    trusted_types: list[str] = field(default_factory=list)
    compiled: dict[str, Any] | None = None
    manifest_version: int = MANIFEST_VERSION

    @property
    def digest(self) -> str:
        """The package's identity: sha256 over the sorted ``path:sha256`` lines,
        then the schema's, (when there is one) the baseline's and (when there is a
        compiled graph) its verification record's canonical JSON, less the
        batch speeds measured while building (:data:`TIMING_KEYS`): like
        ``created_at`` they describe the build, and the same model packaged
        twice is the same package."""
        lines = [f"{path}:{sha}" for path, sha in sorted(self.files.items())]
        lines.append(f"schema:{_canonical_sha256(self.schema.to_dict())}")
        if self.compiled_file:
            lines.append(f"compiled:{_canonical_sha256(_without_timings(self.compiled))}")
        if self.baseline is not None:
            lines.append(f"baseline:{_canonical_sha256(self.baseline)}")
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()

    @property
    def compiled_file(self) -> str | None:
        """The verified compiled graph's file, or None."""
        return (self.compiled or {}).get("file")

    @property
    def original_runtime(self) -> Runtime:
        """The runtime of the model file itself."""
        if self.format == "onnx":
            return "onnx"
        return _NATIVE_RUNTIMES.get(self.format, "sklearn")  # type: ignore[return-value]

    @property
    def runtime(self) -> Runtime:
        """What serves by default: the verified compiled graph if there is one, else the original."""
        return "onnx" if self.compiled_file else self.original_runtime

    @property
    def sklearn_version(self) -> str | None:
        return self.frameworks.get("scikit-learn")

    def to_dict(self) -> dict[str, Any]:
        return {
            "manifest_version": self.manifest_version,
            "name": self.name,
            "format": self.format,
            "model_file": self.model_file,
            "files": dict(sorted(self.files.items())),
            "digest": self.digest,
            "schema": self.schema.to_dict(),
            "output_kind": self.output_kind,
            "classes": self.classes,
            "frameworks": self.frameworks,
            "python_version": self.python_version,
            "created_at": self.created_at,
            "trusted_types": self.trusted_types,
            "runtime": self.runtime,
            "compiled": self.compiled,
            "baseline": self.baseline,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        try:
            return cls(
                name=data["name"],
                format=data["format"],
                model_file=data["model_file"],
                files=dict(data["files"]),
                schema=InputSchema.from_dict(data.get("schema", {})),
                output_kind=data.get("output_kind", "unknown"),
                classes=data.get("classes"),
                frameworks=dict(data.get("frameworks", {})),
                python_version=data.get("python_version", ""),
                created_at=data.get("created_at", ""),
                baseline=data.get("baseline"),
                trusted_types=list(data.get("trusted_types", [])),
                compiled=data.get("compiled"),
                manifest_version=int(data.get("manifest_version", MANIFEST_VERSION)),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise PackageError(f"invalid {MANIFEST_NAME}: {error!r}") from None

    def write(self, package_dir: Path) -> Path:
        path = Path(package_dir) / MANIFEST_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2, default=str) + "\n")
        return path


def read_manifest(package_dir: str | Path) -> Manifest:
    """Parse ``cloudeploy.json`` without verifying digests (see ``verify_package``)."""
    path = Path(package_dir) / MANIFEST_NAME
    if not path.is_file():
        raise PackageError(
            f"{package_dir} is not a cloudeploy package: {MANIFEST_NAME} is missing",
            hint="build one with `cloudeploy package MODEL -o DIR`",
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise PackageError(f"{path}: invalid JSON: {error}") from None
    return Manifest.from_dict(data)
