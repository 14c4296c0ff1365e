"""Static scan of pickle and joblib files against the allowlist, before any unpickling.

:func:`scan_pickle` walks the opcodes (``pickletools.genops``) of a pickle or
joblib file on a small symbolic stack machine that never imports or calls
anything from the file. It reports every global the file names that the
:class:`~cloudeploy.packaging.allowlist.Allowlist` refuses, and every call the
file would make to something other than a class or a known reconstructor.

It reads the file the way ``joblib.load`` does, which is where denylist
scanners are bypassed:

- compressed joblib files (zlib, gzip, bz2, xz, lzma, lz4) are decompressed
  through joblib's own compressor registry first;
- the raw bytes joblib writes right after each ``NumpyArrayWrapper`` (array
  data, or a nested pickle for object arrays) are skipped exactly as joblib
  reads them, so the scan continues to the opcodes after them;
- ``STACK_GLOBAL`` operands are resolved through the stack and memo
  (``BINGET``); operands that are not plain strings make the file unsafe;
- ``GLOBAL``, ``INST``, ``OBJ``, ``REDUCE``, ``NEWOBJ``, ``EXT*`` and
  persistent ids are all checked;
- ``BUILD`` on a global (a function, class or module, rather than an object
  the file constructed) is flagged: it would patch library code.

The scan also collects what the loader needs to know first: the scikit-learn
versions recorded in estimator states and whether the file uses joblib's format.
"""

from __future__ import annotations

import io
import pickletools
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from cloudeploy import lazy
from cloudeploy.packaging.allowlist import (
    BIT_GENERATOR_CTOR,
    CALLS_ITS_ARGUMENT,
    UFUNC_RECONSTRUCT,
    Allowlist,
    global_name,
)

np = lazy.module("numpy")
joblib_utils = lazy.module("joblib.numpy_pickle_utils")

NUMPY_ARRAY_WRAPPER = "joblib.numpy_pickle.NumpyArrayWrapper"
_CLASS_FIRST_ARG = ("copyreg._reconstructor",)
_MAX_NESTING = 8


class ScanError(Exception):
    """The stream is not a pickle we can follow; the file counts as unsafe."""


@dataclass
class ScanResult:
    """What a scan found. ``offending`` empty means the file is safe to unpickle."""

    offending: list[str] = field(default_factory=list)
    sklearn_versions: set[str] = field(default_factory=set)
    joblib_format: bool = False
    compression: str | None = None
    #: Why the stream is not a pickle at all (a text file, random bytes), else None.
    not_a_pickle: str | None = None

    def flag(self, what: str) -> None:
        if what not in self.offending:
            self.offending.append(what)


def scan_pickle(source: str | Path | bytes, allowed_globals: Iterable[str] = ()) -> list[str]:
    """Return the offending globals of a pickle/joblib file or bytes (empty = safe).

    Entries are ``module.name`` strings; problems that are not a single global
    (a call of a computed object, an unreadable stream) appear as ``<...>``.
    """
    return scan_file(source, Allowlist(allowed_globals)).offending


def scan_file(source: str | Path | bytes, allowlist: Allowlist) -> ScanResult:
    """Scan ``source`` (a path or the file's bytes) and return the full result."""
    result = ScanResult()
    raw: BinaryIO = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115
    try:
        compressor = joblib_utils._detect_compressor(raw)
        if compressor == "compat":
            result.flag("<joblib < 0.10 file with companion files: not supported>")
            return result
        if compressor != "not-compressed":
            result.compression = compressor
            result.joblib_format = True
        else:
            # pickle.dump and joblib.dump (protocol 2 and later) start with the PROTO
            # opcode; a text file, an archive or random bytes do not.
            first = raw.read(2)
            raw.seek(0)
            if first[:1] != b"\x80" and not _parses_as_pickle(raw):
                result.not_a_pickle = "the file is empty" if not first else f"it starts with {first!r}"
                result.flag(f"<not a pickle: {result.not_a_pickle}>")
                return result
        try:
            with joblib_utils._validate_fileobject_and_memmap(raw, str(source)[:200]) as (stream, _):
                _Machine(stream, allowlist, result).run()
        except ScanError as error:
            result.flag(f"<unreadable pickle: {error}>")
        except Exception as error:  # noqa: BLE001 - zlib.error, "unknown opcode", ...: fail closed
            result.flag(f"<unreadable pickle: {type(error).__name__}: {error}>")
    finally:
        raw.close()
    return result


def _parses_as_pickle(raw: BinaryIO) -> bool:
    """Whether ``raw`` (no PROTO header: protocol 0/1 at most) reads as opcodes up to STOP.

    pickletools only parses, it never runs anything; ``raw`` is rewound either way.
    """
    try:
        for _ in pickletools.genops(raw):
            pass
        return True
    except Exception:  # noqa: BLE001 - any parse failure: not a pickle
        return False
    finally:
        raw.seek(0)


class _Global:
    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


class _Call:
    """The result of a call the file would make; ``cls`` is the class it builds, if known."""

    __slots__ = ("func", "args", "cls", "state")

    def __init__(self, func: Any, args: Any) -> None:
        self.func = func
        self.args = args
        self.state: Any = None
        self.cls: str | None = None
        if isinstance(func, _Global):
            first = args[0] if isinstance(args, tuple) and args else None
            last = func.path.rsplit(".", 1)[-1]
            builds_first = (
                func.path in _CLASS_FIRST_ARG
                or last == "newObj"
                or last.startswith("__pyx_unpickle_")
            )
            if builds_first and isinstance(first, _Global):
                self.cls = first.path
            else:
                self.cls = func.path


class _Opaque:
    __slots__ = ()


_MARK = object()


def _describe(value: Any) -> str:
    if isinstance(value, _Global):
        return value.path
    if isinstance(value, _Call):
        return f"result of {_describe(value.func)}"
    return type(value).__name__


class _Machine:
    """Symbolic pickle VM: tracks the stack to resolve names, never runs anything."""

    def __init__(
        self, stream: BinaryIO, allowlist: Allowlist, result: ScanResult, depth: int = 0
    ) -> None:
        self.stream = stream
        self.allowlist = allowlist
        self.result = result
        self.depth = depth
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.frame_end = -1
        self.ufunc_pending = 0

    # -- stack helpers ---------------------------------------------------
    def pop(self) -> Any:
        if not self.stack:
            raise ScanError("stack underflow")
        return self.stack.pop()

    def pop_mark(self) -> list[Any]:
        """Items since the last MARK. Callers bind it before touching ``self.stack``."""
        if not self.metastack:
            raise ScanError("no MARK on the stack")
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def top(self) -> Any:
        if not self.stack:
            raise ScanError("stack underflow")
        return self.stack[-1]

    # -- checks ------------------------------------------------------------
    def push_global(self, module: Any, name: Any) -> None:
        if not isinstance(module, str) or not isinstance(name, str):
            self.result.flag("<STACK_GLOBAL with operands that are not plain strings>")
            self.stack.append(_Opaque())
            return
        path = global_name(module, name)
        if path in UFUNC_RECONSTRUCT:
            self.ufunc_pending += 1
        elif not self.allowlist.allows(path):
            self.result.flag(path)
        self.stack.append(_Global(path))

    def check_call(self, func: Any, args: Any) -> _Call:
        if isinstance(func, _Global):
            if func.path in UFUNC_RECONSTRUCT:
                return self.ufunc_reconstruct(func, args)
            if self.allowlist.allows(func.path) and not self.allowlist.may_call(func.path):
                self.result.flag(func.path)
            position = CALLS_ITS_ARGUMENT.get(func.path)
            if position is not None and isinstance(args, tuple) and len(args) > position:
                callee = args[position]
                if not (isinstance(callee, _Global) and callee.path == BIT_GENERATOR_CTOR):
                    self.result.flag(f"<{func.path} with constructor {_describe(callee)}>")
        elif not isinstance(func, _Opaque):
            self.result.flag(f"<call of {_describe(func)}>")
        return _Call(func, args)

    def ufunc_reconstruct(self, func: _Global, args: Any) -> Any:
        self.ufunc_pending -= 1
        if isinstance(args, tuple) and len(args) == 2 and all(isinstance(a, str) for a in args):
            path = global_name(*args)
            if not self.allowlist.allows(path):
                self.result.flag(path)
            return _Global(path)
        self.result.flag(func.path)
        return _Call(func, args)

    # -- the loop ----------------------------------------------------------
    def run(self) -> Any:
        for opcode, arg, pos in pickletools.genops(self.stream):
            name = opcode.name
            handler = getattr(self, f"op_{name}", None)
            if handler is not None:
                handler(arg, pos)
            elif name == "STOP":
                if self.ufunc_pending > 0:
                    self.result.flag("numpy.core._ufunc_reconstruct")
                return self.pop()
            elif opcode.stack_before == [] and len(opcode.stack_after) == 1:
                self.stack.append(
                    arg
                )  # every literal push: ints, strings, bytes, floats, None, bools
            else:
                raise ScanError(f"unsupported opcode {name}")
        raise ScanError("no STOP opcode")

    # framing and protocol
    def op_PROTO(self, arg, pos):
        pass

    def op_FRAME(self, arg, pos):
        self.frame_end = pos + 9 + arg

    # marks and stack shuffling
    def op_MARK(self, arg, pos):
        self.metastack.append(self.stack)
        self.stack = []

    def op_POP(self, arg, pos):
        if self.stack:
            self.stack.pop()
        else:
            self.pop_mark()

    def op_POP_MARK(self, arg, pos):
        self.pop_mark()

    def op_DUP(self, arg, pos):
        self.stack.append(self.top())

    # literals that are not a simple push
    def op_NONE(self, arg, pos):
        self.stack.append(None)

    def op_NEWTRUE(self, arg, pos):
        self.stack.append(True)

    def op_NEWFALSE(self, arg, pos):
        self.stack.append(False)

    def op_NEXT_BUFFER(self, arg, pos):
        self.result.flag("<out-of-band buffer>")
        self.stack.append(_Opaque())

    def op_READONLY_BUFFER(self, arg, pos):
        pass

    # containers
    def op_EMPTY_LIST(self, arg, pos):
        self.stack.append([])

    def op_EMPTY_DICT(self, arg, pos):
        self.stack.append({})

    def op_EMPTY_TUPLE(self, arg, pos):
        self.stack.append(())

    def op_EMPTY_SET(self, arg, pos):
        self.stack.append([])

    def op_LIST(self, arg, pos):
        items = self.pop_mark()
        self.stack.append(items)

    def op_TUPLE(self, arg, pos):
        items = tuple(self.pop_mark())
        self.stack.append(items)

    def op_TUPLE1(self, arg, pos):
        self.stack.append((self.pop(),))

    def op_TUPLE2(self, arg, pos):
        b, a = self.pop(), self.pop()
        self.stack.append((a, b))

    def op_TUPLE3(self, arg, pos):
        c, b, a = self.pop(), self.pop(), self.pop()
        self.stack.append((a, b, c))

    def op_DICT(self, arg, pos):
        items = self.pop_mark()
        self.stack.append(self._pairs_to_dict({}, items))

    def op_FROZENSET(self, arg, pos):
        items = self.pop_mark()
        self.stack.append(items)

    def op_APPEND(self, arg, pos):
        value = self.pop()
        target = self.top()
        if isinstance(target, list):
            target.append(value)

    def op_APPENDS(self, arg, pos):
        items = self.pop_mark()
        target = self.top()
        if isinstance(target, list):
            target.extend(items)

    def op_ADDITEMS(self, arg, pos):
        items = self.pop_mark()
        target = self.top()
        if isinstance(target, list):
            target.extend(items)

    def op_SETITEM(self, arg, pos):
        value, key = self.pop(), self.pop()
        target = self.top()
        if isinstance(target, dict):
            self._pairs_to_dict(target, [key, value])

    def op_SETITEMS(self, arg, pos):
        items = self.pop_mark()
        target = self.top()
        if isinstance(target, dict):
            self._pairs_to_dict(target, items)

    @staticmethod
    def _pairs_to_dict(target: dict, items: list[Any]) -> dict:
        if len(items) % 2:
            raise ScanError("odd number of items for a dict")
        for key, value in zip(items[::2], items[1::2], strict=True):
            try:
                target[key] = value
            except TypeError:
                raise ScanError("unhashable dict key") from None
        return target

    # memo
    def op_PUT(self, arg, pos):
        self.memo[arg] = self.top()

    op_BINPUT = op_LONG_BINPUT = op_PUT

    def op_MEMOIZE(self, arg, pos):
        self.memo[len(self.memo)] = self.top()

    def op_GET(self, arg, pos):
        if arg not in self.memo:
            raise ScanError(f"memo key {arg} is not set")
        value = self.memo[arg]
        if isinstance(value, _Global) and value.path in UFUNC_RECONSTRUCT:
            self.ufunc_pending += 1
        self.stack.append(value)

    op_BINGET = op_LONG_BINGET = op_GET

    # globals and calls
    def op_GLOBAL(self, arg, pos):
        module, _, name = arg.partition(" ")
        self.push_global(module, name)

    def op_STACK_GLOBAL(self, arg, pos):
        name, module = self.pop(), self.pop()
        self.push_global(module, name)

    def op_INST(self, arg, pos):
        module, _, name = arg.partition(" ")
        args = tuple(self.pop_mark())
        self.push_global(module, name)
        cls = self.pop()
        self.stack.append(self.check_call(cls, args))

    def op_OBJ(self, arg, pos):
        items = self.pop_mark()
        if not items:
            raise ScanError("OBJ without a class")
        self.stack.append(self.check_call(items[0], tuple(items[1:])))

    def op_REDUCE(self, arg, pos):
        args, func = self.pop(), self.pop()
        self.stack.append(self.check_call(func, args))

    def op_NEWOBJ(self, arg, pos):
        args, cls = self.pop(), self.pop()
        self.stack.append(self.check_call(cls, args))

    def op_NEWOBJ_EX(self, arg, pos):
        _kwargs, args, cls = self.pop(), self.pop(), self.pop()
        self.stack.append(self.check_call(cls, args))

    def op_EXT1(self, arg, pos):
        import copyreg

        key = copyreg._inverted_registry.get(arg)
        if key is None:
            self.result.flag(f"<unregistered extension code {arg}>")
            self.stack.append(_Opaque())
        else:
            self.push_global(*key)

    op_EXT2 = op_EXT4 = op_EXT1

    def op_PERSID(self, arg, pos):
        self.result.flag("<persistent id>")
        self.stack.append(_Opaque())

    def op_BINPERSID(self, arg, pos):
        self.pop()
        self.op_PERSID(arg, pos)

    def op_BUILD(self, arg, pos):
        state = self.pop()
        inst = self.top()
        if isinstance(inst, _Global):
            # Setting state on a function, class or module patches library code.
            self.result.flag(f"<BUILD on {inst.path}>")
        if isinstance(state, dict):
            version = state.get("_sklearn_version")
            if isinstance(version, str):
                self.result.sklearn_versions.add(version)
        if isinstance(inst, _Call):
            inst.state = state
            if inst.cls == NUMPY_ARRAY_WRAPPER:
                self.skip_inline_array(state, pos)

    # -- joblib's inline arrays ---------------------------------------------
    def skip_inline_array(self, state: Any, pos: int) -> None:
        """Move past the bytes joblib wrote after a NumpyArrayWrapper, as joblib reads them."""
        self.result.joblib_format = True
        if self.stream.tell() < self.frame_end:
            # joblib commits the frame before writing array bytes; anything
            # else would make the loader and this scan read different bytes.
            raise ScanError("numpy array data inside a pickle frame")
        if not isinstance(state, dict):
            raise ScanError("NumpyArrayWrapper without a state dict")
        count, itemsize, hasobject = _array_layout(state)
        if hasobject:
            if self.depth >= _MAX_NESTING:
                raise ScanError("object arrays nested too deep")
            _Machine(self.stream, self.allowlist, self.result, self.depth + 1).run()
            return
        if state.get("numpy_array_alignment_bytes") is not None:
            padding = self.stream.read(1)
            if len(padding) != 1:
                raise ScanError("truncated array padding")
            self._skip(padding[0])
        self._skip(count * itemsize)

    def _skip(self, size: int) -> None:
        while size > 0:
            chunk = self.stream.read(min(size, 1 << 20))
            if not chunk:
                raise ScanError("truncated numpy array data")
            size -= len(chunk)


def _array_layout(state: dict) -> tuple[int, int, bool]:
    """(element count, item size, has Python objects) of a NumpyArrayWrapper state."""
    shape = state.get("shape")
    if not isinstance(shape, tuple) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise ScanError("NumpyArrayWrapper shape is not a tuple of sizes")
    count = 1
    for n in shape:
        count *= n
    dtype = _materialize_dtype(state.get("dtype"))
    itemsize, hasobject = dtype.itemsize, dtype.hasobject
    return count, itemsize, hasobject


_DTYPE = ("numpy.dtype", "numpy._core.multiarray.dtype")
_LITERALS = (str, bytes, int, float, bool, type(None))


def _materialize_dtype(value: Any, depth: int = 0) -> Any:
    """Build the numpy dtype a pickle describes, exactly as unpickling would.

    Only ``numpy.dtype(literals)`` plus its pickled state is accepted; the
    loader reads ``dtype.itemsize`` bytes per element, so the scan must too.
    """
    if not (
        isinstance(value, _Call) and isinstance(value.func, _Global) and value.func.path in _DTYPE
    ):
        raise ScanError("NumpyArrayWrapper dtype is not a plain numpy.dtype")
    if (
        depth > 8
        or not isinstance(value.args, tuple)
        or not all(isinstance(a, _LITERALS) for a in value.args)
    ):
        raise ScanError("numpy.dtype with arguments that are not literals")
    try:
        dtype = np.dtype(*value.args)
        if value.state is not None:
            dtype.__setstate__(_materialize_state(value.state, depth + 1))
    except ScanError:
        raise
    except Exception as error:  # noqa: BLE001 - numpy rejects the description
        raise ScanError(f"invalid numpy dtype: {error}") from None
    return dtype


def _materialize_state(value: Any, depth: int) -> Any:
    if isinstance(value, _Call):
        return _materialize_dtype(value, depth)
    if isinstance(value, tuple):
        return tuple(_materialize_state(v, depth) for v in value)
    if isinstance(value, list):
        return [_materialize_state(v, depth) for v in value]
    if isinstance(value, dict):
        return {k: _materialize_state(v, depth) for k, v in value.items()}
    if isinstance(value, _LITERALS):
        return value
    raise ScanError("numpy dtype state holds something other than literals and dtypes")
