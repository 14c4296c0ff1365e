"""Which globals a pickle-based model file may import: the allowlist.

Pickle and joblib import any ``module.name`` a file asks for and may call it,
so a model file is only unpickled when every global it names is allowed:

- anything under ``sklearn.``, ``numpy.`` and ``scipy.`` (the library code a
  model is made of), except the parts that read or write files, download,
  import by name, run tests or load native code (:data:`DENIED_MODULES`,
  :data:`DENIED_NAMES`, :data:`DENIED_WORDS`);
- exactly the joblib, builtins, copyreg and collections names that scikit-learn
  pickles use (:data:`DEFAULT_ALLOWED_GLOBALS`); never ``getattr``, ``eval``,
  ``exec``, ``__import__``, ``open``, ``operator.*`` or ``importlib.*``;
- whatever the caller adds (``allowed_globals``): exact ``module.name`` or a
  ``module.*`` prefix.

Being named is not enough to be *called* while loading: a call during
unpickling must go to a class or to one of the known reconstructor functions
(:data:`LOAD_TIME_FUNCTIONS`); library functions such as
``numpy.core._ufunc_reconstruct`` import by name and so are refused as callees.
Load-time helpers that call one of their arguments (NumPy's RandomState and
Generator constructors) are only accepted with their default argument
(:data:`CALLS_ITS_ARGUMENT`), else they would call any allowed function.

A name is also resolved (importing only allowed modules) and refused if it is a
module or if the object's real home (``__module__.__qualname__``) is not
allowed, so ``sklearn.base`` + ``np.load`` cannot reach ``numpy.load``.
"""

from __future__ import annotations

import _compat_pickle
import importlib
import re
import types
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

ALLOWED_PREFIXES: tuple[str, ...] = ("sklearn.", "numpy.", "scipy.")

#: Exact names outside the prefixes that scikit-learn / NumPy pickles need.
DEFAULT_ALLOWED_GLOBALS: frozenset[str] = frozenset(
    {
        "joblib.numpy_pickle.NumpyArrayWrapper",
        "copyreg._reconstructor",
        "_codecs.encode",
        "collections.OrderedDict",
        "collections.defaultdict",
        "builtins.object",
        "builtins.slice",
        "builtins.set",
        "builtins.frozenset",
        "builtins.complex",
        "builtins.bytearray",
        "builtins.bytes",
        "builtins.range",
        "builtins.list",
        "builtins.dict",
        "builtins.tuple",
        "builtins.int",
        "builtins.float",
        "builtins.str",
        "builtins.bool",
    }
)

#: Functions (not classes) that may be called while unpickling.
LOAD_TIME_FUNCTIONS: frozenset[str] = frozenset(
    {
        "copyreg._reconstructor",
        "_codecs.encode",
        "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray.scalar",
        "numpy.core.multiarray.scalar",
        "numpy._core.numeric._frombuffer",
        "numpy.core.numeric._frombuffer",
        "numpy.ma.core._mareconstruct",
        "numpy.random._pickle.__randomstate_ctor",
        "numpy.random._pickle.__bit_generator_ctor",
        "numpy.random._pickle.__generator_ctor",
    }
)

#: NumPy < 1.20 pickled ufuncs as a call to this importer; it is never called,
#: its two string arguments are checked as a global instead.
UFUNC_RECONSTRUCT: frozenset[str] = frozenset(
    {"numpy.core._ufunc_reconstruct", "numpy._core._ufunc_reconstruct"}
)

BIT_GENERATOR_CTOR = "numpy.random._pickle.__bit_generator_ctor"
#: Allowed load-time functions that call an argument: only their default
#: argument is accepted, otherwise they would call any allowed function.
CALLS_ITS_ARGUMENT: dict[str, int] = {
    "numpy.random._pickle.__randomstate_ctor": 1,
    "numpy.random._pickle.__generator_ctor": 1,
}

#: Modules (and everything below them) refused even under an allowed prefix.
DENIED_MODULES: tuple[str, ...] = (
    "numpy.ctypeslib",
    "numpy.lib.npyio",
    "numpy.lib._npyio_impl",
    "numpy.lib.format",
    "numpy.lib._datasource",
    "numpy.lib.utils",
    "numpy.lib._utils_impl",
    "numpy.core._internal",
    "numpy._core._internal",
    "numpy.core.memmap",
    "numpy._core.memmap",
    "numpy.core.records",
    "numpy._core.records",
    "numpy.rec",
    "numpy.ma.mrecords",
    "numpy.__config__",
    "scipy._lib",
    # rv_generic.__setstate__ exec()s a code template taken from the pickled state.
    "scipy.stats",
    "scipy.LowLevelCallable",
    "scipy.misc",
    "scipy.sparse._matrix_io",
    "sklearn.utils._show_versions",
    "sklearn.utils.estimator_checks",
    "sklearn.utils.discovery",
    "sklearn.utils.parallel",
    "sklearn.utils._joblib",
    "sklearn.utils._set_output.check_library_installed",
    "sklearn._config",
    # unpickled listener handles connect to a socket named in the pickle.
    "sklearn.callback",
    "sklearn._build_utils",
    "sklearn.__check_build",
    "sklearn._min_dependencies",
)

#: Module path components that are refused wherever they appear.
DENIED_COMPONENTS: frozenset[str] = frozenset(
    {
        "tests",
        "testing",
        "_testing",
        "_testutils",
        "conftest",
        "_pytesttester",
        "io",
        "datasets",
        "f2py",
        "distutils",
        "externals",
        "experimental",
    }
)

#: Exact names refused under an allowed prefix.
DENIED_NAMES: frozenset[str] = frozenset(
    {
        "numpy.DataSource",
        "numpy.genfromtxt",
        "numpy.fromregex",
        "numpy.show_config",
        "numpy.show_runtime",
        "numpy.info",
        "numpy.source",
        "numpy.lookfor",
        "numpy.add_newdoc",
        "numpy._core.function_base.add_newdoc",
        "numpy.core._ufunc_reconstruct",
        "numpy._core._ufunc_reconstruct",
        "scipy.optimize._optimize.show_options",
        "scipy.optimize.show_options",
        "sklearn.show_versions",
        "sklearn.set_config",
        "sklearn.config_context",
    }
)

#: A final name made of one of these words (``load``, ``np.savetxt``,
#: ``read_csv`` ...) reads, writes or imports: refused.
DENIED_WORDS: frozenset[str] = frozenset(
    {
        "load",
        "loads",
        "loadtxt",
        "save",
        "savez",
        "savetxt",
        "dump",
        "dumps",
        "read",
        "write",
        "open",
        "fetch",
        "download",
        "exec",
        "eval",
        "system",
        "spawn",
        "popen",
        "import",
        "compile",
        "memmap",
        "tofile",
        "fromfile",
        "newdoc",
        "library",
    }
)

_WORD_SPLIT = re.compile(r"_+")


def _py3_name(module: str, name: str) -> tuple[str, str]:
    """Apply pickle's Python 2 name mapping (``__builtin__`` -> ``builtins``)."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def global_name(module: str, name: str) -> str:
    """The dotted ``module.name`` a pickle's global refers to (Python 2 names mapped)."""
    module, name = _py3_name(module, name)
    return f"{module}.{name}"


def _is_denied(path: str) -> bool:
    if path in DENIED_NAMES:
        return True
    if any(path == m or path.startswith(m + ".") for m in DENIED_MODULES):
        return True
    parts = path.split(".")
    if any(part in DENIED_COMPONENTS for part in parts[:-1]):
        return True
    last = parts[-1].lower()
    if "file" in last or "memmap" in last:
        return True
    words = [w for w in _WORD_SPLIT.split(last) if w]
    return any(w in DENIED_WORDS or w.startswith(("load", "save", "dump")) for w in words)


class Allowlist:
    """The set of globals a model file may import, plus the caller's additions.

    ``extra`` holds exact ``module.name`` strings or ``module.*`` prefixes. An
    explicit exact entry is trusted as given (it is not re-checked against the
    deny rules or resolved).
    """

    def __init__(self, extra: Iterable[str] = ()) -> None:
        extra = [str(e).strip() for e in extra if str(e).strip()]
        self.extra_exact = frozenset(e for e in extra if not e.endswith(".*"))
        self.extra_prefixes = tuple(e[:-1] for e in extra if e.endswith(".*"))

    def _extra(self, path: str) -> bool:
        return path in self.extra_exact or path.startswith(self.extra_prefixes)

    def allows(self, path: str) -> bool:
        """Whether ``path`` may be imported: by its name, then by what it resolves to."""
        if self._extra(path) or path in DEFAULT_ALLOWED_GLOBALS:
            return True
        return path.startswith(ALLOWED_PREFIXES) and not _is_denied(path) and _resolves_safely(path)

    def may_call(self, path: str) -> bool:
        """Whether unpickling may call ``path`` (already known to be allowed)."""
        if path in LOAD_TIME_FUNCTIONS or self._extra(path):
            return True
        last = path.rsplit(".", 1)[-1]
        # Cython's pickle helpers: they only call ``cls.__new__(cls)``.
        if path.startswith(ALLOWED_PREFIXES) and (
            last == "newObj" or last.startswith("__pyx_unpickle_")
        ):
            return True
        obj = resolve(path)
        return isinstance(obj, type)


def canonical_name(obj: Any) -> str | None:
    """``obj.__module__ + '.' + obj.__qualname__`` when both are strings."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if isinstance(module, str) and isinstance(qualname, str):
        return f"{module}.{qualname}"
    return None


@lru_cache(maxsize=4096)
def resolve(path: str) -> Any:
    """Import the module of ``path`` and walk to the object, without calling anything.

    Returns None when it does not resolve. Only called for names that passed
    the name rules, so only allowed modules are imported.
    """
    parts = path.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            obj: Any = importlib.import_module(module_name)
        except Exception:  # noqa: BLE001 - any failure means "does not resolve"
            continue
        for attribute in parts[split:]:
            if isinstance(obj, types.ModuleType) and attribute != parts[split]:
                return None  # walking through a module alias: sklearn.base.np.load
            try:
                obj = getattr(obj, attribute)
            except AttributeError:
                return None
        return obj
    return None


@lru_cache(maxsize=4096)
def _resolves_safely(path: str) -> bool:
    obj = resolve(path)
    if obj is None or isinstance(obj, types.ModuleType):
        return False
    home = canonical_name(obj)
    if home is None or home == path:
        return True
    return home in DEFAULT_ALLOWED_GLOBALS or (
        home.startswith(ALLOWED_PREFIXES) and not _is_denied(home)
    )
