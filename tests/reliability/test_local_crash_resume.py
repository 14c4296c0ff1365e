"""Crash-resume on the local provider: `cloudeploy deploy` / `cloudeploy traffic` SIGKILLed at
each step boundary, then run again, converge with no duplicate and no orphan.

The killed command runs as a subprocess (``CLOUDEPLOY_TEST_CRASH_AT`` names the
boundary); the re-runs are the same command in-process (CliRunner), which is
cheaper and equivalent. Converged means: one version per package, one endpoint,
the intended split both recorded and applied by the gateway, exactly one
gateway process and one replica process per deployed version under the home
(no orphan), and a third run changes nothing: the state rows (with their
revision), the gateway's pid and the replicas' pids stay the same.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from cloudeploy.cli import cli
from cloudeploy.config import Profile
from cloudeploy.providers.local import LocalProvider
from cloudeploy.providers.local.processes import pid_alive, terminate
from tests.local.test_cli import _processes_under
from tests.reliability.test_sagemaker_crash_resume import model_files  # noqa: F401 - a module fixture

REPO_ROOT = Path(__file__).resolve().parents[2]
ENDPOINT = "house"


class LocalHome:
    """A ``$CLOUDEPLOY_HOME`` and the `cloudeploy` commands run against it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.provider = LocalProvider(Profile(name="crash", settings={"home": str(path)}))

    def env(self, crash_at: str | None = None) -> dict[str, str]:
        env = {**os.environ, "CLOUDEPLOY_HOME": str(self.path), "PYTHONPATH": str(REPO_ROOT),
               "CLOUDEPLOY_CONFIG": str(self.path / "cloudeploy.toml")}
        env.pop("CLOUDEPLOY_PROFILE", None)
        env.pop("CLOUDEPLOY_TEST_CRASH_AT", None)
        return {**env, "CLOUDEPLOY_TEST_CRASH_AT": crash_at} if crash_at else env

    def crash(self, *args: str, at: str) -> subprocess.CompletedProcess:
        """Run ``cloudeploy ARGS`` as a process that SIGKILLs itself at crash point ``at``."""
        return subprocess.run([sys.executable, "-m", "cloudeploy.cli", *args, "--output", "json"],
                              env=self.env(at), capture_output=True, text=True, timeout=180)

    def invoke(self, *args: str):
        """Run ``cloudeploy ARGS --output json`` in this process; the click Result."""
        return CliRunner().invoke(cli, [*args, "--output", "json"], env=self.env(), catch_exceptions=False)

    def gateway_status(self, endpoint: str = ENDPOINT) -> dict:
        row = self.provider.store.endpoint(endpoint)
        return httpx.get(f"http://{row.host}:{row.port}/_cloudeploy/status", timeout=10).json()

    def snapshot(self, endpoint: str = ENDPOINT) -> dict:
        """Everything a changing call would alter: state rows, revisions, the process pids."""
        store = self.provider.store
        row = store.endpoint(endpoint)
        status = self.gateway_status(endpoint)
        return {
            "endpoint": row,
            "deployments": store.deployments(endpoint),
            "versions": store.versions(row.model),
            "applied": (status["revision"], status["traffic"]),
            "replicas": {v: sorted(info["pids"]) for v, info in status["versions"].items()},
        }

    def stop(self) -> None:
        """End every gateway of this home (each drains and ends its replicas)."""
        with contextlib.suppress(Exception):
            for row in self.provider.store.endpoints():
                if pid_alive(row.gateway_pid):
                    terminate(row.gateway_pid, timeout=20)


def wait_for_processes(home: Path, count: int, timeout: float = 15.0) -> list[int]:
    """The gateway and replica pids under ``home`` once there are ``count`` (retired ones drain first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(_processes_under(home)) != count:
        time.sleep(0.1)
    return sorted(_processes_under(home))


def assert_local_converged(home: LocalHome, traffic: dict[str, int], packages: int) -> None:
    """One version per package, one endpoint serving ``traffic``, one gateway, one replica per version."""
    store = home.provider.store
    assert [e.name for e in store.endpoints()] == [ENDPOINT]
    assert len(store.versions(ENDPOINT)) == packages
    assert len({v.digest for v in store.versions(ENDPOINT)}) == packages
    row = store.endpoint(ENDPOINT)
    assert row.traffic == traffic
    status = home.gateway_status()
    assert (status["revision"], status["traffic"]) == (row.revision, traffic)
    replicas = [pid for info in status["versions"].values() for pid in info["pids"]]
    assert len(replicas) == len(store.deployments(ENDPOINT)) == len(traffic)
    assert wait_for_processes(home.path, 1 + len(replicas)) == sorted([row.gateway_pid, *replicas])


def assert_third_run_changes_nothing(home: LocalHome, *args: str) -> None:
    before = home.snapshot()
    again = home.invoke(*args)
    assert again.exit_code == 0, again.output
    assert home.snapshot() == before


@pytest.fixture
def fresh_home(tmp_path):
    home = LocalHome(tmp_path / "home")
    yield home
    home.stop()


# The boundaries only a first deploy crosses; the later ones (stage, start replicas,
# route, switch) run the same code on every deploy and are killed on the second.
@pytest.mark.parametrize("boundary", [
    "after_store_artifact", "after_register_version", "after_create_endpoint", "after_spawn_gateway",
    "after_start_gateway",
])
def test_first_local_deploy_killed_at_a_boundary_converges_on_rerun(fresh_home, model_files, boundary):  # noqa: F811
    args = ("deploy", model_files[0], "--name", ENDPOINT)
    crashed = fresh_home.crash(*args, at=f"local.deploy.{boundary}")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    resumed = fresh_home.invoke(*args)
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["version"] == "v1"
    assert_local_converged(fresh_home, {"v1": 100}, packages=1)
    assert_third_run_changes_nothing(fresh_home, *args)


@pytest.fixture(scope="module")
def serving_home(tmp_path_factory, model_files):  # noqa: F811
    """A home whose endpoint serves v1 (deployed in-process once: only the next command is under test)."""
    home = LocalHome(tmp_path_factory.mktemp("local-crash") / "home")
    result = home.invoke("deploy", model_files[0], "--name", ENDPOINT)
    assert result.exit_code == 0, result.output
    yield home
    home.stop()


@pytest.fixture
def serving_v1(serving_home):
    """``serving_home`` put back to v1 alone at 100%."""
    from cloudeploy.types import TrafficSplit

    provider = serving_home.provider
    provider.set_traffic(ENDPOINT, TrafficSplit({"v1": 100}))
    for deployment in provider.store.deployments(ENDPOINT):
        if deployment.version != "v1":
            provider.undeploy(ENDPOINT, deployment.version)
    return serving_home


@pytest.mark.parametrize("boundary", ["after_stage", "after_start_replicas", "after_route", "after_switch"])
def test_second_local_deploy_killed_at_a_boundary_converges_on_rerun(serving_v1, model_files, boundary):  # noqa: F811
    args = ("deploy", model_files[1], "--name", ENDPOINT, "--traffic", "20")
    crashed = serving_v1.crash(*args, at=f"local.deploy.{boundary}")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    resumed = serving_v1.invoke(*args)
    assert resumed.exit_code == 0, resumed.output
    assert_local_converged(serving_v1, {"v1": 80, "v2": 20}, packages=2)
    assert_third_run_changes_nothing(serving_v1, *args)


@pytest.mark.parametrize("boundary", ["after_record", "after_switch"])
def test_local_set_traffic_killed_at_a_boundary_converges_on_rerun(serving_v1, model_files, boundary):  # noqa: F811
    deployed = serving_v1.invoke("deploy", model_files[1], "--name", ENDPOINT, "--traffic", "0")
    assert deployed.exit_code == 0, deployed.output
    args = ("traffic", ENDPOINT, "v1=50", "v2=50")
    crashed = serving_v1.crash(*args, at=f"local.set_traffic.{boundary}")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    resumed = serving_v1.invoke(*args)
    assert resumed.exit_code == 0, resumed.output
    assert_local_converged(serving_v1, {"v1": 50, "v2": 50}, packages=2)
    assert_third_run_changes_nothing(serving_v1, *args)
