"""Building packages: a model (object, file or package) -> a verified package directory.

The package is written to a temporary sibling directory and moved into place
at the end, so ``output_dir`` never holds a half-written package. In-memory
estimators are saved uncompressed with joblib as ``model.joblib``: the name the
prebuilt Vertex AI and SageMaker scikit-learn containers load, and byte-for-byte
the same output for the same estimator, so the package digest is stable.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cloudeploy import lazy
from cloudeploy.errors import ConflictError, NotFoundError, PackageError, ValidationError
from cloudeploy.packaging import code as user_code
from cloudeploy.packaging import lightgbm_format, xgboost_format
from cloudeploy.packaging.allowlist import Allowlist
from cloudeploy.packaging.code import main_module_error
from cloudeploy.packaging.compile import compile_model
from cloudeploy.packaging.infer import (
    OUTPUT_KINDS,
    _explicit_schema,
    _feature_type,
    check_fitted,
    infer_classes,
    infer_output_kind,
    infer_schema,
)
from cloudeploy.packaging.load import load_model_file, verify_package
from cloudeploy.packaging.manifest import MANIFEST_NAME, Manifest, sha256_file
from cloudeploy.packaging.onnx_format import CompiledGraph, describe
from cloudeploy.packaging.sandbox import (
    COMPILE_TARGET,
    _rows_for_the_child,
    check_compiled,
    run_in_sandbox,
)
from cloudeploy.packaging.scan import scan_file
from cloudeploy.packaging.schema import InputSchema
from cloudeploy.packaging.unpickle import not_a_pickle_error, unsafe_error
from cloudeploy.packaging.versions import (
    check_sklearn_version,
    framework_versions,
    installed_version,
    python_version,
)

joblib = lazy.module("joblib")

PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
XGBOOST_SUFFIXES = (".json", ".ubj")
LIGHTGBM_SUFFIXES = (".txt",)
SUPPORTED_SUFFIXES = PICKLE_SUFFIXES + (".skops", ".onnx") + XGBOOST_SUFFIXES + LIGHTGBM_SUFFIXES
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}\Z")

SchemaLike = InputSchema | Sequence[str] | Mapping[str, str] | None
COMPILED_FILE = "model.onnx"
#: The compiled graph as batch scoring runs it, when that differs (a forest in blocks of trees).
BATCH_FILE = "model.batch.onnx"

#: What profiles the training data when a package is built from it (``baseline=X_train``):
#: the baseline statistics, then monitoring's package-time artefacts (novelty detector,
#: training attributions). Monitoring provides both; packaging names them, like the
#: provider registry names providers, and imports them only then: it sits below
#: monitoring in the layers (.importlinter), and an installation may lack monitoring.
BASELINE_STATISTICS = "cloudeploy.monitoring.baseline:compute_baseline"
TRAINING_ARTIFACTS = "cloudeploy.monitoring.artifacts:write_artifacts"


class CompileWarning(UserWarning):
    """The model was packaged without a compiled graph; the message says why, in one line."""


@dataclass(frozen=True)
class Package:
    """A built package: its directory and its manifest."""

    path: Path
    manifest: Manifest

    @property
    def digest(self) -> str:
        return self.manifest.digest

    @property
    def model_path(self) -> Path:
        return self.path / self.manifest.model_file


@dataclass
class _Model:
    """What building learned about the model before the manifest is written."""

    file_name: str
    format: str
    estimator: Any = None
    sklearn_version: str | None = None
    schema: InputSchema | None = None
    output_kind: str | None = None
    classes: list[Any] | None = None
    allowed: tuple[str, ...] = ()
    #: What the sandbox answered for an untrusted file (compile.compile_model_file's result).
    sandboxed: dict[str, Any] | None = None


@dataclass(frozen=True)
class _Options:
    """The caller's choices, passed through the build steps together."""

    name: str | None
    schema: SchemaLike
    output_kind: str | None
    baseline: Any
    trust: bool
    allowlist: Allowlist
    allow_version_mismatch: bool
    compile: bool = True
    allowed_globals: tuple[str, ...] = ()
    code_paths: tuple[str, ...] = ()


def build_package(
    model: Any,
    output_dir: str | Path,
    *,
    name: str | None = None,
    schema: SchemaLike = None,
    output_kind: str | None = None,
    baseline: Any = None,
    trust: bool = False,
    allowed_globals: Iterable[str] = (),
    overwrite: bool = False,
    allow_version_mismatch: bool = False,
    compile: bool = True,
    code_paths: Sequence[str | os.PathLike[str]] = (),
) -> Package:
    """Write a package for ``model`` to ``output_dir`` and return it.

    ``model`` is a fitted estimator or Pipeline, a path to a ``.joblib``,
    ``.pkl``, ``.pickle``, ``.skops`` or ``.onnx`` file, or a package directory
    (verified, then copied). Pickle-based files are scanned against the
    allowlist before they are unpickled (UnsafeModelError lists the offending
    globals) unless ``trust``; ``allowed_globals`` extends the allowlist. A file
    saved with another scikit-learn is refused unless ``allow_version_mismatch``.

    ``schema``: None to derive it from the model, an InputSchema, a list of
    names or ``{name: type}``. ``output_kind``: None (class labels for
    classifiers, regression values for regressors) or one of
    ``class_labels``, ``probabilities``, ``regression``. ``baseline``: None, a
    ready dict, or training data (ndarray / DataFrame) for
    ``cloudeploy.monitoring.baseline.compute_baseline`` (:data:`BASELINE_STATISTICS`).

    A non-empty ``output_dir`` is refused unless ``overwrite``, and even then
    only when it holds a package (its contents are replaced).

    ``compile``: convert the model to ONNX and verify the graph against it
    (:mod:`cloudeploy.packaging.compile`, on ``baseline`` training data or on rows
    generated within the schema); a verified graph is stored as
    ``model.onnx`` and serves by default. When conversion or verification fails
    the package keeps only the original runtime, ``manifest.compiled["reason"]``
    says why, and a :class:`CompileWarning` carries that one line.

    ``code_paths``: the user's own modules (``.py`` files or package dirs) the
    model needs, copied into the package's ``code/`` and covered by the digest
    (:mod:`cloudeploy.packaging.code`); their modules are importable and allowed
    while building and loading.
    """
    target = Path(output_dir)
    code_modules = [user_code._module_name(Path(p)) for p in code_paths]
    allowed_globals = [*allowed_globals, *user_code.allowlist_entries(code_modules)]
    options = _Options(
        name,
        schema,
        output_kind,
        baseline,
        trust,
        Allowlist(allowed_globals),
        allow_version_mismatch,
        compile,
        tuple(allowed_globals),
        tuple(str(p) for p in code_paths),
    )
    _check_target(target, overwrite)
    if name is not None and not _NAME.match(name):
        raise ValidationError(
            f"invalid package name {name!r}",
            hint="use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    staging = _staging_dir(target)
    try:
        code_files = user_code.copy_code(code_paths, staging)
        user_code.make_importable(staging, code_files)
        if not isinstance(model, (str, os.PathLike)):
            manifest = _package_estimator(model, staging, target, options)
        elif Path(model).is_dir():
            manifest = _copy_package(Path(model), staging, target, options)
        else:
            manifest = _package_file(Path(model), staging, target, options)
        if code_files:
            manifest = replace(manifest, files={**manifest.files, **code_files})
        manifest.write(staging)
        _publish(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Package(path=target, manifest=manifest)


# -- sources ---------------------------------------------------------------


def _package_estimator(model: Any, staging: Path, target: Path, options: _Options) -> Manifest:
    check_fitted(model)
    # XGBoost and LightGBM estimators are saved in their own formats: no pickle to scan or trust.
    if xgboost_format.is_xgboost_estimator(model):
        info = _Model(xgboost_format.save(model, staging), "xgboost", estimator=model)
        return _manifest(info, staging, options, default_name=target.name)
    if lightgbm_format.is_lightgbm_estimator(model):
        info = _Model(lightgbm_format.save(model, staging), "lightgbm", estimator=model)
        return _manifest(info, staging, options, default_name=target.name)
    file_name = "model.joblib"
    try:
        joblib.dump(model, staging / file_name)
    except Exception as error:  # noqa: BLE001 - PicklingError, AttributeError, TypeError ...
        raise PackageError(
            f"cannot save {type(model).__name__} with joblib: {type(error).__name__}: {error}",
            hint="lambdas and functions defined inside other functions cannot be pickled; "
            "define them at module level in an importable module",
        ) from None
    # Refuse now what load_package would refuse later.
    offending = scan_file(staging / file_name, options.allowlist).offending
    in_main = main_module_error(offending, type(model).__name__)
    if in_main is not None:
        raise in_main
    if offending and not options.trust:
        raise unsafe_error(
            f"{type(model).__name__} (saved as {file_name})",
            offending,
            hint="the package could only be loaded trusted: allow these names with "
            "allowed_globals=[...] or pass trust=True if you will also load it trusted",
        )
    allowed = tuple(sorted(set(offending) | options.allowlist.extra_exact))
    info = _Model(file_name, "joblib", estimator=model, allowed=allowed)
    return _manifest(info, staging, options, default_name=target.name)


def _package_file(source: Path, staging: Path, target: Path, options: _Options) -> Manifest:
    if not source.is_file():
        raise NotFoundError(f"model file {source} does not exist")
    suffix = source.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ValidationError(
            f"{source}: unsupported model file type {suffix or '(none)'}",
            hint=f"cloudeploy packages {', '.join(SUPPORTED_SUFFIXES)} files or fitted estimators",
        )
    if suffix == ".onnx":
        info = _describe_onnx(source)
    elif suffix in XGBOOST_SUFFIXES:
        info = _Model(f"model{suffix}", "xgboost", estimator=xgboost_format.load(source))
    elif suffix in LIGHTGBM_SUFFIXES:
        if not lightgbm_format.looks_like_lightgbm(source):
            raise ValidationError(f"{source}: a .txt model file must be a LightGBM text model")
        info = _Model("model.txt", "lightgbm", estimator=lightgbm_format.load(source))
    elif suffix == ".skops":
        estimator = load_model_file(
            source,
            "skops",
            trust=options.trust,
            allowlist=options.allowlist,
            allow_version_mismatch=options.allow_version_mismatch,
        )
        allowed = tuple(sorted(options.allowlist.extra_exact))
        info = _Model("model.skops", "skops", estimator=estimator, allowed=allowed)
    else:
        info = _load_pickle_source(source, options)
    if info.estimator is not None:
        check_fitted(info.estimator)
    shutil.copyfile(source, staging / info.file_name)
    return _manifest(info, staging, options, default_name=source.stem)


def _load_pickle_source(source: Path, options: _Options) -> _Model:
    # Scanning never runs the file, so a trusted file is scanned too, for its
    # format and recorded scikit-learn version.
    scanned = scan_file(source, options.allowlist)
    if scanned.not_a_pickle is not None:
        raise not_a_pickle_error(source, scanned.not_a_pickle)
    in_main = main_module_error(scanned.offending, source.name)
    if in_main is not None:
        raise in_main
    saved_versions = sorted(scanned.sklearn_versions)
    for saved in saved_versions:
        check_sklearn_version(
            saved, allow_mismatch=options.allow_version_mismatch, source=str(source)
        )
    joblib_format = scanned.joblib_format or source.suffix.lower() == ".joblib"
    model_format = "joblib" if joblib_format else "pickle"
    trusted = set(scanned.offending) if options.trust else set()
    info = _Model(
        "model.joblib" if joblib_format else "model.pkl",
        model_format,
        sklearn_version=saved_versions[0] if saved_versions else None,
        allowed=tuple(sorted(trusted | options.allowlist.extra_exact)),
    )
    if options.trust:
        # The caller vouches for the file: open it here.
        info.estimator = load_model_file(
            source,
            "joblib",
            trust=True,
            allowlist=options.allowlist,
            allow_version_mismatch=options.allow_version_mismatch,
        )
        return info
    # An untrusted file is opened only in the sandbox, after the scan (which never
    # runs it) refused what the allowlist refuses; this process never unpickles it.
    if scanned.offending:
        raise unsafe_error(source, scanned.offending)
    info.sandboxed = _compile_in_sandbox(source, model_format, options)
    return info


def _compile_in_sandbox(source: Path, model_format: str, options: _Options) -> dict[str, Any]:
    """``compile.compile_model_file`` on ``source`` in a confined child; its checked, plain answer."""
    schema = options.schema
    if isinstance(schema, InputSchema):
        schema = schema.to_dict()
    elif isinstance(schema, Mapping):
        schema = {str(name): _feature_type(name, kind) for name, kind in schema.items()}
    elif schema is not None:
        schema = [str(name) for name in schema]
    baseline = options.baseline
    kwargs = {
        "schema": schema,
        "output_kind": options.output_kind,
        "data": None if baseline is None or isinstance(baseline, dict) else _rows_for_the_child(baseline),
        "baseline": baseline if isinstance(baseline, dict) else None,
        "allowed_globals": list(options.allowed_globals),
        "allow_version_mismatch": options.allow_version_mismatch,
        "compile": options.compile,
    }
    result = run_in_sandbox(
        COMPILE_TARGET, source, args=[model_format], kwargs=kwargs,
        code_paths=[*options.code_paths, *_allowed_module_sources(options.allowed_globals)],
        validate=check_compiled,
    )
    return result.value


def _allowed_module_sources(allowed_globals: Sequence[str]) -> list[str]:
    """Source files/dirs of the modules ``allowed_globals`` name that the sandbox would not see.

    The sandbox child sees the interpreter's own libraries and ``--code`` paths
    only; a module the caller allowed and that this process finds elsewhere on
    ``sys.path`` (PYTHONPATH, the working directory) is copied in for it.
    Nothing is imported to find them.
    """
    import importlib.util
    import sysconfig

    libraries = {Path(sysconfig.get_paths()[key]).resolve() for key in ("stdlib", "purelib", "platlib")}
    sources: list[str] = []
    for name in sorted({entry.split(".", 1)[0] for entry in allowed_globals}):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
            continue
        origin = Path(spec.origin).resolve()
        if any(origin.is_relative_to(library) for library in libraries):
            continue
        sources.append(str(origin.parent if spec.submodule_search_locations else origin))
    return sources


def _describe_onnx(source: Path) -> _Model:
    schema, kind, classes = describe(source)
    return _Model("model.onnx", "onnx", schema=schema, output_kind=kind, classes=classes)


def _copy_package(source: Path, staging: Path, target: Path, options: _Options) -> Manifest:
    if source.resolve() == target.resolve():
        raise ValidationError(f"{source} is both the package to copy and the output directory")
    if options.schema is not None:
        raise ValidationError(
            "re-packaging keeps the package's schema; build from the model file to change it"
        )
    manifest = verify_package(source)
    changes: dict[str, Any] = {}
    if not options.compile and manifest.compiled_file:
        # Re-packaging with compile=False drops the graph: the copy serves the original model.
        changes["files"] = {k: v for k, v in manifest.files.items() if k != manifest.compiled_file}
        changes["compiled"] = None
    for file_name in changes.get("files", manifest.files):
        destination = staging / file_name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / file_name, destination)
    if options.name is not None:
        changes["name"] = options.name
    if options.output_kind is not None:
        if options.output_kind not in OUTPUT_KINDS:
            raise ValidationError(
                f"unknown output kind {options.output_kind!r}; "
                f"expected one of {', '.join(OUTPUT_KINDS)}"
            )
        changes["output_kind"] = options.output_kind
    if options.baseline is not None:
        changes["baseline"] = _baseline(options.baseline, manifest.schema)
    return replace(manifest, **changes)


# -- the manifest -----------------------------------------------------------


def _manifest(info: _Model, staging: Path, options: _Options, *, default_name: str) -> Manifest:
    estimator = info.estimator
    if info.sandboxed is not None:
        schema = InputSchema.from_dict(info.sandboxed["schema"])
        kind = info.sandboxed["output_kind"]
        classes = info.sandboxed["classes"]
    elif estimator is not None:
        schema = infer_schema(estimator, options.schema)
        kind = infer_output_kind(estimator, options.output_kind)
        if kind == "unknown":  # e.g. a LightGBM booster read from its text file
            kind = {"classifier": "class_labels", "regressor": "regression"}.get(
                getattr(estimator, "_estimator_type", None), kind
            )
        classes = infer_classes(estimator) if kind in ("class_labels", "probabilities") else None
    else:
        schema = _onnx_schema(info, options.schema)
        kind = _onnx_output_kind(info, options.output_kind)
        classes = info.classes if kind in ("class_labels", "probabilities") else None
    frameworks = framework_versions(info.format)
    if info.format in ("xgboost", "lightgbm"):
        frameworks[info.format] = installed_version(info.format) or "unknown"
    if info.sklearn_version:
        frameworks["scikit-learn"] = info.sklearn_version
    if info.format == "onnx":
        frameworks.pop("scikit-learn", None)  # the graph does not need scikit-learn to run
    files = {info.file_name: sha256_file(staging / info.file_name)}
    compiled = None
    if info.sandboxed is not None and options.compile:
        compiled = _compiled_record(info.sandboxed, staging)
    elif estimator is not None and options.compile:
        compiled = _compile(estimator, schema, kind, classes, staging, options)
    if compiled is not None and compiled.get("file"):
        files[COMPILED_FILE] = sha256_file(staging / COMPILED_FILE)
        if (compiled.get("batch") or {}).get("file"):
            files[BATCH_FILE] = sha256_file(staging / BATCH_FILE)
        for library, version in framework_versions("onnx").items():
            frameworks.setdefault(library, version)
    baseline = _baseline(options.baseline, schema)
    if baseline is not None and not isinstance(options.baseline, dict):  # monitoring's artefacts (M1)
        write_artifacts = _profiler(TRAINING_ARTIFACTS)
        graph, graph_output = (None, None) if estimator is not None else _explainable_graph(staging, compiled,
                                                                                           schema, kind, classes)
        files.update(write_artifacts(staging, options.baseline, baseline, schema, estimator,
                                     graph=graph, graph_output=graph_output))
    return Manifest(
        name=options.name or _default_name(default_name),
        format=info.format,  # type: ignore[arg-type]
        model_file=info.file_name,
        files=files,
        schema=schema,
        output_kind=kind,  # type: ignore[arg-type]
        classes=classes,
        frameworks=frameworks,
        python_version=python_version(),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        baseline=baseline,
        trusted_types=list(info.allowed),
        compiled=compiled,
    )


def _explainable_graph(staging: Path, compiled: dict[str, Any] | None, schema: InputSchema, kind: str,
                       classes: Any) -> tuple[Any, str | None]:
    """The compiled graph to explain in place of a model this process never unpickled, and its output.

    ``(None, None)`` when there is no verified graph or its output is not one the
    attributions explain (probabilities of a classifier, a regressor's values).
    """
    if not compiled or not compiled.get("file"):
        return None, None
    graph_output = {"regression": "regression", "class_labels": "probabilities",
                    "probabilities": "probabilities"}.get(kind)
    if graph_output is None:
        return None, None
    graph = CompiledGraph(staging / compiled["file"], schema, classes,
                          labels_from=compiled.get("labels_from", "label"), inputs=compiled.get("inputs", "matrix"))
    return graph, graph_output


def _compile(
    estimator: Any, schema: InputSchema, kind: str, classes: Any, staging: Path, options: _Options
) -> dict[str, Any]:
    """Compile and verify; write the graph to ``staging`` when it verifies, else warn in one line."""
    data = options.baseline if options.baseline is not None and not isinstance(options.baseline, dict) else None
    stats = options.baseline if isinstance(options.baseline, dict) else None
    result = compile_model(estimator, schema, kind, data=data, baseline=stats, classes=classes)
    return _compiled_record(result, staging)


def _compiled_record(result: dict[str, Any], staging: Path) -> dict[str, Any]:
    """The manifest's ``compiled`` entry for a compile result (bytes written to ``staging``)."""
    record = dict(result["record"])
    onnx_bytes = result.get("onnx")
    if onnx_bytes:
        (staging / COMPILED_FILE).write_bytes(onnx_bytes)
        if result.get("batch_onnx") and isinstance(record.get("batch"), dict):
            (staging / BATCH_FILE).write_bytes(result["batch_onnx"])
            record["batch"] = {**record["batch"], "file": BATCH_FILE}
        return {"file": COMPILED_FILE, **record}
    warnings.warn(
        f"not compiled, serving with the original runtime: {record.get('reason', 'no graph')}",
        CompileWarning,
        stacklevel=4,
    )
    return {"reason": record.get("reason", "no graph")}


def _onnx_schema(info: _Model, schema: SchemaLike) -> InputSchema:
    width = len(info.schema) if info.schema is not None else None
    if schema is not None:
        return _explicit_schema(schema, None, width)
    if info.schema is None:
        raise PackageError(
            "the ONNX model's input width is not fixed, so its schema cannot be inferred",
            hint="pass schema=[...] (CLI --feature-names a,b,c)",
        )
    return info.schema


def _onnx_output_kind(info: _Model, requested: str | None) -> str:
    if requested is None:
        return info.output_kind or "unknown"
    if requested not in OUTPUT_KINDS:
        raise ValidationError(
            f"unknown output kind {requested!r}; expected one of {', '.join(OUTPUT_KINDS)}"
        )
    if requested == "probabilities" and info.output_kind != "class_labels":
        raise ValidationError("this ONNX model has no probability output")
    return requested


def _baseline(baseline: Any, schema: InputSchema) -> dict[str, Any] | None:
    if baseline is None or isinstance(baseline, dict):
        return baseline
    compute_baseline = _profiler(BASELINE_STATISTICS)
    columns = getattr(baseline, "columns", None)
    positional_frame = not schema.named and columns is not None and len(columns) == len(schema)
    if positional_frame and [str(c) for c in columns] != schema.names:
        # A model fitted on an array: the CSV's header names are not its features.
        baseline = baseline.to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return compute_baseline(baseline, schema)


def _profiler(target: str) -> Any:
    """The function ``target`` ("module:name") names; PackageError if its module is missing."""
    module_name, _, name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if not (error.name or "").startswith("cloudeploy"):
            raise
        raise PackageError(
            f"computing baseline statistics from training data needs {module_name}, "
            "which this installation does not have",
            hint="pass baseline=None, or a ready statistics dict",
        ) from None
    return getattr(module, name)


def _default_name(stem: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")[:63]
    return cleaned or "model"


# -- the output directory --------------------------------------------------


def _check_target(target: Path, overwrite: bool) -> None:
    if target.exists() and not target.is_dir():
        raise ConflictError(f"{target} exists and is not a directory")
    if target.is_dir() and any(target.iterdir()):
        if not overwrite:
            raise ConflictError(
                f"{target} is not empty",
                hint="pass overwrite=True (CLI --overwrite) to replace the package in it",
            )
        if not (target / MANIFEST_NAME).is_file():
            raise ConflictError(
                f"{target} is not empty and holds no {MANIFEST_NAME}: refusing to replace its contents",
                hint="choose a new or empty directory",
            )


def _staging_dir(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    staging.chmod(0o755)
    return staging


def _publish(staging: Path, target: Path) -> None:
    """Move the finished package into place, replacing an old one only at the end."""
    old = None
    if target.exists():
        if any(target.iterdir()):
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            target.rename(old)
        else:
            target.rmdir()
    staging.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
