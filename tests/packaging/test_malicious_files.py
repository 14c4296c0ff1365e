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
