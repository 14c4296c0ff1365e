"""verify_package / load_package: every digest is checked before the model is read."""

from __future__ import annotations

import json

import pytest

from cloudeploy.errors import IntegrityError, PackageError
from cloudeploy.packaging import MANIFEST_NAME, build_package, load_package, verify_package


@pytest.fixture
def package(classifier, tmp_path):
    return build_package(classifier, tmp_path / "pkg")


def _flip_one_byte(path, offset=-1):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_intact_package_verifies_to_its_manifest(package):
    assert verify_package(package.path) == package.manifest


def test_one_changed_byte_is_an_integrity_error_naming_the_file(package):
    _flip_one_byte(package.path / "model.joblib", offset=100)
    with pytest.raises(IntegrityError, match="model.joblib was modified"):
        verify_package(package.path)


def test_load_package_refuses_a_tampered_package(package):
    _flip_one_byte(package.path / "model.joblib")
    with pytest.raises(IntegrityError, match="model.joblib"):
        load_package(package.path)


def test_tampered_package_is_refused_before_the_file_is_unpickled(package, monkeypatch):
    from cloudeploy.packaging import unpickle

    def must_not_run(*args, **kwargs):
        raise AssertionError("the model file was read before its digest was checked")

    monkeypatch.setattr(unpickle, "load_pickle_file", must_not_run)
    monkeypatch.setattr(unpickle, "check_pickle_file", must_not_run)
    _flip_one_byte(package.path / "model.joblib")
    with pytest.raises(IntegrityError):
        load_package(package.path)


def test_extra_file_is_an_integrity_error_naming_it(package):
    (package.path / "extra.py").write_text("print('hi')")
    with pytest.raises(IntegrityError, match="extra.py is not listed"):
        verify_package(package.path)


def test_missing_file_is_an_integrity_error_naming_it(package):
    (package.path / "model.joblib").unlink()
    with pytest.raises(IntegrityError, match="model.joblib is listed .* but missing"):
        verify_package(package.path)


def test_directory_without_manifest_is_not_a_package(tmp_path):
    with pytest.raises(PackageError, match="not a cloudeploy package"):
        verify_package(tmp_path)


def test_manifest_pointing_outside_the_package_is_refused(package):
    manifest_path = package.path / MANIFEST_NAME
    data = json.loads(manifest_path.read_text())
    data["files"]["../outside.joblib"] = "0" * 64
    manifest_path.write_text(json.dumps(data))
    with pytest.raises(PackageError, match="invalid file name '../outside.joblib'"):
        verify_package(package.path)


def test_symbolic_link_in_a_package_is_refused(package, tmp_path):
    (tmp_path / "elsewhere").write_text("x")
    (package.path / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(IntegrityError, match="symbolic link"):
        verify_package(package.path)


def test_invalid_manifest_json_is_a_package_error(package):
    (package.path / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(PackageError, match="invalid JSON"):
        verify_package(package.path)
