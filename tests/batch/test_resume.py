"""A killed job resumes: finished chunks are neither redone nor duplicated."""

from __future__ import annotations

import os
import signal
import time

import pytest

from cloudeploy import batch_predict
from tests.batch.helpers import expected_predictions, read_output, write_frame


def _kill_after_first_chunks(job, timeout: float = 120.0) -> None:
    """SIGKILL the job's runner and its workers once at least one chunk has finished."""
    deadline = time.monotonic() + timeout
    while job.status().chunks_done < 1:
        assert time.monotonic() < deadline, "the job finished no chunk in time"
        assert job.process.poll() is None, "the runner exited before it was killed"
        time.sleep(0.01)
    os.killpg(job.process.pid, signal.SIGKILL)
    job.process.wait()


def test_a_killed_job_resumes_without_redoing_or_duplicating_chunks(workdir, slow_package, rows):
    frame = rows(1000)
    source = write_frame(frame, workdir / "in.csv")
    arguments = dict(id_column="id", chunk_rows=40, workers=1)

    job = batch_predict(slow_package, source, str(workdir / "out.csv"), wait=False, **arguments)
    try:
        _kill_after_first_chunks(job)
    finally:
        job.stop()
    interrupted = job.status()
    finished_before = job.job.finished()
    assert interrupted.state == "interrupted"
    assert 1 <= interrupted.chunks_done < interrupted.chunks_total

    resumed = batch_predict(slow_package, source, str(workdir / "out.csv"), **arguments)

    assert resumed.job_id == job.job_id
    finished_after = resumed.job.finished()
    assert {i: finished_after[i] for i in finished_before} == finished_before
    output = read_output(resumed.outputs()[0])
    assert output["id"].tolist() == frame["id"].tolist()
    assert output["prediction"].tolist() == expected_predictions(slow_package, frame)


def test_an_interrupted_job_says_so_and_how_to_resume(workdir, slow_package, rows):
    from cloudeploy.errors import OperationFailed

    source = write_frame(rows(1000), workdir / "in.csv")
    job = batch_predict(slow_package, source, str(workdir / "out.csv"), id_column="id", chunk_rows=40,
                        workers=1, wait=False)
    try:
        _kill_after_first_chunks(job)
    finally:
        job.stop()

    with pytest.raises(OperationFailed, match="interrupted") as raised:
        job.wait(timeout=5)
    assert "resume" in (raised.value.hint or "")


@pytest.mark.parametrize("runtime", ["sklearn", "onnx"])
def test_a_prestarted_runner_given_no_job_exits(runtime):
    from cloudeploy.batch.jobs import prestart_runner

    runner = prestart_runner(runtime)
    runner.stdin.close()

    assert runner.wait(timeout=60) == 0


def test_a_runner_asked_to_preload_something_else_says_how_it_is_called():
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "cloudeploy.batch", "-", "os"], capture_output=True, text=True,
                         timeout=60, input="")

    assert run.returncode == 2
    assert run.stderr.strip().startswith("usage: python -m cloudeploy.batch JOB_DIR | - [sklearn|onnx]")


def test_a_prestarted_runner_dies_with_its_caller(tmp_path):
    import subprocess
    import sys

    caller = subprocess.run(
        [sys.executable, "-c", "from cloudeploy.batch.jobs import prestart_runner; print(prestart_runner().pid)"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    pid = int(caller.stdout)

    deadline = time.monotonic() + 30
    while _alive(pid):
        assert time.monotonic() < deadline, "the runner outlived its caller"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
