"""``python -m cloudeploy.batch JOB_DIR``: run (or resume) a planned local job.

This is the background runner that ``batch_predict(..., wait=False)`` and
``cloudeploy batch --no-wait`` start; its exit code says whether the job
succeeded, and the job directory says the rest.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from cloudeploy.batch.engine import run_job
    from cloudeploy.batch.jobdir import JobDir
    from cloudeploy.errors import CloudeployError

    if len(argv) != 1:
        print("usage: python -m cloudeploy.batch JOB_DIR", file=sys.stderr)
        return 2
    try:
        run_job(JobDir(Path(argv[0])))
    except CloudeployError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    # Every file of the job is written and renamed by now; tearing down the
    # interpreter (scikit-learn, the model) would only delay the waiting caller ~1 s.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
