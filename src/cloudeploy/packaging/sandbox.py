"""Run a named function on a file in a child process that cannot do what the server can.

Opening an untrusted pickle runs code; so does predicting with what it holds.
At package time cloudeploy therefore opens such a file only here: in a fresh
child process that is confined before it imports anything heavy, whose answer
comes back as JSON over a pipe and is checked by the parent, which never
unpickles the file itself.

For ``build.py``: :func:`compile_untrusted` (``compile_model_file`` in the
sandbox, answer checked by :func:`check_compiled`). The generic API::

    from cloudeploy.packaging.sandbox import Limits, run_in_sandbox, check_compiled

    result = run_in_sandbox(
        "cloudeploy.packaging.compile:compile_model_file",  # "module:function"
        model_path,                       # copied into the throwaway directory
        args=("joblib",),                 # JSON values (and bytes), after the path
        kwargs={"schema": None},          # JSON values (and bytes)
        limits=Limits(timeout=300),       # wall clock, memory, CPU, files, output
        code_paths=(),                    # files/dirs copied in and put on sys.path
        validate=check_compiled,          # parent-side check of the returned value
    )
    result.value       # what the function returned, after ``validate``
    result.isolation   # what confined the child (see below)

The function is called as ``function(<copy of the file>, *args, **kwargs)`` in
the child and must return JSON values, where ``bytes`` are allowed anywhere
(sent as base64). A :class:`~cloudeploy.errors.CloudeployError` it raises is
re-raised in the parent as the same class with the same message, hint and
(for UnsafeModelError) globals; anything else becomes :class:`SandboxError`,
as do a timeout, running out of memory or CPU, a crash, an oversized or
malformed answer, or a ``validate`` failure.

What confines the child (``result.isolation`` records each; a missing piece is
reported as a :class:`SandboxWarning`, never silently skipped):

- **Linux**: when started as root, the child first drops to ``nobody``
  (uid/gid 65534, no supplementary groups) if the Python installation is
  readable by others (else it stays uid 0 and ``isolation["dropped_root"]``
  says why; it loses all capabilities below either way). Then ``unshare(CLONE_NEWUSER |
  CLONE_NEWNS | CLONE_NEWNET)`` (libc through ctypes, before any thread exists):
  a network namespace with no interface but a down loopback, and a mount
  namespace where every mount is made read-only, nosuid, nodev
  (``mount_setattr(AT_RECURSIVE)``) except a bind mount of the throwaway working
  directory. Then all capabilities are dropped, ``no_new_privs`` is set and a
  seccomp filter (classic BPF, x86-64 and aarch64) makes ``execve``/``execveat``,
  every socket call, ``ptrace``, ``process_vm_*``, mount/namespace calls, ``bpf``,
  ``keyctl``, module loading and ``io_uring`` fail with EPERM (x32 calls too;
  a call through another architecture's ABI kills the process). So the child can neither start a program, open
  a socket, nor write outside its directory.
- **Everywhere (POSIX)**: resource limits (``RLIMIT_AS`` memory, ``RLIMIT_CPU``,
  ``RLIMIT_NOFILE``, ``RLIMIT_FSIZE``, no core files), a clean environment
  (``PATH``, ``HOME``/``TMPDIR`` = the working directory, one BLAS thread),
  ``python -s -P`` with only the variables above (no user site, no ``PYTHON*``
  variables but ``PYTHONHASHSEED=0``, so a model compiles to the same bytes), a throwaway working
  directory removed afterwards, its own session (the whole group is killed on
  timeout) and die-with-parent (:mod:`cloudeploy.lifetime`, Linux).
- **macOS and other POSIX systems**: only the previous point; there is no
  network or filesystem confinement, and ``isolation`` says so.
- **Windows**: a plain child process with a timeout and a clean environment.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudeploy import errors, lazy
from cloudeploy.errors import PackageError
from cloudeploy.lifetime import die_with_parent
from cloudeploy.packaging.compile import MAX_ROWS
from cloudeploy.packaging.infer import OUTPUT_KINDS
from cloudeploy.packaging.schema import InputSchema

onnx = lazy.module("onnx")

_BYTES_KEY = "$bytes"
_NOBODY = 65534


class SandboxError(PackageError):
    """The sandboxed function failed, was stopped, or returned something the parent refused."""


class SandboxWarning(UserWarning):
    """Part of the confinement is not available on this platform."""


@dataclass(frozen=True)
class Limits:
    """What the child may use. Sizes in bytes, times in seconds."""

    timeout: float = 600.0
    memory: int = 4 << 30
    cpu_seconds: int = 900
    open_files: int = 256
    file_size: int = 1 << 30
    output: int = 512 << 20


@dataclass(frozen=True)
class SandboxResult:
    """The validated return value and what confined the child."""

    value: Any
    isolation: dict[str, Any] = field(default_factory=dict)


def run_in_sandbox(
    target: str,
    path: str | os.PathLike[str],
    *,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    limits: Limits = Limits(),
    code_paths: Sequence[str | os.PathLike[str]] = (),
    validate: Callable[[Any], Any] | None = None,
) -> SandboxResult:
    """Call ``target`` ("module:function") on a copy of ``path`` in a confined child process.

    Blocks until the child answers or ``limits.timeout`` passes (then the child's
    process group is killed and SandboxError says so).
    """
    module, _, function = target.partition(":")
    if not module or not function:
        raise ValueError(f"target must be 'module:function', not {target!r}")
    source = Path(path)
    workdir = Path(tempfile.mkdtemp(prefix="cloudeploy-sandbox-"))
    try:
        copy = workdir / source.name
        shutil.copyfile(source, copy)
        code_dir = workdir / "code"
        code_dir.mkdir()
        for entry in map(Path, code_paths):
            if entry.is_dir():
                shutil.copytree(entry, code_dir / entry.name, dirs_exist_ok=True)
            else:
                shutil.copyfile(entry, code_dir / entry.name)
        job = {
            "module": module,
            "function": function,
            "file": str(copy),
            "args": _encode(list(args)),
            "kwargs": _encode(dict(kwargs or {})),
            "sys_path": [str(code_dir)],
            "workdir": str(workdir),
            "limits": {
                "memory": limits.memory,
                "cpu_seconds": limits.cpu_seconds,
                "open_files": limits.open_files,
                "file_size": limits.file_size,
            },
        }
        if _will_drop_root():
            _give_to_nobody(workdir)
        frame, stderr = _run_child(job, workdir, limits)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    value, isolation = _read_frame(frame, stderr, target)
    missing = [name for name, on in isolation.items() if on is False]
    if missing:
        warnings.warn(
            f"sandbox on {sys.platform}: no {', '.join(missing)} for {target} "
            f"({'; '.join(isolation.get('notes', [])) or 'not available here'})",
            SandboxWarning,
            stacklevel=2,
        )
    if validate is not None:
        try:
            value = validate(value)
        except errors.CloudeployError:
            raise
        except Exception as error:  # noqa: BLE001 - the answer is refused, whatever is wrong
            raise SandboxError(f"{target} returned a result the parent refuses: {error}") from None
    return SandboxResult(value=value, isolation=isolation)


# -- the parent --------------------------------------------------------------


def _will_drop_root() -> bool:
    """Whether the child will run as nobody (root parent, installation readable by others)."""
    if sys.platform != "linux" or os.geteuid() != 0:
        return False
    from cloudeploy.packaging import _linux_confine  # inside: Linux only, loads libc at import

    return _linux_confine.closed_to_others() is None


def _give_to_nobody(workdir: Path) -> None:
    for root, dirs, files in os.walk(workdir):
        for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
            os.chown(name, _NOBODY, _NOBODY)


def _child_env(workdir: Path) -> dict[str, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        # One string-hash order for every child: skl2onnx walks sets of names, so with random
        # hashing the same model compiled to different graph bytes, hence different digests.
        "PYTHONHASHSEED": "0",
    }
    if sys.platform == "win32":
        env["SYSTEMROOT"] = os.environ.get("SYSTEMROOT", "")
    return env


def _run_child(job: dict, workdir: Path, limits: Limits) -> tuple[bytes, bytes]:
    # -s -P with the clean environment above: what -I does, except that PYTHONHASHSEED is read.
    command = [sys.executable, "-s", "-P", "-m", "cloudeploy.packaging.sandbox"]
    popen: dict[str, Any] = {}
    if os.name == "posix":
        popen = {"start_new_session": True, "preexec_fn": die_with_parent}
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=workdir,
        env=_child_env(workdir),
        **popen,
    )
    out = _BoundedReader(child.stdout, limits.output)
    err = _BoundedReader(child.stderr, 64 << 10, keep_tail=True)
    try:
        child.stdin.write(json.dumps(job).encode())
        child.stdin.close()
    except BrokenPipeError:
        pass
    try:
        child.wait(timeout=limits.timeout)
    except subprocess.TimeoutExpired:
        _kill(child)
        raise SandboxError(
            f"the sandboxed {job['module']}:{job['function']} did not finish within "
            f"{limits.timeout:g} s and was killed",
            hint="a model that takes this long to load or convert is suspect; raise the "
            "timeout only for a file you trust",
        ) from None
    finally:
        out.join()
        err.join()
    if out.overflow:
        raise SandboxError(
            f"the sandboxed {job['module']}:{job['function']} answered more than "
            f"{limits.output} bytes; refused"
        )
    _check_exit(child.returncode, err.data, job, limits)
    return out.data, err.data


def _kill(child: subprocess.Popen) -> None:
    try:
        if os.name == "posix":
            os.killpg(child.pid, signal.SIGKILL)
        else:
            child.kill()
    except (ProcessLookupError, PermissionError):
        pass
    child.wait()


class _BoundedReader(threading.Thread):
    """Reads a pipe to its end, keeping at most ``limit`` bytes (the head, or the tail)."""

    def __init__(self, stream: Any, limit: int, *, keep_tail: bool = False) -> None:
        super().__init__(daemon=True)
        self.stream, self.limit, self.keep_tail = stream, limit, keep_tail
        self.chunks: list[bytes] = []
        self.size = 0
        self.overflow = False
        self.start()

    def run(self) -> None:
        while chunk := self.stream.read(1 << 16):
            self.size += len(chunk)
            if self.keep_tail:
                self.chunks.append(chunk)
                while sum(map(len, self.chunks)) - len(self.chunks[0]) > self.limit:
                    self.chunks.pop(0)
            elif self.size <= self.limit:
                self.chunks.append(chunk)
            else:
                self.overflow = True
                self.chunks = []
        self.stream.close()

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)[-self.limit :] if self.keep_tail else b"".join(self.chunks)


def _check_exit(code: int, stderr: bytes, job: dict, limits: Limits) -> None:
    if code == 0:
        return
    what = f"the sandboxed {job['module']}:{job['function']}"
    last = _last_line(stderr)
    if code == -getattr(signal, "SIGXCPU", 24):
        raise SandboxError(f"{what} used more than {limits.cpu_seconds} s of CPU and was stopped")
    if code < 0:
        raise SandboxError(
            f"{what} was killed by signal {-code}"
            + (f": {last}" if last else "")
            + (" (it may have exceeded its memory limit)" if code == -signal.SIGKILL else "")
        )
    raise SandboxError(f"{what} exited with status {code}" + (f": {last}" if last else ""))


def _last_line(data: bytes) -> str:
    lines = [line for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _read_frame(frame: bytes, stderr: bytes, target: str) -> tuple[Any, dict[str, Any]]:
    try:
        message = json.loads(frame, object_hook=_decode_bytes)
    except (ValueError, RecursionError) as error:
        last = _last_line(stderr)
        raise SandboxError(
            f"the sandboxed {target} gave no readable answer ({error})"
            + (f": {last}" if last else "")
        ) from None
    if not isinstance(message, dict) or not isinstance(message.get("isolation"), dict):
        raise SandboxError(f"the sandboxed {target} answered something that is not a result")
    isolation = message["isolation"]
    if "error" in message:
        raise _error_from(message["error"], target, isolation)
    if "value" not in message:
        raise SandboxError(f"the sandboxed {target} answered without a value")
    return message["value"], isolation


def _error_from(error: Any, target: str, isolation: dict) -> Exception:
    if not isinstance(error, dict):
        return SandboxError(f"the sandboxed {target} failed")
    kind = str(error.get("type", ""))
    message = str(error.get("message", ""))[:4000]
    hint = error.get("hint") if isinstance(error.get("hint"), str) else None
    klass = getattr(errors, kind, None)
    if isinstance(klass, type) and issubclass(klass, errors.CloudeployError):
        if issubclass(klass, errors.UnsafeModelError):
            names = error.get("globals")
            names = [str(n) for n in names] if isinstance(names, list) else []
            return klass(message, globals=names, hint=hint)
        try:
            return klass(message, hint=hint)
        except TypeError:  # an error class with another signature
            return SandboxError(f"{kind}: {message}", hint=hint)
    if kind == "MemoryError":
        limit = error.get("memory_limit")
        return SandboxError(
            f"the sandboxed {target} ran out of memory"
            + (f" (limit {int(limit) >> 20} MiB)" if isinstance(limit, int) else ""),
        )
    return SandboxError(f"the sandboxed {target} raised {kind}: {message}")


# -- values over the pipe ------------------------------------------------------


def _encode(value: Any) -> Any:
    """JSON-ready copy of ``value``: bytes become ``{"$bytes": base64}``."""
    if isinstance(value, (bytes, bytearray)):
        return {_BYTES_KEY: base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _encode(value.item())
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy arrays
        return _encode(value.tolist())
    raise TypeError(
        f"{type(value).__name__} cannot cross the sandbox boundary (JSON and bytes only)"
    )


def _decode_bytes(obj: dict) -> Any:
    if len(obj) == 1 and _BYTES_KEY in obj:
        data = obj[_BYTES_KEY]
        if not isinstance(data, str):
            raise ValueError("a $bytes value that is not base64 text")
        return base64.b64decode(data, validate=True)
    return obj


# -- parent-side validation of compile results -----------------------------------

_COMPILED_KEYS = {"schema", "output_kind", "classes", "onnx", "record"}


def check_compiled(value: Any) -> dict[str, Any]:
    """Validate what ``compile.compile_model_file`` answered; return it with ``schema`` checked.

    The schema must parse as an InputSchema, the output kind be a known one,
    classes a list of scalars or None, ``record`` a dict, and the ONNX bytes
    (when present, the batch graph's too) parse and pass ``onnx.checker``.
    """
    if not isinstance(value, dict) or not set(value) >= _COMPILED_KEYS:
        raise ValueError(f"expected a dict with {sorted(_COMPILED_KEYS)}")
    InputSchema.from_dict(value["schema"])
    if value["output_kind"] not in (*OUTPUT_KINDS, "unknown"):
        raise ValueError(f"unknown output kind {value['output_kind']!r}")
    classes = value["classes"]
    if classes is not None and not (
        isinstance(classes, list) and all(isinstance(c, (str, int, float, bool)) for c in classes)
    ):
        raise ValueError("classes must be a list of scalars")
    if not isinstance(value["record"], dict):
        raise ValueError("record must be a dict")
    if value["onnx"] is not None:
        check_onnx_bytes(value["onnx"])
    if value.get("batch_onnx") is not None:
        if value["onnx"] is None or not isinstance(value["record"].get("batch"), dict):
            raise ValueError("a batch graph without a verified graph and its record")
        check_onnx_bytes(value["batch_onnx"])
    return value


def check_onnx_bytes(data: Any) -> None:
    """Raise ValueError unless ``data`` is a well-formed ONNX model (parsed, never run)."""
    if not isinstance(data, bytes):
        raise ValueError("the ONNX model is not bytes")
    try:
        model = onnx.load_model_from_string(data)
        onnx.checker.check_model(model)
    except Exception as error:  # noqa: BLE001 - DecodeError, ValidationError ...
        raise ValueError(f"the ONNX bytes are not a valid model: {error}") from None


# -- the package-time use: compile an untrusted pickle in the sandbox ------------

COMPILE_TARGET = "cloudeploy.packaging.compile:compile_model_file"


def compile_untrusted(
    path: str | os.PathLike[str],
    model_format: str,
    *,
    schema: Any = None,
    output_kind: str | None = None,
    baseline: Any = None,
    allowed_globals: Sequence[str] = (),
    allow_version_mismatch: bool = False,
    code_paths: Sequence[str | os.PathLike[str]] = (),
    limits: Limits = Limits(),
) -> dict[str, Any]:
    """Run ``compile.compile_model_file`` on ``path`` in the sandbox; return its checked answer.

    ``schema`` may be an InputSchema, names or ``{name: type}``; ``baseline``
    training data (DataFrame / ndarray, sent as at most ``compile.MAX_ROWS``
    rows) or a statistics dict. The answer is what :func:`check_compiled`
    accepts, with ``"isolation"`` added.
    """
    if isinstance(schema, InputSchema):
        schema = schema.to_dict()
    data, stats = None, None
    if isinstance(baseline, dict):
        stats = baseline
    elif baseline is not None:
        data = _rows_for_the_child(baseline)
    kwargs = {
        "schema": schema,
        "output_kind": output_kind,
        "data": data,
        "baseline": stats,
        "allowed_globals": list(allowed_globals),
        "allow_version_mismatch": allow_version_mismatch,
    }
    result = run_in_sandbox(
        COMPILE_TARGET,
        path,
        args=[model_format],
        kwargs=kwargs,
        limits=limits,
        code_paths=code_paths,
        validate=check_compiled,
    )
    return {**result.value, "isolation": result.isolation}


def _rows_for_the_child(data: Any) -> Any:
    """Training data as JSON: a DataFrame as records, an array as rows (at most MAX_ROWS)."""
    head = data[:MAX_ROWS] if hasattr(data, "__getitem__") else data
    if hasattr(head, "to_dict") and hasattr(head, "columns"):
        return head.to_dict(orient="records")
    if hasattr(head, "tolist"):
        return head.tolist()
    return list(head)


# -- the child -------------------------------------------------------------------


def _child_main() -> None:
    """Entry point of ``python -s -P -m cloudeploy.packaging.sandbox``: confine, run, answer."""
    result_channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # library prints go to stderr, never into the answer
    job = json.loads(sys.stdin.buffer.read())
    isolation: dict[str, Any] = {"notes": []}
    message: dict[str, Any]
    try:
        _confine(job, isolation)
        sys.path[:0] = job["sys_path"]
        os.chdir(job["workdir"])
        import importlib

        function = getattr(importlib.import_module(job["module"]), job["function"])
        value = function(job["file"], *_decoded(job["args"]), **_decoded(job["kwargs"]))
        message = {"value": _encode(value)}
    except MemoryError:
        message = {"error": {"type": "MemoryError", "memory_limit": job["limits"]["memory"]}}
    except BaseException as error:  # noqa: BLE001 - every failure is an answer
        message = {"error": _describe_error(error)}
    message["isolation"] = isolation
    try:
        data = json.dumps(message).encode()
    except (TypeError, ValueError, MemoryError) as error:
        data = json.dumps(
            {"error": {"type": "TypeError", "message": str(error)}, "isolation": isolation}
        ).encode()
    result_channel.write(data)
    result_channel.close()
    os._exit(0)  # no atexit handlers or thread joins of the loaded code


def _decoded(value: Any) -> Any:
    return json.loads(json.dumps(value), object_hook=_decode_bytes)


def _describe_error(error: BaseException) -> dict[str, Any]:
    described: dict[str, Any] = {"type": type(error).__name__, "message": str(error)[:4000]}
    if isinstance(error, errors.CloudeployError):
        described["message"] = error.message
        described["hint"] = error.hint
        if isinstance(error, errors.UnsafeModelError):
            described["globals"] = [str(g) for g in error.globals]
    return described


def _confine(job: dict, isolation: dict[str, Any]) -> None:
    """Apply every confinement this platform offers; record what applied and what did not."""
    os.umask(0o077)
    _set_limits(job["limits"], isolation)
    if sys.platform != "linux":
        isolation.update(network_isolation=False, filesystem_isolation=False, seccomp=False)
        isolation["notes"].append(
            f"{sys.platform}: no network namespace, read-only mounts or seccomp; "
            "resource limits, a clean environment and a throwaway directory only"
        )
        return
    from cloudeploy.packaging import _linux_confine  # inside: Linux only, loads libc at import

    _linux_confine.confine(Path(job["workdir"]), isolation)


def _set_limits(limits: dict, isolation: dict[str, Any]) -> None:
    try:
        import resource
    except ImportError:
        isolation["resource_limits"] = False
        isolation["notes"].append("no resource limits on this platform")
        return
    wanted = {
        "RLIMIT_AS": limits["memory"],
        "RLIMIT_CPU": limits["cpu_seconds"],
        "RLIMIT_NOFILE": limits["open_files"],
        "RLIMIT_FSIZE": limits["file_size"],
        "RLIMIT_CORE": 0,
    }
    applied = []
    for name, value in wanted.items():
        kind = getattr(resource, name, None)
        if kind is None:
            continue
        try:
            _soft, hard = resource.getrlimit(kind)
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            resource.setrlimit(kind, (value, hard if name != "RLIMIT_CPU" else value + 5))
            applied.append(name)
        except (ValueError, OSError) as error:
            isolation["notes"].append(f"{name}: {error}")
    isolation["resource_limits"] = applied


if __name__ == "__main__":
    _child_main()
