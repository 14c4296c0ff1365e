"""``python -m cloudeploy.batch JOB_DIR``: run (or resume) a planned local job.

This is the background runner that ``batch_predict(..., wait=False)`` and
``cloudeploy batch`` start; its exit code says whether the job succeeded, and
the job directory says the rest.

``python -m cloudeploy.batch - [RUNTIME]`` is a runner started before its job
is planned (:func:`cloudeploy.batch.jobs.prestart_runner`): while the caller
plans, it imports the engine, what RUNTIME loads with (``sklearn``, the
default, or ``onnx``) and the input readers (:data:`PRELOADS`), then reads the
job directory from stdin and runs it (an empty line or EOF: it exits). Until it
has a job it dies with the caller.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
from pathlib import Path

from cloudeploy import lazy
from cloudeploy.batch.engine import run_job
from cloudeploy.batch.io import FORMAT_MODULES
from cloudeploy.batch.jobdir import JobDir
from cloudeploy.errors import CloudeployError
from cloudeploy.lifetime import die_with_parent, outlive_parent

#: What a prestarted runner imports ahead, in this order, by the runtime it
#: expects: what loading the model costs most of, then what the workers read and write with.
_READERS = tuple(dict.fromkeys(m for fmt in ("csv", "parquet", "jsonl") for m in FORMAT_MODULES[fmt]))
PRELOADS = {"sklearn": ("sklearn.base", *_READERS), "onnx": ("onnxruntime", *_READERS)}


def main(argv: list[str]) -> int:
    if argv[:1] == ["-"] and len(argv) <= 2 and set(argv[1:]) <= set(PRELOADS):
        return _prestarted(argv[1] if len(argv) == 2 else "sklearn")
    if len(argv) != 1:
        print(f"usage: python -m cloudeploy.batch JOB_DIR | - [{'|'.join(PRELOADS)}]", file=sys.stderr)
        return 2
    try:
        run_job(JobDir(Path(argv[0])))
    except CloudeployError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


def _prestarted(runtime: str) -> int:
    die_with_parent()
    for module in PRELOADS[runtime]:
        if select.select([sys.stdin], [], [], 0)[0]:
            break  # the job is here: what is left costs the same now or in the workers
        with contextlib.suppress(ImportError):
            lazy.load(module)
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
