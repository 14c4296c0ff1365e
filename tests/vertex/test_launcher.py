"""cloudeploy.serving.launcher, which starts the emulators' model servers.

(Its tests live here because the Vertex emulator is its main user.)
"""

from __future__ import annotations

import time

import psutil
import pytest

from cloudeploy.serving import launcher
from cloudeploy.testing.vertex.runner import free_port
from tests.vertex.conftest import fitted_model


def wait_for_exit(process, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while process.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture
def log(tmp_path):
    return tmp_path / "server.log"


def test_a_launched_process_runs_the_cli_with_its_output_in_the_log(log):
    process = launcher.launch_server(["--help"], log)
    wait_for_exit(process)
    process.stop()
    assert process.exitcode == 0
    assert "Usage" in log.read_text()


def test_the_environment_at_launch_time_reaches_the_process(log, tmp_path, monkeypatch):
    config = tmp_path / "elsewhere.toml"
    config.write_text('[profiles.from-env]\nprovider = "local"\n')
    monkeypatch.setenv("CLOUDEPLOY_CONFIG", str(config))
    process = launcher.launch_server(["config", "show", "--output", "json"], log)
    wait_for_exit(process)
    process.stop()
    assert "from-env" in log.read_text()


def test_stop_all_stops_and_forgets_running_servers(log, tmp_path):
    from cloudeploy.packaging import build_package

    package = build_package(fitted_model(0), tmp_path / "package").path
    processes = [launcher.launch_server(["serve", str(package), "--port", str(free_port())], log)
                 for _ in range(2)]  # fmt: skip
    time.sleep(0.5)
    assert all(p.is_alive() for p in processes)
    launcher.stop_all(processes)
    assert not any(p.is_alive() for p in processes)
    assert not set(launcher.live_processes()) & set(processes)
    assert all(not psutil.pid_exists(p.pid) or psutil.Process(p.pid).status() == psutil.STATUS_ZOMBIE
               for p in processes)  # fmt: skip
