"""``cloudeploy serve`` refuses bad invocations with one clear line and an exit code."""

from __future__ import annotations

import socket

from click.testing import CliRunner

from cloudeploy.cli import cli


def _serve(*args: str):
    return CliRunner().invoke(cli, ["serve", *args])


def test_missing_package_directory_is_a_clear_error(tmp_path):
    result = _serve(str(tmp_path / "nowhere"))
    assert result.exit_code == 2
    assert "nowhere" in result.output and "Traceback" not in result.output


def test_directory_without_a_manifest_is_a_clear_error(tmp_path):
    result = _serve(str(tmp_path))
    assert result.exit_code == 2
    assert "cloudeploy.json" in result.output


def test_capture_sample_outside_0_1_is_refused(forest_package, tmp_path):
    result = _serve(str(forest_package), "--capture-dir", str(tmp_path), "--capture-sample", "1.5")
    assert result.exit_code == 2
    assert "capture_sample" in result.output


def test_port_in_use_is_a_clear_error(forest_package):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = _serve(str(forest_package), "--port", str(taken.getsockname()[1]))
    assert result.exit_code == 2
    assert "cannot listen" in result.output


def test_sagemakers_serve_argument_uses_the_package_from_the_environment(start_server, forest_package):
    server = start_server("serve", env={"CLOUDEPLOY_PACKAGE": str(forest_package)})
    assert server.url


def test_no_package_at_all_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("CLOUDEPLOY_PACKAGE", raising=False)
    result = _serve()
    assert result.exit_code == 2
    assert "CLOUDEPLOY_PACKAGE" in result.output
