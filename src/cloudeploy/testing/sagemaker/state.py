"""The emulation's own state, beside moto's backends.

moto keeps the resources (models, configs, endpoints, jobs); this keeps what
moto has no notion of: endpoint lifecycles and their model servers, transform
runs, monitoring schedules and model package version counters. Like moto's
backends it is process-global, keyed by (account, region), and :meth:`reset`
empties it and stops every model server.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

Key = tuple[str, str, str]  # (account, region, resource name)


class EmulationState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        #: Multiplies the service's deployment waits (bakes); see ``clock``.
        self.default_time_scale = 1.0
        self.time_scale = 1.0
        self.endpoints: dict[Key, Any] = {}
        self.transforms: dict[Key, Any] = {}
        self.schedules: dict[Key, Any] = {}
        self.package_versions: dict[Key, int] = {}
        self._workdir: Path | None = None

    @property
    def workdir(self) -> Path:
        """Where model artifacts are unpacked (a temporary directory)."""
        with self.lock:
            if self._workdir is None:
                self._workdir = Path(tempfile.mkdtemp(prefix="cloudeploy-sagemaker-"))
            return self._workdir

    def reset(self) -> None:
        with self.lock:
            endpoints = list(self.endpoints.values())
            self.endpoints.clear()
            self.transforms.clear()
            self.schedules.clear()
            self.package_versions.clear()
            self.time_scale = self.default_time_scale
            workdir, self._workdir = self._workdir, None
        for endpoint in endpoints:
            endpoint.shutdown()
        from cloudeploy.testing.sagemaker.runner import stop_all

        stop_all()
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


STATE = EmulationState()
