"""Monitoring hooks of the local provider: the model server's own capture files.

Replicas write capture files to ``provider.capture_dir(endpoint) / <version>``;
the package (manifest, baseline, novelty detector, attributions) is the stored
package directory itself (``get_model_version().uri``). Nothing is published:
alerts go to the log and the webhook only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cloudeploy.packaging.manifest import Manifest, read_manifest
from cloudeploy.providers.capabilities import MonitoringHooks


class LocalMonitoring(MonitoringHooks):
    def _uri(self, endpoint: str, version: str) -> str:
        model = self.provider.get_endpoint(endpoint).model
        return self.provider.get_model_version(model, version).uri

    def manifest(self, endpoint: str, version: str) -> Manifest:
        return read_manifest(self._uri(endpoint, version))

    def package(self, endpoint: str, version: str, folder: Path) -> tuple[Path, Manifest]:
        uri = self._uri(endpoint, version)  # already on this machine: nothing to copy
        return Path(uri), read_manifest(uri)

    def capture_dir(self, endpoint: str, version: str) -> Path:
        return Path(self.provider.capture_dir(endpoint)) / version

    def status(self, endpoint: str) -> dict[str, Any]:
        root = Path(self.provider.capture_dir(endpoint))
        versions = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        return {"capture_dir": str(root), "captured_versions": versions}
