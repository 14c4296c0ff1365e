"""Two CI runners, one endpoint: rollout state and the endpoint lock live with the endpoint.

On each provider (local; Vertex AI and SageMaker through the emulators):

- runner A, a real ``cloudeploy promote`` process in its own working directory,
  is killed (SIGKILL) in the middle of a rollout;
- runner B works in another, empty working directory that has only the
  profile (``cloudeploy.toml``), as a fresh CI job would, and calls itself
  another host (``runner-b``): ``promote --resume`` is refused, naming A's lock
  (host, pid, command, since when) and pointing at ``--break-lock``; with
  ``--break-lock`` it says whose lock it broke and finishes the rollout;
- while A runs (a long bake), B's own promote and B's manual traffic change are
  refused naming A's promote, and nothing moves; once A is stopped (SIGTERM, as a
  cancelled CI job), B rolls back.

Runner B runs in-process (its provider is built from the profile it finds in its
working directory, like the CLI does); runner A is a subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cloudeploy.cli import cli
from cloudeploy.config import write_profile
from cloudeploy.errors import ConflictError
from cloudeploy.providers import state_store as state_store_module
from cloudeploy.providers.state_store import break_lease
from cloudeploy.rollout.endpoint import lock_key, state_store_of
from cloudeploy.rollout.state import store_for
from cloudeploy.types import TrafficSplit
from tests.reliability.test_local_crash_resume import REPO_ROOT
from tests.reliability.test_promote_crash_resume import (
    ENDPOINT,
    PROMOTED,
    STARTING,
    _local_target,
    _sagemaker_target,
    _vertex_target,
)
from tests.reliability.test_sagemaker_crash_resume import model_files  # noqa: F401 - a module fixture

STEPS = ("--to", "v2", "--steps", "50,100", "--min-requests", "0", "--no-live")
QUICK = ("promote", ENDPOINT, *STEPS, "--bake", "300ms")
LONG = ("promote", ENDPOINT, *STEPS, "--bake", "120s")
HALFWAY = {"v1": 50, "v2": 50}


@pytest.fixture(scope="module")
def runners(tmp_path_factory, model_files, request):  # noqa: F811
    """{provider name: Target}: endpoint ``house`` with v1 and v2 on each provider, built lazily."""
    built: dict = {}

    def get(name: str):
        if name not in built:
            if name == "local":
                built[name] = _local_target(tmp_path_factory, model_files)
            elif name == "sagemaker":
                built[name] = _sagemaker_target(tmp_path_factory, model_files,
                                                request.getfixturevalue("sagemaker_emulator_session"))
            else:
                built[name] = _vertex_target(tmp_path_factory, model_files,
                                             request.getfixturevalue("vertex_emulator_session"))
        return built[name]

    yield get
    for target in built.values():
        target.stop()


class Runner:
    """A working directory with only the profile, and ``cloudeploy`` run from it."""

    def __init__(self, root: Path, profile_file: Path) -> None:
        root.mkdir()
        self.root = root
        shutil.copy(profile_file, root / "cloudeploy.toml")

    def env(self) -> dict[str, str]:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        for name in ("CLOUDEPLOY_CONFIG", "CLOUDEPLOY_HOME", "CLOUDEPLOY_PROFILE", "CLOUDEPLOY_TEST_CRASH_AT"):
            env.pop(name, None)
        return env

    def start(self, *args: str, crash_at: str | None = None) -> subprocess.Popen:
        env = {**self.env(), **({"CLOUDEPLOY_TEST_CRASH_AT": crash_at} if crash_at else {})}
        return subprocess.Popen([sys.executable, "-m", "cloudeploy.cli", *args, "--profile", "runner",
                                 "--output", "json"], cwd=self.root, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def setup(request, runners, tmp_path, monkeypatch):
    """(target, runner A, invoke-as-runner-B) for the provider named by the parameter."""
    target = runners(request.param)
    target.provider.set_traffic(ENDPOINT, TrafficSplit(STARTING))
    store = state_store_of(target.provider)
    break_lease(store, lock_key(ENDPOINT))
    store_for(target.provider, ENDPOINT).clear()
    profile_file = tmp_path / "profile.toml"
    settings = ({"home": str(target.provider.home)} if target.name == "local"
                else _profile_settings(target))
    write_profile("runner", target.name, settings, path=profile_file)
    runner_a = Runner(tmp_path / "runner-a", profile_file)
    runner_b = Runner(tmp_path / "runner-b", profile_file)

    # Runner B: this process, in its own empty working directory, on "another machine".
    for name in ("CLOUDEPLOY_CONFIG", "CLOUDEPLOY_HOME", "CLOUDEPLOY_PROFILE", "CLOUDEPLOY_TEST_CRASH_AT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(runner_b.root)
    monkeypatch.setattr(state_store_module, "host_name", lambda: "runner-b")

    def as_runner_b(*args: str):
        return CliRunner().invoke(cli, [*args, "--profile", "runner", "--output", "json"])

    return target, runner_a, as_runner_b


def _profile_settings(target) -> dict:
    """The emulator profile the target's subprocess env points at, as settings."""
    from cloudeploy.config import load_profile

    profile = load_profile("emu", path=Path(target.env["CLOUDEPLOY_CONFIG"]))
    return {k: v for k, v in dict(profile.settings).items() if k != "provider"}


def served(target) -> dict[str, int]:
    return {v: p for v, p in target.provider.get_endpoint(ENDPOINT).traffic.items() if p}


PROVIDERS = ["local", "sagemaker", "vertex"]


@pytest.mark.parametrize("setup", PROVIDERS, indirect=True)
def test_a_killed_promote_is_resumed_from_another_runner_only_by_breaking_its_lock(setup):
    target, runner_a, as_runner_b = setup
    killed = runner_a.start(*QUICK, crash_at="promote.after_set_traffic")
    killed.wait(timeout=180)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.read()
    assert served(target) == HALFWAY

    refused = as_runner_b("promote", ENDPOINT, "--resume")

    assert refused.exit_code == ConflictError.exit_code, refused.output
    line = refused.stderr.strip()
    assert len(line.splitlines()) == 1
    assert f"pid {killed.pid}" in line and "promote v2 by" in line and " since " in line
    assert "--break-lock" in line
    assert served(target) == HALFWAY  # nothing moved

    resumed = as_runner_b("promote", ENDPOINT, "--resume", "--break-lock")

    assert resumed.exit_code == 0, resumed.output
    assert "broke the lock on house" in resumed.stderr and f"pid {killed.pid}" in resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["outcome"] == "promoted"
    assert served(target) == PROMOTED
    actions = [d["action"] for d in report["decisions"]]
    assert actions.count("resume") == 1 and [d["percent"] for d in report["decisions"]
                                              if d["action"] == "step"] == [50, 100]
    state = store_for(target.provider, ENDPOINT)
    assert state.load().status == "promoted" and not state.is_locked()


@pytest.mark.parametrize("setup", PROVIDERS, indirect=True)
def test_while_one_runner_promotes_another_can_neither_promote_nor_change_traffic(setup):
    target, runner_a, as_runner_b = setup
    running = runner_a.start(*LONG)
    try:
        _wait_for_the_first_step(target, running)

        second = as_runner_b(*QUICK)
        manual = as_runner_b("traffic", ENDPOINT, "v1=100")

        for refused in (second, manual):
            assert refused.exit_code == ConflictError.exit_code, refused.output
            assert "house is being promoted: promote v2 by" in refused.stderr
            assert f"pid {running.pid}" in refused.stderr
        assert served(target) == HALFWAY
    finally:
        running.send_signal(signal.SIGTERM)  # a cancelled CI job: the rollout is saved as interrupted
        running.wait(timeout=120)
    assert running.returncode == 130, running.stderr.read()
    assert store_for(target.provider, ENDPOINT).load().status == "interrupted"

    rolled_back = as_runner_b("rollback", ENDPOINT)

    assert rolled_back.exit_code == 0, rolled_back.output
    assert served(target) == STARTING


def _wait_for_the_first_step(target, process, timeout: float = 120.0) -> None:
    store = store_for(target.provider, ENDPOINT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        state = store.load()
        if state is not None and state.step_index == 0 and state.step_started_at is not None:
            return
        time.sleep(0.2)
    raise AssertionError("runner A never reached its first bake")
