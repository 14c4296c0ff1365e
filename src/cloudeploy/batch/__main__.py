"""``python -m cloudeploy.batch JOB_DIR``: run (or resume) a planned local job.

This is the background runner that ``batch_predict(..., wait=False)`` and
``cloudeploy batch`` start; its exit code says whether the job succeeded, and
the job directory says the rest.

``python -m cloudeploy.batch -`` is a runner started before its job is
planned (:func:`cloudeploy.batch.jobs.prestart_runner`): it imports the engine
and scikit-learn while the caller plans, then reads the job directory from
stdin and runs it (an empty line or EOF: it exits). Until it has a job it dies
with the caller.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from cloudeploy import lazy
from cloudeploy.batch.engine import run_job
from cloudeploy.batch.jobdir import JobDir
from cloudeploy.errors import CloudeployError
from cloudeploy.lifetime import die_with_parent, outlive_parent


def main(argv: list[str]) -> int:
    if argv == ["-"]:
        return _prestarted()
    if len(argv) != 1:
        print("usage: python -m cloudeploy.batch JOB_DIR|-", file=sys.stderr)
        return 2
    try:
        run_job(JobDir(Path(argv[0])))
    except CloudeployError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


def _prestarted() -> int:
    die_with_parent()
    with contextlib.suppress(ImportError):
        lazy.load("sklearn.base")  # imported ahead: most of what loading a model costs
    job_dir = sys.stdin.readline().strip()
    if not job_dir:
        return 0
    outlive_parent()
    log = os.open(Path(job_dir) / "run.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    return main([job_dir])


if __name__ == "__main__":
    code = main(sys.argv[1:])
    # Every file of the job is written and renamed by now; tearing down the
    # interpreter (scikit-learn, the model) would only delay the waiting caller ~1 s.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
