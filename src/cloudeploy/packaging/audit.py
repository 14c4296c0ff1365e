"""The object-graph audit: after a restricted load, refuse any callable outside the vetted set.

The allowlist decides which globals a file may *name*; it cannot decide what
an allowed class's ``__setstate__`` stores, nor what scikit-learn later does with
the callables a model holds (a ``FunctionTransformer`` calls its ``func`` with
``kw_args`` on every predict). So once a pickle is loaded -- before anything
calls a method on it -- :func:`audit_model` walks the whole object graph
(instance ``__dict__`` and ``__slots__``, lists, tuples, sets, dicts with their
keys, ``defaultdict`` factories, NumPy object arrays) without calling anything
the file defined, and refuses:

- a function, method, ufunc, ``functools.partial`` or any other callable that is
  not a vetted pure numerical function (:func:`allowlist.is_vetted_callable`),
  a name the caller allowed (exact, or under an allowed ``module.*`` such as
  the package's own ``--code`` modules), or a function of the holder's own class
  (stored by the library's ``__setstate__``, as ``interp1d._call``);
- a callable instance unless its class may be constructed and belongs to a
  family that computes on arrays (:data:`CALLABLE_INSTANCE_PREFIXES`: kernels,
  column selectors, interpolators), or the caller allowed it;
- a class held as a value, except scalar types (``numpy.float64``, ``int`` ...)
  as used in ``dtype=`` parameters, and classes the caller allowed;
- a module anywhere in the graph;
- a method name that scikit-learn looks up with ``getattr`` at predict time
  (``response_method``, ``stack_method_``) that is not a prediction method.

Each problem names where it sits, from the root object: ``steps[1][1].func``,
``steps[0][1].kw_args['indices']``.

Contract: :func:`audit_model` returns None or raises UnsafeModelError whose
``globals`` are ``"<where>: <what>"`` strings. It only reads attributes through
``object.__getattribute__`` on ``__dict__`` and slot names, so it runs no
``__getattr__`` or property of the loaded objects.
"""

from __future__ import annotations

import types
from typing import Any

from cloudeploy import lazy
from cloudeploy.errors import UnsafeModelError
from cloudeploy.packaging.allowlist import Allowlist, canonical_name, is_vetted_callable

np = lazy.module("numpy")

#: Attributes holding method names that scikit-learn resolves with getattr at predict time.
METHOD_NAME_ATTRIBUTES = frozenset({"response_method", "stack_method_", "_response_method"})
PREDICTION_METHODS = frozenset(
    {
        "auto",
        "predict",
        "predict_proba",
        "predict_log_proba",
        "decision_function",
        "transform",
        "score",
    }
)

_SCALAR_TYPES = (int, float, complex, bool, str, bytes, object)
_MAX_PROBLEMS = 20


def audit_model(model: Any, allowlist: Allowlist | None = None, *, source: str = "model") -> None:
    """Raise UnsafeModelError naming every unvetted callable in ``model``'s object graph."""
    problems = find_problems(model, allowlist or Allowlist())
    if problems:
        raise UnsafeModelError(
            f"{source} holds callables outside the vetted set: {'; '.join(problems)}",
            globals=problems,
            hint="scikit-learn calls these when it predicts; use vetted numerical functions "
            "(numpy ufuncs, numpy.clip ...) or package your own transformers with --code, "
            "or pass trust=True (CLI --trust) for a file you trust",
        )


def find_problems(model: Any, allowlist: Allowlist) -> list[str]:
    """``"<where>: <what>"`` for each refused object in the graph (empty = clean)."""
    extra_ids = {id(obj) for obj in allowlist.extra_objects()}
    problems: list[str] = []
    seen: set[int] = set()
    stack: list[tuple[str, Any, Any]] = [("", model, None)]

    def refuse(where: str, what: str) -> None:
        if len(problems) < _MAX_PROBLEMS:
            problems.append(f"{where or '<root>'}: {what}")

    while stack:
        where, obj, owner = stack.pop()
        if obj is None or isinstance(obj, (str, bytes, bytearray, int, float, complex, range)):
            continue
        if _is_function_like(obj):
            # Not memoised: a function held in several places is named at each.
            if not (
                is_vetted_callable(obj)
                or id(obj) in extra_ids
                or _own_method(owner, obj)
                or _extra_prefix(canonical_name(obj) or "", allowlist)
            ):
                refuse(where, f"{_describe(obj)} is not a vetted function")
            continue
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, (np.generic, np.dtype)):
            continue
        if isinstance(obj, types.ModuleType):
            refuse(where, f"the module {obj.__name__}")
            continue
        if isinstance(obj, type):
            if not _type_value_allowed(obj, allowlist, extra_ids):
                refuse(where, f"the class {canonical_name(obj)} held as a value")
            continue
        if id(obj) in extra_ids:
            continue
        if isinstance(obj, np.ndarray):
            if obj.dtype.hasobject:
                for index, item in enumerate(obj.ravel(order="K")):
                    stack.append((f"{where}.flat[{index}]", item, None))
            continue
        if callable(obj) and not _instance_allowed(obj, allowlist):
            refuse(where, f"a callable {canonical_name(type(obj))} instance")
            continue
        if isinstance(obj, dict):
            factory = getattr(obj, "default_factory", None)
            if factory is not None:
                stack.append((f"{where}.default_factory", factory, None))
            for key, value in reversed(list(obj.items())):
                stack.append((f"{where}[{key!r}]", value, None))
                stack.append((f"{where}[<key {key!r}>]", key, None))
            if type(obj) in (dict,):
                continue
        elif isinstance(obj, (list, tuple)):
            for index in range(len(obj) - 1, -1, -1):
                stack.append((f"{where}[{index}]", obj[index], None))
            if type(obj) in (list, tuple):
                continue
        elif isinstance(obj, (set, frozenset)):
            for item in obj:
                stack.append((f"{where}{{...}}", item, None))
            if type(obj) in (set, frozenset):
                continue
        for name, value in reversed(_attributes(obj)):
            if name in METHOD_NAME_ATTRIBUTES and not _method_names_ok(value):
                refuse(_join(where, name), f"{value!r} is not a prediction method name")
            stack.append((_join(where, name), value, obj))
    return problems


def _own_method(owner: Any, func: Any) -> bool:
    """A function of the holder's own (allowed) class, as ``interp1d._call`` set by its __setstate__.

    A file cannot put such a function there itself: naming it is refused by the
    allowlist, so only the library's own code can have stored it.
    """
    if owner is None:
        return False
    for klass in type(owner).__mro__:
        if klass is object:
            continue
        for value in vars(klass).values():
            if value is func or getattr(value, "__func__", None) is func:
                return True
    return False


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _attributes(obj: Any) -> list[tuple[str, Any]]:
    """An object's instance attributes, read without running its own attribute hooks."""
    found: list[tuple[str, Any]] = []
    try:
        state = object.__getattribute__(obj, "__dict__")
    except (AttributeError, TypeError):
        state = None
    if isinstance(state, dict):
        found.extend((str(k), v) for k, v in state.items())
    for klass in type(obj).__mro__:
        slots = klass.__dict__.get("__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            if slot in ("__dict__", "__weakref__"):
                continue
            try:
                found.append((slot, object.__getattribute__(obj, slot)))
            except (AttributeError, TypeError):
                continue
    return found


_FUNCTION_TYPES = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.BuiltinMethodType,
    types.MethodWrapperType,
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
    types.ClassMethodDescriptorType,
    types.GetSetDescriptorType,
    types.MemberDescriptorType,
    staticmethod,
    classmethod,
    property,
)


def _is_function_like(obj: Any) -> bool:
    import functools

    if isinstance(obj, (*_FUNCTION_TYPES, np.ufunc, functools.partial)):
        return True
    # numpy's array-function dispatchers (numpy.take, numpy.clip ...) are their own type.
    return type(obj).__name__ == "_ArrayFunctionDispatcher"


#: Families whose callable instances compute on arrays (kernels, column
#: selectors, interpolators, polynomials); numpy.vectorize is not one of them.
CALLABLE_INSTANCE_PREFIXES = (
    "sklearn.",
    "scipy.interpolate.",
    "numpy.polynomial.",
    "numpy.poly1d",
    "numpy.lib._polynomial_impl.poly1d",
)


def _instance_allowed(obj: Any, allowlist: Allowlist) -> bool:
    """A callable instance of an allowed class from a vetted family, or of a class the caller allowed."""
    name = canonical_name(type(obj))
    if name is None:
        return False
    if name in allowlist.extra_exact or _extra_prefix(name, allowlist):
        return True
    return allowlist.allows_class(name) and name.startswith(CALLABLE_INSTANCE_PREFIXES)


def _type_value_allowed(obj: type, allowlist: Allowlist, extra_ids: set[int]) -> bool:
    if id(obj) in extra_ids or obj in _SCALAR_TYPES:
        return True
    if issubclass(obj, (np.generic, np.dtype)):
        return True
    name = canonical_name(obj)
    return name is not None and (name in allowlist.extra_exact or _extra_prefix(name, allowlist))


def _extra_prefix(name: str, allowlist: Allowlist) -> bool:
    return bool(allowlist.extra_prefixes) and name.startswith(allowlist.extra_prefixes)


def _method_names_ok(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value in PREDICTION_METHODS
    if isinstance(value, (list, tuple)):
        return all(v is None or (isinstance(v, str) and v in PREDICTION_METHODS) for v in value)
    return False


def _describe(obj: Any) -> str:
    name = canonical_name(obj)
    if name is None:
        name = getattr(obj, "__name__", None) or type(obj).__name__
    return str(name)
