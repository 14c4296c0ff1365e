"""Crash-resume of `cloudeploy promote` on the local provider, the SageMaker emulation and the
Vertex AI emulator: killed (SIGKILL) at a step boundary, then the same command run again.

The killed promote is a real subprocess (``CLOUDEPLOY_TEST_CRASH_AT`` names the
boundary, see ``cloudeploy.rollout.executor``); the re-runs are the same command
in-process, on the test's own provider object, so every ``set_traffic`` call
they make is counted. Converged means: the intended split is served (100% on
the new version, or the starting split after a rollback), the recorded rollout
is finished with each step applied once, the endpoint deploys the same versions
as before (no extra one), and a further run makes no changing call — neither a
``set_traffic`` nor a change the endpoint shows (local: state revision; clouds:
the emulator's counts of changing API calls).

Plans are short and need no traffic: ``--min-requests 0`` promotes a healthy
version after a 300 ms bake per step; ``--min-requests 1`` with no traffic at
all rolls back after 300 ms ("not enough traffic").
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from click.testing import CliRunner

import cloudeploy
import cloudeploy.api
from cloudeploy.cli import cli
from cloudeploy.config import Profile, write_profile
from cloudeploy.errors import ConflictError
from cloudeploy.providers.base import Provider
from cloudeploy.rollout.state import store_for
from cloudeploy.types import TrafficSplit
from tests.reliability.test_local_crash_resume import REPO_ROOT, LocalHome
from tests.reliability.test_sagemaker_crash_resume import changing_calls as sagemaker_changing_calls
from tests.reliability.test_sagemaker_crash_resume import model_files  # noqa: F401 - a module fixture

ENDPOINT = "house"
STARTING = {"v1": 100}
PROMOTED = {"v2": 100}
PROMOTE = ("promote", ENDPOINT, "--to", "v2", "--steps", "50,100", "--bake", "300ms",
           "--min-requests", "0", "--no-live")
ROLLS_BACK = ("promote", ENDPOINT, "--to", "v2", "--steps", "50,100", "--bake", "300ms",
              "--min-requests", "1", "--max-wait", "300ms", "--no-live")
VERTEX_CHANGING = ("Create", "Update", "Delete", "Deploy", "Undeploy", "Mutate", "Upload")


@dataclass
class Target:
    """One provider's endpoint ``house`` (v1 and v2 deployed) and how to drive and watch it."""

    name: str
    provider: Provider
    env: dict[str, str]  # for the killed subprocess
    cli_args: tuple[str, ...]
    changes: Callable[[], object]  # what any changing call would alter, provider-side
    stop: Callable[[], None] = lambda: None
    traffic_calls: list[dict[str, int]] = field(default_factory=list)  # set_traffic of in-process runs

    def served(self) -> dict[str, int]:
        return {v: p for v, p in self.provider.get_endpoint(ENDPOINT).traffic.items() if p}

    def deployed(self) -> list[str]:
        return sorted(d.version for d in self.provider.get_endpoint(ENDPOINT).deployments)

    def reset(self) -> None:
        self.provider.set_traffic(ENDPOINT, TrafficSplit(STARTING))
        store_for(self.provider, ENDPOINT).clear()


def _deploy_two_versions(provider, packages) -> None:
    for number, package in enumerate(packages):
        cloudeploy.deploy(package, ENDPOINT, model_name=ENDPOINT, provider=provider,
                          traffic=None if number == 0 else 0)


def _local_target(tmp_path_factory, packages) -> Target:
    home = LocalHome(tmp_path_factory.mktemp("promote-local") / "home")
    _deploy_two_versions(home.provider, packages)

    def changes():
        row = home.provider.store.endpoint(ENDPOINT)
        status = home.gateway_status()
        return row.revision, row.traffic, status["revision"], status["traffic"]

    return Target("local", home.provider, home.env(), (), changes, stop=home.stop)


def _cloud_env(tmp_path_factory, kind: str, settings: dict) -> dict[str, str]:
    root = tmp_path_factory.mktemp(f"promote-{kind}")
    config = write_profile("emu", kind, settings, path=root / "cloudeploy.toml")
    env = {**os.environ, "CLOUDEPLOY_CONFIG": str(config), "PYTHONPATH": str(REPO_ROOT)}
    env.pop("CLOUDEPLOY_PROFILE", None)
    return env


def _sagemaker_target(tmp_path_factory, packages, emulation) -> Target:
    from cloudeploy.providers.sagemaker import SageMakerProvider

    emulation.reset()
    settings = emulation.profile_settings()
    provider = SageMakerProvider(Profile(name="emu", provider="sagemaker", settings=settings))
    _deploy_two_versions(provider, packages)
    env = _cloud_env(tmp_path_factory, "sagemaker", settings)
    return Target("sagemaker", provider, env, ("--profile", "emu"), lambda: sagemaker_changing_calls(emulation))


def _vertex_target(tmp_path_factory, packages, emulator) -> Target:
    from cloudeploy.providers.vertex import VertexProvider

    emulator.reset()
    settings = emulator.profile_settings(bucket="promote-crash")
    provider = VertexProvider(Profile(name="emu", provider="vertex", settings=settings))
    _deploy_two_versions(provider, packages)
    env = _cloud_env(tmp_path_factory, "vertex", settings)

    def changes():
        return {m: n for m, n in emulator.calls().items() if m.startswith(VERTEX_CHANGING)}

    return Target("vertex", provider, env, ("--profile", "emu"), changes)


@pytest.fixture(scope="module")
def local_target(tmp_path_factory, model_files):  # noqa: F811
    target = _local_target(tmp_path_factory, model_files)
    yield target
    target.stop()


@pytest.fixture(scope="module")
def sagemaker_target(tmp_path_factory, model_files, sagemaker_emulator_session):  # noqa: F811
    yield _sagemaker_target(tmp_path_factory, model_files, sagemaker_emulator_session)
    sagemaker_emulator_session.reset()


@pytest.fixture(scope="module")
def vertex_target(tmp_path_factory, model_files, vertex_emulator_session):  # noqa: F811
    yield _vertex_target(tmp_path_factory, model_files, vertex_emulator_session)
    vertex_emulator_session.reset()


@pytest.fixture
def target(request, monkeypatch, tmp_path):
    """The provider named by the test's parameter, at v1=100 with no recorded rollout.

    In-process CLI runs use this very provider object (its ``set_traffic`` is
    counted in ``target.traffic_calls``); rollout state of the cloud providers
    lives with the endpoint (the provider's state store), shared with the killed subprocess.
    """
    target = request.getfixturevalue(f"{request.param}_target")
    if target.name != "local":
        monkeypatch.setenv("CLOUDEPLOY_HOME", str(tmp_path))
        target.env = {**target.env, "CLOUDEPLOY_HOME": str(tmp_path)}
    target.reset()
    target.traffic_calls = []
    original = target.provider.set_traffic

    def counted(endpoint, split, **kwargs):
        target.traffic_calls.append(dict(split))
        return original(endpoint, split, **kwargs)

    monkeypatch.setattr(target.provider, "set_traffic", counted)
    monkeypatch.setattr(cloudeploy.api, "resolve_provider", lambda *args, **kwargs: target.provider)
    return target


def crash(target: Target, args: tuple[str, ...], at: str) -> subprocess.CompletedProcess:
    env = {**target.env, "CLOUDEPLOY_TEST_CRASH_AT": at}
    return subprocess.run([sys.executable, "-m", "cloudeploy.cli", *args, *target.cli_args, "--output", "json"],
                          env=env, capture_output=True, text=True, timeout=180)


def run_again(target: Target, args: tuple[str, ...]):
    """The same command in-process, on ``target.provider``; the click Result."""
    return CliRunner().invoke(cli, [*args, *target.cli_args, "--output", "json"])


def assert_further_run_changes_nothing(target: Target, args: tuple[str, ...], exit_code: int = 0) -> None:
    store = store_for(target.provider, ENDPOINT)
    before = (target.changes(), store.store.get(store.key), len(target.traffic_calls))
    again = run_again(target, args)
    assert again.exit_code == exit_code, again.output
    assert (target.changes(), store.store.get(store.key), len(target.traffic_calls)) == before


def steps_applied(decisions: list[dict]) -> list[int]:
    return [d["percent"] for d in decisions if d["action"] == "step"]


LOCAL_ONLY = ["promote.after_record_step", "local.set_traffic.after_record", "promote.after_judge",
              "promote.before_final_traffic", "promote.after_finish"]
CLOUD_CALLS = ["promote.after_set_traffic", "promote.after_final_traffic"]
#: v2's share in each split the run after a kill at the crash point sets: the
#: recorded step's again (the killed run may have died inside set_traffic, which
#: converges), then the steps after it; none for a step already judged or a
#: rollout already ended.
SPLITS_SET_AFTER = {
    "promote.after_record_step": [50, 100], "local.set_traffic.after_record": [50, 100],
    "promote.after_set_traffic": [50, 100], "sagemaker.set_traffic.after_update": [50, 100],
    "vertex.set_traffic.after_update": [50, 100],
    "promote.after_judge": [100],
    "promote.before_final_traffic": [100], "promote.after_final_traffic": [100], "promote.after_finish": [],
    "promote.before_rollback_traffic": [0], "promote.after_rollback_traffic": [0],
}


@pytest.mark.parametrize(("target", "point"), [
    *[("local", p) for p in LOCAL_ONLY + CLOUD_CALLS],
    *[(cloud, p) for cloud in ("sagemaker", "vertex") for p in CLOUD_CALLS],
    ("sagemaker", "sagemaker.set_traffic.after_update"),  # killed while the endpoint is Updating
    ("vertex", "vertex.set_traffic.after_update"),  # killed before reading the update back
], indirect=["target"])
def test_promote_killed_at_a_boundary_converges_when_run_again(target, point):
    crashed = crash(target, PROMOTE, point)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr

    resumed = run_again(target, PROMOTE)

    assert resumed.exit_code == 0, resumed.output
    report = json.loads(resumed.stdout)
    assert (report["outcome"], target.served(), target.deployed()) == ("promoted", PROMOTED, ["v1", "v2"])
    assert [split.get("v2", 0) for split in target.traffic_calls] == SPLITS_SET_AFTER[point]
    assert steps_applied(report["decisions"]) == [50, 100]
    assert [d["action"] for d in report["decisions"]].count("proceed") == 1  # no step baked twice
    assert store_for(target.provider, ENDPOINT).load().status == "promoted"
    assert_further_run_changes_nothing(target, PROMOTE)


@pytest.mark.parametrize(("target", "point"), [
    ("local", "promote.before_rollback_traffic"), ("local", "promote.after_rollback_traffic"),
    ("sagemaker", "promote.after_rollback_traffic"), ("vertex", "promote.after_rollback_traffic"),
], indirect=["target"])
def test_promote_killed_while_rolling_back_finishes_the_rollback_when_run_again(target, point):
    crashed = crash(target, ROLLS_BACK, point)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert store_for(target.provider, ENDPOINT).load().status == "rolling_back"

    resumed = run_again(target, ROLLS_BACK)

    assert resumed.exit_code == 3, resumed.output
    report = json.loads(resumed.stdout)
    assert (report["outcome"], target.served(), target.deployed()) == ("rolled_back", STARTING, ["v1", "v2"])
    assert [split.get("v2", 0) for split in target.traffic_calls] == SPLITS_SET_AFTER[point]
    assert [d["action"] for d in report["decisions"]].count("rollback") == 1
    # Run again after a finished rollback, the command would be a new attempt; --resume has nothing left.
    assert_further_run_changes_nothing(target, ("promote", ENDPOINT, "--resume"), exit_code=ConflictError.exit_code)


@pytest.mark.parametrize("target", ["local"], indirect=True)
def test_promote_with_another_plan_is_refused_in_one_line_while_a_killed_rollout_is_recorded(target):
    crashed = crash(target, PROMOTE, "promote.after_set_traffic")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    other_plan = ("promote", ENDPOINT, "--to", "v2", "--steps", "25,100", "--bake", "300ms", "--no-live")

    refused = run_again(target, other_plan)

    assert refused.exit_code == ConflictError.exit_code
    # One line of refusal (after the note that the killed runner's lock was taken over: its pid is gone).
    lines = refused.stderr.strip().splitlines()
    assert lines[0].startswith("warning: took over the lock") and len(lines) == 2
    assert "runs another plan" in refused.stderr and "--resume" in refused.stderr
    assert (target.served(), target.traffic_calls) == ({"v1": 50, "v2": 50}, [])
