"""Verifying and loading packages.

``verify_package`` checks every digest before anything else reads the model
file; ``load_package`` then applies the format's safety rules (allowlist scan
and restricted unpickling for pickle/joblib, trusted-type list for skops) and
the scikit-learn version check, and returns a :class:`LoadedModel`.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from cloudeploy import lazy
from cloudeploy.errors import CloudeployError, IntegrityError, PackageError, UnsafeModelError
from cloudeploy.packaging import lightgbm_format, unpickle, xgboost_format
from cloudeploy.packaging.allowlist import Allowlist
from cloudeploy.packaging.code import allowlist_entries, make_importable
from cloudeploy.packaging.manifest import MANIFEST_NAME, Manifest, read_manifest, sha256_file
from cloudeploy.packaging.onnx_format import CompiledGraph, onnx_predict, open_session
from cloudeploy.packaging.predictor import LoadedModel, sklearn_predict
from cloudeploy.packaging.skops_format import load_skops
from cloudeploy.packaging.versions import check_sklearn_version

sklearn_exceptions = lazy.module("sklearn.exceptions")

PICKLE_FORMATS = ("joblib", "pickle")


def verify_package(path: str | Path) -> Manifest:
    """Check that the directory holds exactly the manifest's files with their sha256.

    Raises IntegrityError naming the first file that is modified, missing or
    not listed, and PackageError for a manifest that is not a package's.
    """
    root = Path(path)
    manifest = read_manifest(root)
    for name in manifest.files:
        _check_relative(name, root)
    if manifest.model_file not in manifest.files:
        raise PackageError(
            f"{root}/{MANIFEST_NAME}: model_file {manifest.model_file!r} is not among its files"
        )
    present = _package_files(root)
    for name in sorted(manifest.files):
        if name not in present:
            raise IntegrityError(f"{root}: {name} is listed in {MANIFEST_NAME} but missing")
    if manifest.compiled_file is not None and manifest.compiled_file not in manifest.files:
        raise PackageError(
            f"{root}/{MANIFEST_NAME}: compiled file {manifest.compiled_file!r} is not among its files"
        )
    for name in sorted(present - set(manifest.files)):
        raise IntegrityError(
            f"{root}: {name} is not listed in {MANIFEST_NAME}",
            hint="a package holds only the files its manifest lists; remove it or rebuild the package",
        )
    for name, expected in sorted(manifest.files.items()):
        actual = sha256_file(root / name)
        if actual != expected:
            raise IntegrityError(
                f"{root}: {name} was modified: its sha256 is {actual}, the manifest records {expected}",
                hint="rebuild the package from the original model, or restore the file",
            )
    return manifest


def _check_relative(name: str, root: Path) -> None:
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or name in ("", MANIFEST_NAME) or "\\" in name:
        raise PackageError(f"{root}/{MANIFEST_NAME}: invalid file name {name!r} in files")


def _package_files(root: Path) -> set[str]:
    files = set()
    for entry in root.rglob("*"):
        relative = entry.relative_to(root).as_posix()
        if entry.is_symlink():
            raise IntegrityError(
                f"{root}: {relative} is a symbolic link; packages hold plain files only"
            )
        if entry.is_file() and relative != MANIFEST_NAME:
            files.add(relative)
    return files


def load_package(
    path: str | Path,
    *,
    trust: bool = False,
    allowed_globals: Iterable[str] = (),
    allow_version_mismatch: bool = False,
    runtime: str | None = None,
    batch: bool = False,
) -> LoadedModel:
    """Verify the package at ``path`` and load its model.

    ``runtime``: None serves what the manifest says (the verified compiled graph
    on onnxruntime when there is one: then nothing is unpickled or imported from
    the model file); ``"onnx"`` requires a graph (PackageError naming why there is
    none); ``"sklearn"`` (or the native ``"xgboost"`` / ``"lightgbm"``) loads the
    original model file. ``batch``: the compiled graph as batch scoring runs it
    (``compiled.batch.file``: a forest with its trees in blocks), when the
    package has one; it answers like the serving graph.

    Pickle-based files are scanned and unpickled under the allowlist unless
    ``trust`` (UnsafeModelError lists what they would import); skops files load
    with an explicit trusted-type list; ONNX runs on onnxruntime. A package
    saved with another scikit-learn raises VersionMismatchError unless
    ``allow_version_mismatch``.
    """
    root = Path(path)
    manifest = verify_package(root)
    chosen = choose_runtime(manifest, runtime, source=str(root))
    if chosen == "onnx" and manifest.compiled_file:
        compiled = manifest.compiled or {}
        graph_record = (compiled.get("batch") or {}) if batch else {}
        if not graph_record.get("file"):
            graph_record = compiled
        try:
            graph = CompiledGraph(
                root / graph_record["file"],
                manifest.schema,
                manifest.classes,
                labels_from=graph_record.get("labels_from", "label"),
                inputs=compiled.get("inputs", "matrix"),
            )
        except CloudeployError:
            raise
        except Exception as error:  # noqa: BLE001 - onnxruntime's own error types
            raise PackageError(f"{root}: cannot load the compiled graph: {error}") from None
        return LoadedModel(
            manifest, graph, graph.predictor(manifest.output_kind), runtime="onnx", takes_rows=True
        )
    model_path = root / manifest.model_file
    # The package's own code (--code): importable, and its modules allowed.
    modules = make_importable(root, manifest.files)
    allowlist = Allowlist([*allowed_globals, *allowlist_entries(modules)])
    if manifest.format in NATIVE_FORMATS:
        model = load_native(model_path, manifest.format, manifest.classes)
        return LoadedModel(manifest, model, sklearn_predict(model, manifest.output_kind))
    if manifest.format == "onnx":
        session = open_session(model_path)
        return LoadedModel(
            manifest, session, onnx_predict(session, manifest.output_kind, manifest.classes)
        )
    check_sklearn_version(
        manifest.sklearn_version, allow_mismatch=allow_version_mismatch, source=str(root)
    )
    try:
        model = load_model_file(
            model_path,
            manifest.format,
            trust=trust,
            allowlist=allowlist,
            allow_version_mismatch=allow_version_mismatch,
        )
    except UnsafeModelError as error:
        if manifest.trusted_types:
            error.hint = (
                f"this package was built allowing {', '.join(manifest.trusted_types)}: pass them as "
                "allowed_globals (CLI --allow-global) if you trust them, or trust=True"
            )
        raise
    if not hasattr(model, "predict"):
        raise PackageError(
            f"{model_path} holds a {type(model).__name__}, not a model with predict()"
        )
    return LoadedModel(manifest, model, sklearn_predict(model, manifest.output_kind))


RUNTIME_CHOICES = ("onnx", "sklearn")


def choose_runtime(manifest: Manifest, requested: str | None, *, source: str) -> str:
    """The runtime that will answer for ``manifest`` when ``requested`` (None = the manifest's)."""
    if requested is None:
        return manifest.runtime
    if requested not in RUNTIME_CHOICES + ("xgboost", "lightgbm"):
        raise PackageError(
            f"unknown runtime {requested!r}; expected one of {', '.join(RUNTIME_CHOICES)}"
        )
    if requested == "onnx":
        if manifest.runtime != "onnx":
            reason = (manifest.compiled or {}).get("reason") or "it was packaged without compiling"
            raise PackageError(
                f"{source} has no verified compiled graph: {reason}",
                hint="serve it with --runtime sklearn, or re-package it with a model that converts",
            )
        return "onnx"
    if manifest.format == "onnx":
        raise PackageError(f"{source} holds an ONNX model only: it runs on onnxruntime (--runtime onnx)")
    return manifest.original_runtime


NATIVE_FORMATS = ("xgboost", "lightgbm")


def load_native(path: Path, model_format: str, classes: list | None = None) -> object:
    """An XGBoost or LightGBM model file (their own formats: nothing is unpickled)."""
    if model_format == "xgboost":
        return xgboost_format.load(path)
    return lightgbm_format.load(path, classes)


def load_model_file(
    path: Path,
    model_format: str,
    *,
    trust: bool,
    allowlist: Allowlist,
    allow_version_mismatch: bool,
) -> object:
    """Load a joblib/pickle/skops (or native XGBoost/LightGBM) file with the safety rules of its format."""
    if model_format in NATIVE_FORMATS:
        return load_native(path, model_format)
    if model_format == "skops":
        return _quietly(lambda: load_skops(path, trust=trust, allowlist=allowlist))
    if model_format not in PICKLE_FORMATS:
        raise PackageError(f"{path}: unknown model format {model_format!r}")
    if not trust:
        scanned = unpickle.check_pickle_file(path, allowlist)
        for saved in sorted(scanned.sklearn_versions):
            check_sklearn_version(saved, allow_mismatch=allow_version_mismatch, source=str(path))
    return _quietly(lambda: unpickle.load_pickle_file(path, trust=trust, allowlist=allowlist))


def _quietly(load):
    """Run ``load`` without scikit-learn's version warning: the version is checked explicitly."""
    with warnings.catch_warnings():
        with contextlib.suppress(ImportError, AttributeError):  # no scikit-learn, or scikit-learn < 1.3
            warnings.simplefilter("ignore", sklearn_exceptions.InconsistentVersionWarning)
        return load()
