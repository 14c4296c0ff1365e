"""A file that is not a pickle at all is named as such, not as 'outside the allowlist'."""

from __future__ import annotations

import pickle

import pytest
from click.testing import CliRunner

from cloudeploy.cli import cli
from cloudeploy.errors import PackageError, UnsafeModelError
from cloudeploy.packaging import build_package


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("model.joblib", b"sepal_length,sepal_width\n5.1,3.5\n", "starts with b'se'"),
        ("model.pkl", b"\xa7\x13\x00random bytes", "starts with b'\\xa7\\x13'"),
        ("model.pkl", b"", "the file is empty"),
        ("model.pkl", b"PK\x03\x04zip archive", "starts with b'PK'"),
    ],
)
def test_a_file_that_is_not_a_pickle_is_named_as_such(tmp_path, name, content, reason):
    source = tmp_path / name
    source.write_bytes(content)
    with pytest.raises(PackageError) as raised:
        build_package(source, tmp_path / "pkg")
    assert not isinstance(raised.value, UnsafeModelError)
    assert f"{name} is not a pickle or joblib file" in str(raised.value) and reason in str(raised.value)


def test_the_cli_says_it_in_one_line(tmp_path):
    source = tmp_path / "model.joblib"
    source.write_text("not a model\n")
    result = CliRunner().invoke(cli, ["package", str(source), "-o", str(tmp_path / "pkg")])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0
    assert "is not a pickle or joblib file" in result.stderr and "allowlist" not in result.stderr


def test_an_old_protocol_pickle_is_still_scanned_as_a_pickle(tmp_path):
    source = tmp_path / "model.pkl"
    source.write_bytes(b"cos\nsystem\n(S'touch x'\ntR.")  # protocol 0, no PROTO header
    with pytest.raises(UnsafeModelError) as raised:
        build_package(source, tmp_path / "pkg")
    assert "os.system" in raised.value.globals
    assert pickle.dumps([1], protocol=0)[:1] != b"\x80"
