"""Which globals a pickle-based model file may name, construct or call: the allowlist.

Pickle and joblib import any ``module.name`` a file asks for and may call it,
and scikit-learn later calls the callables a model holds (a
``FunctionTransformer``'s ``func``, a ``TransformedTargetRegressor``'s
``inverse_func`` ...). So the allowlist separates three things:

- **classes that may be constructed** (:meth:`Allowlist.allows_class`): classes
  under ``sklearn.``, ``numpy.`` and ``scipy.`` (the library code a model is made
  of), except the parts that read or write files, download, import by name, run
  tests or load native code (:data:`DENIED_MODULES`, :data:`DENIED_NAMES`,
  :data:`DENIED_WORDS`) and the classes that call what they are given or look
  attributes up by name (:data:`DENIED_CLASSES`: ``numpy.vectorize``,
  ``numpy.errstate`` ...); plus exactly the builtins, copyreg and collections
  classes that scikit-learn pickles use (:data:`DEFAULT_ALLOWED_GLOBALS`);
- **functions that may be referenced** (:meth:`Allowlist.allows_function`): only a
  vetted set of pure numerical ones -- NumPy/SciPy ufuncs (``numpy.log1p``,
  ``scipy.special.expit``) and the names in :data:`VETTED_FUNCTIONS` (NumPy
  reductions and shape functions, public scikit-learn metrics and feature
  scores). Never ``numpy.vectorize``, a private scikit-learn helper, anything
  that looks attributes up (``_check_response_method``, ``get_namespace``) or
  calls what it is given (``numpy.apply_along_axis``, ``numpy.piecewise``);
- **functions that may be called while unpickling** (:meth:`Allowlist.may_call`):
  classes and the known reconstructors (:data:`LOAD_TIME_FUNCTIONS`). Load-time
  helpers that call one of their arguments (NumPy's RandomState and Generator
  constructors) are only accepted with their default argument
  (:data:`CALLS_ITS_ARGUMENT`).

Anything else a file names -- module-level dicts and lists, modules, unvetted
functions -- is refused; so is ``getattr``, ``eval``, ``exec``, ``__import__``,
``open``, ``operator.*`` or ``importlib.*``. The caller may add exact
``module.name`` entries or ``module.*`` prefixes (``allowed_globals``): those are
trusted as given, as classes and as functions.

A name is resolved (importing only allowed modules) and refused if it is a
module or if the object's real home (``__module__.__qualname__``) is not
allowed, so ``sklearn.base`` + ``np.load`` cannot reach ``numpy.load``.

What the names cannot decide -- what an allowed class's ``__setstate__`` puts in
an object -- is checked after loading by :mod:`cloudeploy.packaging.audit`,
which uses :func:`is_vetted_callable` on every callable in the object graph.
"""

from __future__ import annotations

import _compat_pickle
import importlib
import re
import types
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from cloudeploy import lazy

np = lazy.module("numpy")

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

#: Classes under an allowed prefix that call what they are given, or set an
#: error callback: never constructed, never referenced.
DENIED_CLASSES: frozenset[str] = frozenset(
    {
        "numpy.vectorize",
        "numpy.lib._function_base_impl.vectorize",
        "numpy.lib.function_base.vectorize",
        "numpy.errstate",
        "numpy._core._ufunc_config.errstate",
        "numpy.core._ufunc_config.errstate",
        "numpy.nditer",
        "numpy.lib.mixins.NDArrayOperatorsMixin",
        "scipy.sparse.linalg._interface._CustomLinearOperator",
        "scipy.sparse.linalg._interface.LinearOperator",
        "sklearn.utils._available_if._AvailableIfDescriptor",
        "sklearn.utils.metaestimators._AvailableIfDescriptor",
    }
)

#: Modules whose classes call functions they are handed (solvers, integrators).
DENIED_CLASS_MODULES: tuple[str, ...] = (
    "scipy.optimize",
    "scipy.integrate",
    "scipy.sparse.linalg",
)

#: Pure numerical functions (besides NumPy/SciPy ufuncs) a model may hold:
#: they compute on arrays and neither look attributes up nor call an argument.
VETTED_FUNCTIONS: frozenset[str] = frozenset(
    {
        *(
            f"numpy.{name}"
            for name in [
                "absolute",
                "abs",
                "amax",
                "amin",
                "argmax",
                "argmin",
                "argsort",
                "around",
                "atleast_1d",
                "atleast_2d",
                "average",
                "clip",
                "column_stack",
                "concatenate",
                "cumprod",
                "cumsum",
                "diff",
                "dot",
                "hstack",
                "max",
                "mean",
                "median",
                "min",
                "nan_to_num",
                "nanmax",
                "nanmean",
                "nanmedian",
                "nanmin",
                "nanpercentile",
                "nanquantile",
                "nanstd",
                "nansum",
                "nanvar",
                "outer",
                "percentile",
                "prod",
                "quantile",
                "ravel",
                "reshape",
                "round",
                "sort",
                "squeeze",
                "std",
                "sum",
                "take",
                "transpose",
                "var",
                "vstack",
                "where",
                "asarray",
                "ascontiguousarray",
            ]
        ),
        "scipy.special.softmax",
        "scipy.special.log_softmax",
        "scipy.special.logsumexp",
        *(
            f"sklearn.feature_selection.{name}"
            for name in [
                "chi2",
                "f_classif",
                "f_oneway",
                "f_regression",
                "r_regression",
                "mutual_info_classif",
                "mutual_info_regression",
            ]
        ),
        *(
            f"sklearn.metrics.{name}"
            for name in [
                "accuracy_score",
                "balanced_accuracy_score",
                "f1_score",
                "fbeta_score",
                "precision_score",
                "recall_score",
                "roc_auc_score",
                "average_precision_score",
                "log_loss",
                "brier_score_loss",
                "jaccard_score",
                "matthews_corrcoef",
                "hamming_loss",
                "zero_one_loss",
                "top_k_accuracy_score",
                "r2_score",
                "mean_squared_error",
                "mean_absolute_error",
                "median_absolute_error",
                "mean_absolute_percentage_error",
                "mean_squared_log_error",
                "explained_variance_score",
                "max_error",
                "mean_pinball_loss",
                "d2_absolute_error_score",
            ]
        ),
        *(
            f"sklearn.preprocessing.{name}"
            for name in ["normalize", "scale", "minmax_scale", "maxabs_scale", "robust_scale"]
        ),
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
    """The globals a model file may name, construct or call, plus the caller's additions.

    ``extra`` holds exact ``module.name`` strings or ``module.*`` prefixes. An
    explicit entry is trusted as given (it is not re-checked against the deny
    rules or resolved), as a class and as a function.
    """

    def __init__(self, extra: Iterable[str] = ()) -> None:
        extra = [str(e).strip() for e in extra if str(e).strip()]
        self.extra_exact = frozenset(e for e in extra if not e.endswith(".*"))
        self.extra_prefixes = tuple(e[:-1] for e in extra if e.endswith(".*"))

    def _extra(self, path: str) -> bool:
        return path in self.extra_exact or path.startswith(self.extra_prefixes)

    def allows(self, path: str) -> bool:
        """Whether a file may name ``path``: an allowed class, a vetted or load-time function."""
        if self._extra(path) or path in DEFAULT_ALLOWED_GLOBALS or path in LOAD_TIME_FUNCTIONS:
            return True
        if _cython_pickle_helper(path):
            return True
        return self.allows_class(path) or self.allows_function(path)

    def allows_class(self, path: str) -> bool:
        """Whether ``path`` is a class that may be constructed (and BUILD-ed)."""
        if self._extra(path) or path in DEFAULT_ALLOWED_GLOBALS:
            return True
        return _library_kind(path) == "class"

    def allows_function(self, path: str) -> bool:
        """Whether ``path`` is a vetted pure numerical function (referenced, never called at load)."""
        if self._extra(path):
            return True
        return _library_kind(path) == "function"

    def may_call(self, path: str) -> bool:
        """Whether unpickling may call ``path`` (already known to be allowed)."""
        if path in LOAD_TIME_FUNCTIONS or self._extra(path) or _cython_pickle_helper(path):
            return True
        return self.allows_class(path)

    def extra_objects(self) -> list[Any]:
        """The objects the caller's exact entries resolve to (for the object-graph audit)."""
        found = []
        for path in sorted(self.extra_exact):
            obj = resolve(path)
            if obj is not None:
                found.append(obj)
        return found


def _cython_pickle_helper(path: str) -> bool:
    """Cython's pickle helpers: they only call ``cls.__new__(cls)`` and set fields."""
    last = path.rsplit(".", 1)[-1]
    return path.startswith(ALLOWED_PREFIXES) and (
        last == "newObj" or last.startswith("__pyx_unpickle_")
    )


@lru_cache(maxsize=4096)
def _library_kind(path: str) -> str | None:
    """``"class"`` or ``"function"`` for an allowed library name, None when it is refused."""
    if not path.startswith(ALLOWED_PREFIXES) or _is_denied(path):
        return None
    if not _resolves_safely(path):
        return None
    obj = resolve(path)
    if isinstance(obj, type):
        home = canonical_name(obj) or path
        if _class_denied(path) or _class_denied(home):
            return None
        return "class"
    return "function" if is_vetted_callable(obj) else None


def _class_denied(path: str) -> bool:
    return path in DENIED_CLASSES or any(
        path == m or path.startswith(m + ".") for m in DENIED_CLASS_MODULES
    )


@lru_cache(maxsize=1)
def _vetted_function_ids() -> frozenset[int]:
    ids = set()
    for path in VETTED_FUNCTIONS:
        obj = resolve(path)
        if obj is not None and not isinstance(obj, (type, types.ModuleType)):
            ids.add(id(obj))
    return frozenset(ids)


def is_vetted_callable(obj: Any) -> bool:
    """Whether ``obj`` is a vetted pure numerical function: a library ufunc or in VETTED_FUNCTIONS.

    Ufuncs made by ``numpy.frompyfunc`` wrap arbitrary Python callables and are
    not vetted (their name ends in ``(vectorized)``).
    """
    if id(obj) in _vetted_function_ids():
        return True
    if isinstance(obj, np.ufunc):
        name = getattr(obj, "__name__", "") or ""
        if "vectorized" in name:
            return False
        return resolve(f"numpy.{name}") is obj or _scipy_ufunc(obj)
    return False


def _scipy_ufunc(obj: Any) -> bool:
    import sys

    special = sys.modules.get("scipy.special")
    name = getattr(obj, "__name__", None)
    return special is not None and isinstance(name, str) and getattr(special, name, None) is obj


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
