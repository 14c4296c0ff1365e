"""Monitoring on the local provider: the model server's own capture files.

Replicas write capture files to ``provider.capture_dir(endpoint) / <version>``;
the baseline is in the manifest of the stored package (``get_model_version().uri``).
Nothing is published: alerts go to the log and the webhook only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cloudeploy.monitoring.backend import MonitoringBackend, require_baseline


class LocalMonitoring(MonitoringBackend):
    def baseline(self, endpoint: str, version: str) -> dict[str, Any]:
        from cloudeploy.packaging.manifest import read_manifest

        model = self.provider.get_endpoint(endpoint).model
        uri = self.provider.get_model_version(model, version).uri
        return require_baseline(read_manifest(uri).baseline, version)

    def capture(self, endpoint: str, version: str, *, since: float | None, until: float | None) -> Path:
        return Path(self.provider.capture_dir(endpoint)) / version

    def novelty(self, endpoint: str, version: str) -> Any:
        from cloudeploy.monitoring.artifacts import load_novelty
        from cloudeploy.packaging.manifest import read_manifest

        model = self.provider.get_endpoint(endpoint).model
        uri = self.provider.get_model_version(model, version).uri
        return load_novelty(uri, read_manifest(uri).files)

    def attribution(self, endpoint: str, version: str) -> tuple[Any, dict[str, Any]] | None:
        from cloudeploy.monitoring.artifacts import load_attribution
        from cloudeploy.packaging.load import load_package
        from cloudeploy.packaging.manifest import read_manifest

        model = self.provider.get_endpoint(endpoint).model
        uri = self.provider.get_model_version(model, version).uri
        manifest = read_manifest(uri)
        record = load_attribution(uri, manifest.files)
        if record is None:
            return None
        runtime = manifest.format if manifest.format in ("xgboost", "lightgbm") else "sklearn"
        loaded = load_package(uri, runtime=runtime, allowed_globals=manifest.trusted_types)
        return loaded.model, record

    def status(self, endpoint: str) -> dict[str, Any]:
        root = Path(self.provider.capture_dir(endpoint))
        versions = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        return {**super().status(endpoint), "capture_dir": str(root), "captured_versions": versions}
