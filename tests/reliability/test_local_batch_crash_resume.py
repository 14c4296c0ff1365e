"""Crash-resume of the local batch engine: `cloudeploy batch` SIGKILLed at each step boundary, then run again.

Each command runs as a subprocess; ``CLOUDEPLOY_TEST_CRASH_AT`` names the
boundary where the process doing that step (the CLI for planning, the job's
runner for the rest) kills itself. After the re-run the output equals an
uncrashed run's byte for byte, nothing half-written is left beside it or in the
job, the chunks finished before the crash were not scored again, and a third
run changes nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

BOUNDARIES = [
    "local.batch.after_plan",
    "local.batch.after_part",
    "local.batch.before_assemble",
    "local.batch.after_assemble",
]
ROWS = 2400
CHUNK_ROWS = 300


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A model package and an input CSV of ~8 chunks, built once: neither is under test."""
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier

    from cloudeploy.packaging import build_package

    root = tmp_path_factory.mktemp("batch-crash")
    rng = np.random.default_rng(0)
    train = rng.normal(size=(500, 4))
    model = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(train, train[:, 0] > 0)
    package = build_package(model, root / "package", name="crash").path
    frame = pd.DataFrame(rng.normal(size=(ROWS, 4)), columns=[f"x{i}" for i in range(4)])
    frame.insert(0, "id", [f"row-{i:05d}" for i in range(ROWS)])
    source = root / "in.csv"
    frame.to_csv(source, index=False)
    return package, source


def _cli(home: Path, package: Path, source: Path, destination: Path, crash_at: str | None = None):
    env = {**os.environ, "CLOUDEPLOY_HOME": str(home)}
    env.pop("CLOUDEPLOY_TEST_CRASH_AT", None)
    if crash_at:
        env["CLOUDEPLOY_TEST_CRASH_AT"] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "cloudeploy.cli", "batch", str(package), "--source", str(source),
         "--destination", str(destination), "--id-column", "id", "--chunk-rows", str(CHUNK_ROWS),
         "--workers", "2", "--output", "json"],
        env=env, capture_output=True, text=True, timeout=180,
    )


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory):
    """The output of a run that was not crashed."""
    package, source = inputs
    root = tmp_path_factory.mktemp("reference")
    result = _cli(root / "home", package, source, root / "out.csv")
    assert result.returncode == 0, result.stderr
    return (root / "out.csv").read_bytes()


def _job_dir(home: Path) -> Path:
    (job,) = (home / "batch").glob("batch-*")
    return job


def _finished(job: Path) -> dict[str, dict]:
    """The finished-chunk records of a job, by file name."""
    return {p.name: json.loads(p.read_text()) for p in (job / "parts").glob("part-*[0-9].json")}


def _processes_of(job: Path) -> list[int]:
    """Live processes with a file of the job open (a runner holds its lock and log, its workers too)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            targets = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:
            continue
        if state != "Z" and any(target.startswith(f"{job}/") for target in targets):
            pids.append(int(entry.name))
    return pids


@dataclass
class Scenario:
    """What was seen around one boundary: the crashed run, the re-run, and a third run."""

    boundary: str
    crashed: subprocess.CompletedProcess
    left_running: list[int]
    finished_before: dict[str, dict]
    rerun: subprocess.CompletedProcess
    output: bytes
    beside_output: list[str]
    hidden_in_parts: list[str]
    finished_after: dict[str, dict]
    chunks: int
    third: subprocess.CompletedProcess
    output_changed_by_third: bool
    finished_after_third: dict[str, dict]


@pytest.fixture(scope="module", params=BOUNDARIES)
def scenario(request, inputs, tmp_path_factory) -> Scenario:
    """Run the job killed at the boundary, run it again, then a third time (once per boundary)."""
    root = tmp_path_factory.mktemp("crash")
    home, destination = root / "home", root / "out" / "preds.csv"
    crashed = _cli(home, *inputs, destination, crash_at=request.param)
    job = _job_dir(home)
    left_running, finished_before = _processes_of(job), _finished(job)
    rerun = _cli(home, *inputs, destination)
    output, written = destination.read_bytes(), destination.stat().st_mtime_ns
    beside = sorted(p.name for p in destination.parent.iterdir())
    hidden = sorted(p.name for p in (job / "parts").glob(".*"))
    finished_after = _finished(job)
    third = _cli(home, *inputs, destination)
    return Scenario(
        boundary=request.param, crashed=crashed, left_running=left_running, finished_before=finished_before,
        rerun=rerun, output=output, beside_output=beside, hidden_in_parts=hidden, finished_after=finished_after,
        chunks=len(json.loads((job / "job.json").read_text())["chunks"]), third=third,
        output_changed_by_third=destination.read_bytes() != output or destination.stat().st_mtime_ns != written,
        finished_after_third=_finished(job),
    )


def test_the_command_dies_at_the_boundary(scenario):
    assert scenario.crashed.returncode != 0, scenario.crashed.stdout


def test_a_killed_job_leaves_no_process_behind(scenario):
    assert scenario.left_running == []


def test_the_rerun_succeeds_with_every_row(scenario):
    assert scenario.rerun.returncode == 0, scenario.rerun.stderr
    report = json.loads(scenario.rerun.stdout)
    assert (report["state"], report["rows"], report["failed_rows"]) == ("succeeded", ROWS, 0)


def test_the_rerun_writes_the_same_output_as_an_uncrashed_run(scenario, reference):
    assert scenario.output == reference


def test_the_rerun_leaves_nothing_half_written(scenario):
    assert scenario.beside_output == ["preds.csv", "preds.errors.jsonl"]
    assert scenario.hidden_in_parts == []


def test_the_rerun_does_not_score_finished_chunks_again(scenario):
    before, after = scenario.finished_before, scenario.finished_after

    assert {name: after[name] for name in before} == before
    assert len(after) == scenario.chunks


def test_a_third_run_changes_nothing(scenario):
    assert scenario.third.returncode == 0 and json.loads(scenario.third.stdout)["state"] == "succeeded"
    assert not scenario.output_changed_by_third
    assert scenario.finished_after_third == scenario.finished_after
