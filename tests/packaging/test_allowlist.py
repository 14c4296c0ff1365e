"""The allowlist: library code is allowed, anything that can run, read or import is not."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudeploy.packaging import DEFAULT_ALLOWED_GLOBALS, scan_pickle
from cloudeploy.packaging.allowlist import Allowlist


@pytest.mark.parametrize(
    "name",
    [
        "sklearn.tree._tree.Tree",
        "sklearn.linear_model._logistic.LogisticRegression",
        "numpy.dtype",
        "numpy._core.multiarray._reconstruct",
        "scipy.sparse._csr.csr_matrix",
        "joblib.numpy_pickle.NumpyArrayWrapper",
        "copyreg._reconstructor",
        "builtins.slice",
    ],
)
def test_library_globals_are_allowed(name):
    assert Allowlist().allows(name)


@pytest.mark.parametrize(
    "name",
    [
        "builtins.eval",
        "builtins.exec",
        "builtins.getattr",
        "builtins.__import__",
        "builtins.open",
        "os.system",
        "posix.system",
        "subprocess.Popen",
        "operator.methodcaller",
        "operator.attrgetter",
        "importlib.import_module",
        "numpy.load",
        "numpy.fromfile",
        "numpy.memmap",
        "numpy.testing.assert_equal",
        "numpy.ctypeslib.load_library",
        "numpy.core._ufunc_reconstruct",
        "scipy.io.loadmat",
        "scipy.io.wavfile.write",
        "scipy.sparse.load_npz",
        "joblib.load",
        "joblib.dump",
        "joblib.externals.cloudpickle.cloudpickle.subimport",
        "sklearn.datasets.fetch_openml",
        "sklearn.datasets.dump_svmlight_file",
        "sklearn.utils._testing.assert_docstring_consistency",
        "sklearn.utils._set_output.check_library_installed",
    ],
)
def test_globals_that_run_read_or_import_are_refused(name):
    assert not Allowlist().allows(name)


def test_reaching_a_module_through_an_allowed_module_is_refused():
    assert not Allowlist().allows("sklearn.base.np.load")
    assert not Allowlist().allows("sklearn.base.np")


def test_a_module_itself_is_not_an_allowed_global():
    assert not Allowlist().allows("numpy.random")


def test_user_can_allow_an_exact_name():
    assert Allowlist(["mylib.models.Scorer"]).allows("mylib.models.Scorer")
    assert not Allowlist(["mylib.models.Scorer"]).allows("mylib.models.Other")


def test_user_can_allow_a_module_prefix():
    assert Allowlist(["mylib.*"]).allows("mylib.models.Scorer")
    assert not Allowlist(["mylib.*"]).allows("mylibrary.Scorer")


def test_default_allowed_globals_hold_no_code_runners():
    runners = {
        "builtins.eval",
        "builtins.exec",
        "builtins.getattr",
        "builtins.__import__",
        "builtins.open",
    }
    assert not runners & DEFAULT_ALLOWED_GLOBALS
    assert not any(
        name.startswith(("operator.", "importlib.", "os.")) for name in DEFAULT_ALLOWED_GLOBALS
    )


def test_classes_may_be_called_while_loading_but_library_functions_may_not():
    allowlist = Allowlist()
    assert allowlist.may_call("sklearn.linear_model._logistic.LogisticRegression")
    assert allowlist.may_call("numpy._core.multiarray._reconstruct")
    assert not allowlist.may_call("numpy.log1p")


def test_calling_an_allowed_library_function_while_loading_is_reported():
    payload = b"\x80\x04\x8c\x05numpy\x8c\x03abs\x93K\x01\x85R."  # numpy.abs(1)
    assert scan_pickle(payload) == ["numpy.abs"]


def test_referencing_an_allowed_function_as_a_value_is_fine():
    import numpy as np

    assert scan_pickle(pickle.dumps({"func": np.log1p})) == []


def test_python2_names_are_mapped_like_pickle_does():
    protocol_2 = pickle.dumps(slice(1, 2), protocol=2)
    assert scan_pickle(protocol_2) == []
    assert scan_pickle(b"c__builtin__\neval\n(S'1'\ntR.") == ["builtins.eval"]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_scan_never_raises_on_arbitrary_bytes(data):
    assert isinstance(scan_pickle(data), list)


# -- classes that may be constructed, functions that may be referenced ------------------


@pytest.mark.parametrize(
    "name",
    [
        "sklearn.preprocessing._function_transformer.FunctionTransformer",
        "sklearn.tree._tree.Tree",
        "numpy.ndarray",
        "numpy.float64",
        "numpy.random.mtrand.RandomState",
    ],
)
def test_library_classes_may_be_constructed_but_are_not_functions(name):
    allowlist = Allowlist()
    assert allowlist.allows_class(name)
    assert not allowlist.allows_function(name)
    assert allowlist.may_call(name)


@pytest.mark.parametrize(
    "name",
    [
        "numpy.log1p",
        "numpy.expm1",
        "numpy.clip",
        "numpy.take",
        "scipy.special._special_ufuncs.expit",
        "sklearn.feature_selection._univariate_selection.f_classif",
        "sklearn.metrics._classification.accuracy_score",
    ],
)
def test_vetted_numerical_functions_may_be_referenced_but_not_called_while_loading(name):
    allowlist = Allowlist()
    assert allowlist.allows(name)
    assert allowlist.allows_function(name)
    assert not allowlist.allows_class(name)
    assert not allowlist.may_call(name)


@pytest.mark.parametrize(
    "name",
    [
        # the issue-15 chain: getattr-like helpers and callers
        "sklearn.utils._array_api.get_namespace",
        "sklearn.utils.validation._check_response_method",
        "numpy.vectorize",
        "numpy.lib._function_base_impl.vectorize",
        "numpy.lib._function_base_impl.vectorize.__call__",
        "sklearn.feature_selection._base._get_feature_importances",  # attrgetter(dotted path)
        "numpy._core.fromnumeric._wrapfunc",  # getattr(obj, method)(*args, **kwargs)
        # functions that call what they are given
        "numpy.fromfunction",
        "numpy.apply_along_axis",
        "numpy.piecewise",
        "numpy.frompyfunc",
        "numpy.errstate",
        # private helpers and public but unvetted library functions
        "sklearn.utils.validation.check_array",
        "sklearn.utils._response._get_response_values",
        "sklearn.metrics.make_scorer",
        "sklearn.metrics.get_scorer",
        "scipy.optimize.minimize",
        # module-level state that SETITEM or BUILD could change
        "sklearn.metrics._scorer._SCORERS",
    ],
)
def test_getattr_like_calling_and_unvetted_functions_are_refused(name):
    assert not Allowlist().allows(name)


def test_ufuncs_wrapping_python_callables_are_not_vetted():
    import os

    import numpy as np

    from cloudeploy.packaging.allowlist import is_vetted_callable

    assert is_vetted_callable(np.log1p)
    assert not is_vetted_callable(np.frompyfunc(os.system, 1, 1))


def test_an_exact_user_entry_is_trusted_as_a_function_too():
    allowlist = Allowlist(["sklearn.utils.validation.check_array"])
    assert allowlist.allows_function("sklearn.utils.validation.check_array")


def test_build_on_a_function_is_reported_by_the_scan():
    payload = b"\x80\x02csklearn.utils.validation\ncheck_array\n}b."  # check_array + BUILD({})
    assert "<BUILD on sklearn.utils.validation.check_array>" in scan_pickle(payload)
