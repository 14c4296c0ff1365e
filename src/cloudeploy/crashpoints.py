"""Crash points for crash-resume tests: SIGKILL this process at a named step boundary.

Every provider and workflow marks its step boundaries with :func:`crash_point`.
``CLOUDEPLOY_TEST_CRASH_AT=sagemaker.deploy.after_create_config cloudeploy deploy ...``
dies right after the endpoint config is created, as a user's kill -9 would. Tests
then re-run the command and check that it converges. Unset, a crash point costs
one environment lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "CLOUDEPLOY_TEST_CRASH_AT"


def crash_point(name: str) -> None:
    """SIGKILL the current process if ``$CLOUDEPLOY_TEST_CRASH_AT`` is ``name``."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
