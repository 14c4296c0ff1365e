"""Loading pickle and joblib files: restricted by the allowlist unless trusted.

:func:`load_pickle_file` is the only place cloudeploy unpickles a model. Untrusted
files are first scanned (:mod:`cloudeploy.packaging.scan`) and refused with the
offending globals; then, as defence in depth, they are loaded by a subclass of
joblib's ``NumpyUnpickler`` that

- resolves only allowed globals (``find_class``), never a module;
- calls only classes and known reconstructor functions (``REDUCE``, ``NEWOBJ``,
  ``OBJ``, ``INST`` check the callee before calling it);
- accepts ``BUILD`` (``__setstate__``) only on instances of the allowed classes
  it has constructed, never on a function, class, module or ufunc (no
  monkey-patching of library code such as ``check_array.__kwdefaults__``);
- reads joblib's object arrays (nested pickles) with the same restrictions.

After loading, the object graph is audited (:mod:`cloudeploy.packaging.audit`):
a callable outside the vetted set anywhere in the model is refused, naming
where it sits. Plain pickle files go through the same unpickler.
"""

from __future__ import annotations

import pickle
import types
from pathlib import Path
from typing import Any

from cloudeploy import lazy
from cloudeploy.errors import PackageError, UnsafeModelError
from cloudeploy.packaging.allowlist import (
    BIT_GENERATOR_CTOR,
    CALLS_ITS_ARGUMENT,
    UFUNC_RECONSTRUCT,
    Allowlist,
    canonical_name,
    global_name,
    resolve,
)
from cloudeploy.packaging.audit import _is_function_like, audit_model
from cloudeploy.packaging.scan import ScanResult, scan_file

joblib = lazy.module("joblib")
joblib_pickle = lazy.module("joblib.numpy_pickle")
joblib_utils = lazy.module("joblib.numpy_pickle_utils")


def unsafe_error(
    path: Path | str, offending: list[str], *, hint: str | None = None
) -> UnsafeModelError:
    listed = ", ".join(offending)
    return UnsafeModelError(
        f"{path} imports or calls globals outside the allowlist: {listed}",
        globals=offending,
        hint=hint
        or "only load files you trust: pass trust=True (CLI --trust), or allow specific "
        "names with allowed_globals=[...] (CLI --allow-global module.name)",
    )


def not_a_pickle_error(path: Path | str, reason: str) -> PackageError:
    """The file named as a pickle or joblib file is none (a CSV, an archive, random bytes)."""
    return PackageError(
        f"{Path(path).name} is not a pickle or joblib file: {reason}",
        hint="package a model saved with joblib.dump or pickle.dump, or a skops, ONNX, XGBoost or LightGBM file",
    )


def check_pickle_file(path: Path, allowlist: Allowlist) -> ScanResult:
    """Scan ``path`` and raise UnsafeModelError listing what it would import."""
    result = scan_file(path, allowlist)
    if result.not_a_pickle is not None:
        raise not_a_pickle_error(path, result.not_a_pickle)
    if result.offending:
        raise unsafe_error(path, result.offending)
    return result


def load_pickle_file(path: Path, *, trust: bool = False, allowlist: Allowlist | None = None) -> Any:
    """Unpickle a pickle/joblib file: plainly when trusted, else restricted.

    The caller has already scanned an untrusted file (``check_pickle_file``);
    the restricted unpickler re-checks every global and call as it goes.
    """
    if trust:
        try:
            return joblib.load(path)
        except Exception as error:  # noqa: BLE001 - any unpickling failure
            raise PackageError(f"cannot load {path}: {type(error).__name__}: {error}") from None
    allowlist = allowlist or Allowlist()
    with (
        open(path, "rb") as handle,
        joblib_utils._validate_fileobject_and_memmap(handle, str(path)) as (stream, _),
    ):
        if isinstance(stream, str):
            raise PackageError(f"{path}: joblib files older than 0.10 are not supported")
        unpickler = _restricted_unpickler_class()(str(path), stream, allowlist)
        try:
            model = unpickler.load()
        except UnsafeModelError:
            raise
        except Exception as error:  # noqa: BLE001 - any unpickling failure
            raise PackageError(f"cannot load {path}: {type(error).__name__}: {error}") from None
    audit_model(model, allowlist, source=str(path))
    return model


_CLASS = None


def _restricted_unpickler_class():
    """Build the class on first use: it subclasses joblib's (heavy-ish) unpickler."""
    global _CLASS
    if _CLASS is None:
        _CLASS = _make_restricted_unpickler()
    return _CLASS


def _make_restricted_unpickler():
    NumpyArrayWrapper, NumpyUnpickler = joblib_pickle.NumpyArrayWrapper, joblib_pickle.NumpyUnpickler  # noqa: N806
    _ensure_native_byte_order = joblib_utils._ensure_native_byte_order

    class RestrictedUnpickler(NumpyUnpickler):
        dispatch = NumpyUnpickler.dispatch.copy()

        def __init__(self, filename: str, stream: Any, allowlist: Allowlist) -> None:
            super().__init__(filename, stream, ensure_native_byte_order=True)
            self.allowlist = allowlist
            self.guards = _guards(allowlist, filename)
            self.callable_ids: set[int] = {id(guard) for guard in self.guards.values()}
            self.classes: set[type] = set()

        def find_class(self, module: str, name: str) -> Any:
            path = global_name(module, name) if self.proto < 3 else f"{module}.{name}"
            if path in self.guards:
                return self.guards[path]
            if not self.allowlist.allows(path):
                raise unsafe_error(self.filename, [path])
            obj = super().find_class(module, name)
            if isinstance(obj, types.ModuleType):
                raise unsafe_error(self.filename, [path])
            if self.allowlist.may_call(path):
                self.callable_ids.add(id(obj))
            if isinstance(obj, type) and obj is not object and self.allowlist.allows_class(path):
                self.classes.add(obj)
            return obj

        def persistent_load(self, pid: Any) -> Any:
            raise unsafe_error(self.filename, ["<persistent id>"])

        def _check_callable(self, func: Any) -> None:
            if id(func) not in self.callable_ids:
                what = getattr(func, "__qualname__", None) or type(func).__name__
                raise unsafe_error(self.filename, [f"<call of {what}>"])

        def load_reduce(self) -> None:
            self._check_callable(self.stack[-2])
            super().load_reduce()

        def load_newobj(self) -> None:
            self._check_callable(self.stack[-2])
            super().load_newobj()

        def load_newobj_ex(self) -> None:
            self._check_callable(self.stack[-3])
            super().load_newobj_ex()

        def _instantiate(self, klass: Any, args: Any) -> Any:
            self._check_callable(klass)
            return super()._instantiate(klass, args)

        def load_build(self) -> None:
            inst = self.stack[-2]
            if not self._may_build(inst):
                what = getattr(inst, "__qualname__", None) or type(inst).__name__
                raise unsafe_error(self.filename, [f"<BUILD on {what}>"])
            pickle._Unpickler.load_build(self)
            wrapper = self.stack[-1]
            if isinstance(wrapper, NumpyArrayWrapper):
                self.stack[-1] = self._read_array(wrapper)

        def _may_build(self, inst: Any) -> bool:
            """BUILD sets state: only on instances of allowed classes this load constructed."""
            if isinstance(inst, _NEVER_BUILT) or _is_function_like(inst):
                return False
            if any(klass in self.classes for klass in type(inst).__mro__):
                return True
            # Built by an allowed reconstructor (numpy's RandomState constructor).
            home = canonical_name(type(inst))
            return home is not None and self.allowlist.allows_class(home)

        def _read_array(self, wrapper: Any) -> Any:
            if getattr(wrapper, "dtype", None) is not None and getattr(
                wrapper.dtype, "hasobject", False
            ):
                # joblib reads these with a fresh, unrestricted Unpickler.
                nested = RestrictedUnpickler(self.filename, self.file_handle, self.allowlist)
                nested.callable_ids = self.callable_ids
                nested.guards = self.guards
                nested.classes = self.classes
                return _ensure_native_byte_order(nested.load())
            return wrapper.read(self, self.ensure_native_byte_order)

        dispatch[pickle.REDUCE[0]] = load_reduce
        dispatch[pickle.NEWOBJ[0]] = load_newobj
        dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex
        dispatch[pickle.BUILD[0]] = load_build

    return RestrictedUnpickler


_NEVER_BUILT = (type, types.ModuleType)


def _guards(allowlist: Allowlist, filename: str) -> dict[str, Any]:
    """Stand-ins for load-time functions that would otherwise call or import anything."""
    import copyreg

    def ufunc_reconstruct(module: Any, name: Any) -> Any:
        # NumPy < 1.20's ufunc importer, limited to allowed names.
        path = f"{module}.{name}"
        if not (isinstance(module, str) and isinstance(name, str)) or not allowlist.allows(path):
            raise unsafe_error(filename, [path])
        return resolve(path)

    def reconstructor(cls: Any, base: Any, state: Any) -> Any:
        if not (isinstance(cls, type) and isinstance(base, type)):
            raise unsafe_error(filename, ["<copyreg._reconstructor of a non-class>"])
        return copyreg._reconstructor(cls, base, state)

    guards: dict[str, Any] = {path: ufunc_reconstruct for path in UFUNC_RECONSTRUCT}
    guards["copyreg._reconstructor"] = reconstructor
    default_ctor = resolve(BIT_GENERATOR_CTOR)
    for path in CALLS_ITS_ARGUMENT:
        guards[path] = _default_constructor_only(resolve(path), default_ctor, path, filename)
    return guards


def _default_constructor_only(real: Any, default_ctor: Any, path: str, filename: str) -> Any:
    def constructor(*args: Any) -> Any:
        if len(args) > 1 and args[1] is not default_ctor:
            raise unsafe_error(filename, [f"<{path} with constructor {args[1]!r}>"])
        return real(*args)

    return constructor
