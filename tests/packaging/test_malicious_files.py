"""Malicious pickle files never run: not when scanned, packaged, loaded or served.

Each payload would create a marker file when unpickled; every test asserts the
marker never appears and that the refusal names the offending globals.
"""

from __future__ import annotations

import pytest

from cloudeploy.errors import UnsafeModelError
from cloudeploy.packaging import Manifest, build_package, load_package, scan_pickle
from cloudeploy.packaging.manifest import sha256_file
from cloudeploy.packaging.schema import InputSchema
from tests.packaging import payloads


def _plain(factory):
    return lambda path, marker: payloads.write_pickle(path.with_suffix(".pkl"), factory(marker))


def _joblib(compress):
    return lambda path, marker: payloads.write_joblib(
        path.with_suffix(".joblib"), payloads.os_system(marker), compress=compress
    )


def _raw(factory):
    def write(path, marker):
        target = path.with_suffix(".pkl")
        target.write_bytes(factory(marker))
        return target

    return write


FORMS = {
    "plain-os-system": (_plain(payloads.os_system), ["system"]),
    "plain-builtins-exec": (_plain(payloads.builtins_exec), ["builtins.exec"]),
    "joblib-zlib": (_joblib(3), ["system"]),
    "joblib-gzip": (_joblib(("gzip", 3)), ["system"]),
    "joblib-bz2": (_joblib(("bz2", 3)), ["system"]),
    "joblib-xz": (_joblib(("xz", 3)), ["system"]),
    "joblib-lzma": (_joblib(("lzma", 3)), ["system"]),
    "methodcaller-chain": (
        _plain(payloads.methodcaller_chain),
        ["operator.methodcaller", "builtins.__import__"],
    ),
    "importlib-chain": (
        _plain(payloads.importlib_chain),
        ["importlib.import_module", "builtins.getattr"],
    ),
    "after-inline-numpy-array": (
        lambda path, marker: payloads.write_after_inline_array(path.with_suffix(".joblib"), marker),
        ["system"],
    ),
    "inside-object-array": (
        lambda path, marker: payloads.write_in_object_array(path.with_suffix(".joblib"), marker),
        ["builtins.exec"],
    ),
    "stack-global-via-memo": (_raw(payloads.stack_global_via_memo), ["system"]),
    "stack-global-computed-operands": (_raw(payloads.stack_global_computed), ["STACK_GLOBAL"]),
    "protocol-0-inst": (_raw(payloads.protocol_0_inst), ["os.system"]),
    "protocol-1-obj": (_raw(payloads.protocol_1_obj), ["os.system"]),
    "scipy-stats-exec-template": (_raw(payloads.scipy_distribution_template), ["scipy.stats"]),
    "randomstate-ctor-trampoline": (
        _raw(payloads.randomstate_with_custom_constructor),
        ["builtins.exec", "__randomstate_ctor with constructor"],
    ),
}


@pytest.fixture(params=sorted(FORMS))
def malicious(request, tmp_path):
    """(path of the malicious file, marker path, expected fragments of the offending globals)."""
    writer, expected = FORMS[request.param]
    marker = tmp_path / "pwned"
    path = writer(tmp_path / "evil", marker)
    assert not marker.exists()
    return path, marker, expected


def _names_all(offending: list[str], expected: list[str]) -> bool:
    return all(any(fragment in name for name in offending) for fragment in expected)


def test_scan_reports_the_offending_globals(malicious):
    path, marker, expected = malicious
    offending = scan_pickle(path)
    assert _names_all(offending, expected), offending
    assert not marker.exists()


def test_scan_of_the_bytes_matches_the_scan_of_the_file(malicious):
    path, _marker, _expected = malicious
    assert scan_pickle(path.read_bytes()) == scan_pickle(path)


def test_build_package_refuses_and_lists_the_globals(malicious, tmp_path):
    path, marker, expected = malicious
    with pytest.raises(UnsafeModelError) as refused:
        build_package(path, tmp_path / "package")
    assert _names_all(refused.value.globals, expected)
    assert not marker.exists()
    assert not (tmp_path / "package").exists()


def test_load_package_refuses_a_package_holding_it(malicious, tmp_path):
    path, marker, expected = malicious
    package = tmp_path / "package"
    package.mkdir()
    model_file = package / path.name
    model_file.write_bytes(path.read_bytes())
    Manifest(
        name="evil",
        format="joblib",
        model_file=path.name,
        files={path.name: sha256_file(model_file)},
        schema=InputSchema.positional(3),
    ).write(package)
    with pytest.raises(UnsafeModelError) as refused:
        load_package(package)
    assert _names_all(refused.value.globals, expected)
    assert not marker.exists()


def test_restricted_unpickler_refuses_it_even_without_the_scan(malicious):
    from cloudeploy.packaging.unpickle import load_pickle_file

    path, marker, _expected = malicious
    with pytest.raises(UnsafeModelError):
        load_pickle_file(path)
    assert not marker.exists()


def test_allowing_one_global_still_refuses_the_others(tmp_path):
    marker = tmp_path / "pwned"
    path = payloads.write_pickle(tmp_path / "evil.pkl", payloads.methodcaller_chain(marker))
    offending = scan_pickle(path, allowed_globals=["operator.methodcaller"])
    assert "builtins.__import__" in offending
    assert "operator.methodcaller" not in offending
    with pytest.raises(UnsafeModelError):
        build_package(path, tmp_path / "package", allowed_globals=["operator.methodcaller"])
    assert not marker.exists()


def test_cli_refuses_with_one_line_and_a_nonzero_exit(tmp_path):
    from click.testing import CliRunner

    from cloudeploy.cli import cli

    marker = tmp_path / "pwned"
    path = payloads.write_joblib(tmp_path / "evil.joblib", payloads.os_system(marker), compress=3)
    result = CliRunner().invoke(cli, ["package", str(path), "-o", str(tmp_path / "package")])
    assert result.exit_code == UnsafeModelError.exit_code
    assert "system" in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not marker.exists()


def test_trust_loads_a_benign_custom_class_pickle(tmp_path, custom_model_module):
    import pickle

    path = tmp_path / "custom.pkl"
    path.write_bytes(pickle.dumps(custom_model_module.ConstantModel()))
    package = build_package(path, tmp_path / "package", trust=True)
    loaded = load_package(package.path, trust=True)
    assert loaded.predict([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]) == [7, 7]


def test_a_benign_custom_class_pickle_is_refused_without_trust(tmp_path, custom_model_module):
    import pickle

    path = tmp_path / "custom.pkl"
    path.write_bytes(pickle.dumps(custom_model_module.ConstantModel()))
    with pytest.raises(UnsafeModelError) as refused:
        build_package(path, tmp_path / "package")
    assert refused.value.globals == ["cloudeploy_test_custom_models.ConstantModel"]


def test_allowed_globals_load_a_custom_class_without_trust(tmp_path, custom_model_module):
    import pickle

    path = tmp_path / "custom.pkl"
    path.write_bytes(pickle.dumps(custom_model_module.ConstantModel()))
    allowed = ["cloudeploy_test_custom_models.ConstantModel"]
    package = build_package(path, tmp_path / "package", allowed_globals=allowed)
    loaded = load_package(package.path, allowed_globals=allowed)
    assert loaded.predict([[1.0, 2.0, 3.0]]) == [7]
    assert package.manifest.trusted_types == allowed


@pytest.mark.parametrize("form", ["plain-os-system", "joblib-zlib", "methodcaller-chain"])
def test_serving_a_package_holding_it_fails_without_running_it(form, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    writer, expected = FORMS[form]
    marker = tmp_path / "pwned"
    path = writer(tmp_path / "evil", marker)
    package = tmp_path / "package"
    package.mkdir()
    (package / path.name).write_bytes(path.read_bytes())
    Manifest(
        name="evil",
        format="joblib",
        model_file=path.name,
        files={path.name: sha256_file(package / path.name)},
        schema=InputSchema.positional(3),
    ).write(package)
    cloudeploy = Path(sys.executable).with_name("cloudeploy")
    completed = subprocess.run(
        [str(cloudeploy), "serve", str(package), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == UnsafeModelError.exit_code
    assert all(fragment in completed.stderr for fragment in expected)
    assert not marker.exists()


def test_numpy_pickle_helpers_cannot_trampoline_into_library_functions(tmp_path):
    from cloudeploy.packaging.unpickle import load_pickle_file

    path = tmp_path / "trampoline.pkl"
    path.write_bytes(payloads.randomstate_with_library_constructor(tmp_path / "pwned"))
    assert any("with constructor numpy.asarray" in name for name in scan_pickle(path))
    with pytest.raises(UnsafeModelError):
        load_pickle_file(path)


def test_models_holding_numpy_random_states_still_load(training_data, tmp_path):
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier

    X, y = training_data
    model = RandomForestClassifier(n_estimators=3, random_state=np.random.RandomState(0)).fit(X, y)
    model.generator_ = np.random.default_rng(0)
    loaded = load_package(build_package(model, tmp_path / "pkg").path)
    assert loaded.predict(X[:5].tolist()) == model.predict(X[:5]).tolist()


@pytest.mark.parametrize(
    "array",
    [
        pytest.param(lambda np: np.arange(7, dtype=np.int8), id="int8"),
        pytest.param(lambda np: np.array(["a", "bcdefg"]), id="unicode"),
        pytest.param(
            lambda np: np.zeros(3, dtype=[("a", "<i4"), ("b", "<f8", (2,))]), id="structured"
        ),
        pytest.param(lambda np: np.array(["2024-01-01"], dtype="datetime64[ns]"), id="datetime"),
        pytest.param(
            lambda np: np.ones((2, 3), dtype=np.complex128, order="F"), id="complex-fortran"
        ),
        pytest.param(lambda np: np.zeros((0, 5)), id="empty"),
    ],
)
def test_payload_after_any_inline_array_is_found(array, tmp_path):
    import os

    import joblib
    import numpy as np

    path = tmp_path / "evil.joblib"
    joblib.dump([array(np), payloads.os_system(tmp_path / "pwned")], path)
    assert scan_pickle(path) == [f"{os.system.__module__}.system"]


# -- predict-time chains: every global was on the old allowlist; code would run on predict --


def _pickled(factory):
    def write(path, marker):
        target = path.with_suffix(".pkl")
        target.write_bytes(__import__("pickle").dumps(factory(marker), protocol=4))
        return target

    return write


def _raw_static(factory):
    return _raw(lambda marker: factory())


PREDICT_TIME = {
    "vectorize-chain": (
        _pickled(payloads.vectorize_chain),
        ["get_namespace", "_check_response_method", "numpy.vectorize", "vectorize.__call__"],
    ),
    "fromfunction-chain": (
        _pickled(payloads.fromfunction_chain),
        ["get_namespace", "_check_response_method", "numpy.fromfunction"],
    ),
    "attrgetter-chain": (
        _pickled(payloads.attrgetter_chain),
        ["get_namespace", "_get_feature_importances", "numpy.fromfunction"],
    ),
    "wrapfunc-chain": (
        _pickled(payloads.wrapfunc_chain),
        ["get_namespace", "_check_response_method", "_wrapfunc"],
    ),
    "build-on-function-check-array": (
        _raw_static(payloads.check_array_kwdefaults),
        ["<BUILD on sklearn.utils.validation.check_array>"],
    ),
    "build-on-module": (_raw_static(payloads.build_on_module), ["<BUILD on sklearn.utils"]),
    "build-on-class": (
        _raw_static(payloads.build_on_class),
        ["<BUILD on sklearn.linear_model.LogisticRegression>"],
    ),
}


@pytest.fixture(scope="module")
def check_array_defaults():
    from sklearn.utils.validation import check_array

    return dict(check_array.__kwdefaults__)


@pytest.fixture(params=sorted(PREDICT_TIME))
def predict_time(request, tmp_path, check_array_defaults):
    """(file, marker, expected fragments); afterwards check_array must be unpatched."""
    from sklearn.utils.validation import check_array

    writer, expected = PREDICT_TIME[request.param]
    marker = tmp_path / "pwned"
    path = writer(tmp_path / "evil", marker)
    yield path, marker, expected
    assert not marker.exists()
    assert check_array.__kwdefaults__ == check_array_defaults


def _hand_made_package(path, root):
    """A package holding ``path`` as its model, written without build_package's checks."""
    root.mkdir()
    (root / path.name).write_bytes(path.read_bytes())
    Manifest(
        name="evil",
        format="pickle",
        model_file=path.name,
        files={path.name: sha256_file(root / path.name)},
        schema=InputSchema.positional(3),
    ).write(root)
    return root


@pytest.mark.parametrize(
    "chain", ["vectorize-chain", "fromfunction-chain", "attrgetter-chain", "wrapfunc-chain"]
)
def test_the_chains_do_run_code_when_loaded_with_plain_pickle(chain, tmp_path):
    """The payloads are real: plain pickle + predict runs the command (in a throwaway process)."""
    import subprocess
    import sys

    marker = tmp_path / "pwned"
    path = PREDICT_TIME[chain][0](tmp_path / "evil", marker)
    script = (
        "import pickle, sys, numpy as np\n"
        "model = pickle.load(open(sys.argv[1], 'rb'))\n"
        "try:\n    model.predict(np.zeros((1, 3)))\nexcept Exception:\n    pass\n"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=True, timeout=120)
    assert marker.exists()


def test_plain_pickle_of_the_build_payload_does_patch_check_array(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "evil.pkl"
    path.write_bytes(payloads.check_array_kwdefaults())
    script = (
        "import pickle, sys\n"
        "from sklearn.utils.validation import check_array\n"
        "pickle.load(open(sys.argv[1], 'rb'))\n"
        "print(check_array.__kwdefaults__['ensure_min_samples'])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(path)], check=True, capture_output=True, text=True
    )
    assert out.stdout.strip() == str(10**9)


def test_scan_names_what_the_predict_time_payload_uses(predict_time):
    path, _marker, expected = predict_time
    assert _names_all(scan_pickle(path), expected), scan_pickle(path)


def test_package_refuses_the_predict_time_payload(predict_time, tmp_path):
    path, _marker, expected = predict_time
    with pytest.raises(UnsafeModelError) as refused:
        build_package(path, tmp_path / "package")
    assert _names_all(refused.value.globals, expected)
    assert not (tmp_path / "package").exists()


def test_load_package_refuses_the_predict_time_payload(predict_time, tmp_path):
    path, _marker, expected = predict_time
    package = _hand_made_package(path, tmp_path / "package")
    with pytest.raises(UnsafeModelError) as refused:
        load_package(package)
    assert _names_all(refused.value.globals, expected)


def test_restricted_unpickler_refuses_the_predict_time_payload_without_the_scan(predict_time):
    from cloudeploy.packaging.unpickle import load_pickle_file

    path, _marker, _expected = predict_time
    with pytest.raises(UnsafeModelError):
        load_pickle_file(path)


def test_deploy_to_the_local_provider_refuses_the_file_and_the_package(
    predict_time, tmp_path, monkeypatch
):
    import cloudeploy

    path, _marker, expected = predict_time
    monkeypatch.setenv("CLOUDEPLOY_HOME", str(tmp_path / "home"))
    with pytest.raises(UnsafeModelError):
        cloudeploy.deploy(str(path), "evil", provider="local", timeout=60)
    package = _hand_made_package(path, tmp_path / "package")
    with pytest.raises(UnsafeModelError) as refused:
        cloudeploy.deploy(str(package), "evil", provider="local", timeout=60)
    assert _names_all(refused.value.globals, expected)


def test_serve_and_batch_refuse_a_package_holding_the_chain(tmp_path, monkeypatch):
    import subprocess
    import sys
    from pathlib import Path

    from cloudeploy.batch.api import batch_predict

    writer, expected = PREDICT_TIME["vectorize-chain"]
    marker = tmp_path / "pwned"
    package = _hand_made_package(writer(tmp_path / "evil", marker), tmp_path / "package")
    cloudeploy = Path(sys.executable).with_name("cloudeploy")
    served = subprocess.run(
        [str(cloudeploy), "serve", str(package), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert served.returncode == UnsafeModelError.exit_code
    assert all(fragment in served.stderr for fragment in expected), served.stderr
    monkeypatch.setenv("CLOUDEPLOY_HOME", str(tmp_path / "home"))
    source = tmp_path / "rows.csv"
    source.write_text("x0,x1,x2\n1,2,3\n4,5,6\n")
    with pytest.raises(Exception) as refused:  # noqa: PT011 - the job's own error type
        batch_predict(str(package), str(source), str(tmp_path / "out.csv"), workers=1, timeout=120)
    assert any(fragment in str(refused.value) for fragment in expected), refused.value
    assert not marker.exists()


def test_audit_names_where_each_unvetted_callable_sits(tmp_path):
    from cloudeploy.packaging.allowlist import Allowlist
    from cloudeploy.packaging.audit import find_problems

    problems = find_problems(payloads.vectorize_chain(tmp_path / "pwned"), Allowlist())
    assert problems == [
        "steps[0][1].func: sklearn.utils._array_api.get_namespace is not a vetted function",
        "steps[2][1].func: sklearn.utils.validation._check_response_method is not a vetted function",
        "steps[3][1].func: sklearn.utils.validation._check_response_method is not a vetted function",
        "steps[4][1].func: sklearn.utils.validation._check_response_method is not a vetted function",
        "steps[5][1].func: the class numpy.vectorize held as a value",
        "steps[6][1].func: numpy.lib._function_base_impl.vectorize.__call__ is not a vetted function",
    ]


def test_audit_looks_into_kw_args_and_callable_instances():
    import numpy as np
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.utils._array_api import get_namespace

    from cloudeploy.packaging.allowlist import Allowlist
    from cloudeploy.packaging.audit import find_problems

    pipeline = make_pipeline(
        FunctionTransformer(np.log1p, kw_args={"where": get_namespace}),
        FunctionTransformer(np.vectorize(np.log1p)),
    )
    assert find_problems(pipeline, Allowlist()) == [
        "steps[0][1].kw_args['where']: sklearn.utils._array_api.get_namespace "
        "is not a vetted function",
        "steps[1][1].func: a callable numpy.vectorize instance",
    ]


def test_audit_refuses_a_method_name_that_is_not_a_prediction_method():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import FixedThresholdClassifier

    from cloudeploy.packaging.allowlist import Allowlist
    from cloudeploy.packaging.audit import find_problems

    model = FixedThresholdClassifier(LogisticRegression(), response_method="tofile")
    assert find_problems(model, Allowlist()) == [
        "response_method: 'tofile' is not a prediction method name"
    ]


def test_models_with_vetted_functions_and_library_state_load_restricted(training_data, tmp_path):
    """No false alarms on the pickle runtime: ufunc transformers, score functions,
    isotonic calibration (interp1d's own method), a RandomState built by numpy's helper."""
    import numpy as np
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.feature_selection import SelectKBest, f_classif
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.tree import DecisionTreeClassifier

    X, y = training_data
    X = np.abs(X)
    models = [
        make_pipeline(
            FunctionTransformer(np.log1p, inverse_func=np.expm1),
            SelectKBest(f_classif, k=3),
            LogisticRegression(),
        ).fit(X, y),
        TransformedTargetRegressor(Ridge(), func=np.log1p, inverse_func=np.expm1).fit(X, y + 1.0),
        CalibratedClassifierCV(DecisionTreeClassifier(max_depth=2), method="isotonic", cv=2).fit(
            X, y
        ),
        GradientBoostingClassifier(n_estimators=3, random_state=0).fit(X, y),
    ]
    import joblib

    from cloudeploy.packaging.unpickle import load_pickle_file

    for index, model in enumerate(models):
        path = tmp_path / f"model{index}.joblib"
        joblib.dump(model, path)
        assert scan_pickle(path) == []
        loaded = load_pickle_file(path)
        assert loaded.predict(X[:10]).tolist() == model.predict(X[:10]).tolist()
