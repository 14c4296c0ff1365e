"""Tie a process's life to its parent's (Linux), so that a killed parent leaves no orphan behind.

Replicas die with their gateway, model servers with the emulator's forkserver,
batch workers with their runner (or they would keep the job's lock and run on
unsupervised), and a batch runner started before its job is planned dies with
the caller until it is handed the job; from then on it outlives the caller, as
a background job should. Elsewhere these calls do nothing.
"""

from __future__ import annotations

import ctypes  # at import time: die_with_parent may run between fork and exec
import os
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Get ``sig`` when the parent dies (exit at once if the parent is already gone).

    Safe between fork and exec (``preexec_fn``): one prctl call, no locks.
    """
    parent = os.getppid()
    if _set_parent_death_signal(sig) and os.getppid() != parent:
        os._exit(1)


def outlive_parent() -> None:
    """Undo :func:`die_with_parent`."""
    _set_parent_death_signal(0)


def _set_parent_death_signal(sig: int) -> bool:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig)) == 0
    except (OSError, AttributeError):  # not Linux
        return False
