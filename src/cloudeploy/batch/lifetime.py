"""Tie a process's life to its parent's (Linux), so that a killed parent leaves no orphan behind.

A batch worker must die with its runner (or it would keep the job's lock and
run on unsupervised), and a runner started before its job is planned must die
with the caller until it is handed the job; from then on it outlives the
caller, as a background job should. Elsewhere these calls do nothing: the
runner's process group is what :meth:`LocalBatchJob.stop` kills.
"""

from __future__ import annotations

import os
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """SIGKILL this process when its parent dies (exits at once if the parent is already gone)."""
    parent = os.getppid()
    if _set_parent_death_signal(signal.SIGKILL) and os.getppid() != parent:
        os._exit(1)


def outlive_parent() -> None:
    """Undo :func:`die_with_parent`."""
    _set_parent_death_signal(0)


def _set_parent_death_signal(sig: int) -> bool:
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig)) == 0
    except (OSError, AttributeError):  # not Linux
        return False
