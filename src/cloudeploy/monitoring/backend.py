"""``MonitoringBackend``: what monitoring needs from one provider, and where specs are kept.

A backend answers four questions for an endpoint: which version serves most of
its traffic, what that version's training baseline is, where its captured
requests are (as cloudeploy capture files, see ``capture``), and how to
configure and publish monitoring in the provider's own services. The local
backend publishes nothing; SageMaker publishes CloudWatch metrics and alarms;
Vertex AI configures a model deployment monitoring job.

``backend_for(provider)`` is the provider's own backend
(``provider.monitoring_hooks()``, a
:class:`~cloudeploy.providers.capabilities.MonitoringHooks`); the built-in ones
subclass :class:`MonitoringBackend` in their provider's package
(``providers/<name>/monitoring.py``), imported only when asked for.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudeploy.errors import NotFoundError, ValidationError
from cloudeploy.providers.capabilities import MonitoringHooks

if TYPE_CHECKING:
    from cloudeploy.monitoring.result import MonitoringResult
    from cloudeploy.monitoring.spec import MonitorSpec
    from cloudeploy.providers.base import Provider

class MonitoringBackend(MonitoringHooks):
    """Monitoring on one provider. Subclasses implement ``baseline`` and ``capture``."""

    # -- what every provider answers the same way ----------------------------

    def serving_version(self, endpoint: str, version: str | None = None) -> str:
        """``version`` resolved, or the version with the largest share of ``endpoint``'s traffic."""
        status = self.provider.get_endpoint(endpoint)
        if version is not None:
            return self.provider.get_model_version(status.model, version).version
        split = dict(status.traffic)
        if not split or max(split.values()) <= 0:
            raise NotFoundError(f"endpoint {endpoint!r} serves no version", hint="deploy a model to it first")
        return max(split, key=lambda v: split[v])

    def spec_path(self, endpoint: str) -> Path:
        home = getattr(self.provider, "home", None) or os.environ.get("CLOUDEPLOY_HOME") or ".cloudeploy"
        return Path(home).resolve() / "monitoring" / (self.provider.name or "provider") / f"{endpoint}.json"

    def fresh_capture_dir(self, endpoint: str, version: str) -> Path:
        """An empty folder for ``version``'s captured records copied from the cloud (an earlier copy is dropped)."""
        target = self.spec_path(endpoint).with_suffix("") / "capture" / version
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        return target

    def saved_spec(self, endpoint: str) -> MonitorSpec | None:
        """The spec ``configure`` saved for ``endpoint``, or None."""
        from cloudeploy.monitoring.spec import MonitorSpec

        path = self.spec_path(endpoint)
        if not path.is_file():
            return None
        return MonitorSpec.from_dict(json.loads(path.read_text()))

    def save_spec(self, endpoint: str, spec: MonitorSpec) -> Path:
        path = self.spec_path(endpoint)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(spec.to_dict(), indent=2))
        return path

    # -- per provider ---------------------------------------------------------

    def baseline(self, endpoint: str, version: str) -> dict[str, Any]:
        """The training baseline in ``version``'s package manifest; ValidationError if none."""
        raise NotImplementedError

    def capture(self, endpoint: str, version: str, *, since: float | None, until: float | None) -> Path:
        """A directory of cloudeploy capture files holding ``version``'s requests in the window."""
        raise NotImplementedError

    def novelty(self, endpoint: str, version: str) -> Any:
        """``version``'s novelty detector (digest-checked), or None when its package has none."""
        return None

    def attribution(self, endpoint: str, version: str) -> tuple[Any, dict[str, Any]] | None:
        """``(model, training attribution record)`` of ``version``, or None when there is none.

        Raises ValidationError where the provider does not offer it yet.
        """
        raise ValidationError(f"attribution drift is not available on the {self.provider.name} provider yet")

    def package_file_dir(self, endpoint: str, version: str) -> Path:
        """A folder to put files copied out of ``version``'s package in (emptied first)."""
        target = self.spec_path(endpoint).with_suffix("") / "package" / version
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        return target

    def configure(self, endpoint: str, spec: MonitorSpec) -> dict[str, Any]:
        """Set monitoring up in the provider (capture, jobs, alarms); returns what was done."""
        return {"spec_file": str(self.save_spec(endpoint, spec))}

    def publish(self, endpoint: str, result: MonitoringResult, spec: MonitorSpec) -> dict[str, Any]:
        """Send ``result`` to the provider's own monitoring service; returns what was sent."""
        return {}

    def status(self, endpoint: str) -> dict[str, Any]:
        """What is configured for ``endpoint``: the saved spec and the provider's own state."""
        spec = self.saved_spec(endpoint)
        return {"configured": spec is not None, "spec": spec.to_dict() if spec else None}


def require_baseline(manifest_baseline: dict[str, Any] | None, version: str) -> dict[str, Any]:
    if not manifest_baseline:
        raise ValidationError(
            f"version {version} has no training baseline in its package manifest",
            hint="deploy with cloudeploy.deploy(model, name, baseline=X_train) or "
            "`cloudeploy package --baseline train.csv`",
        )
    return manifest_baseline


def backend_for(provider: Provider) -> MonitoringHooks:
    """The monitoring backend of ``provider`` (CapabilityError when it has none)."""
    return provider.monitoring_hooks()


class CopiedPackageMonitoring(MonitoringBackend):
    """A backend that copies a version's package out of the cloud's storage (``_package``).

    The novelty detector and the training attributions are then read from that copy,
    the same way on every cloud.
    """

    def _package(self, endpoint: str, version: str) -> tuple[Path, Any]:
        """``(folder, manifest)`` of ``version``'s package copied to this machine."""
        raise NotImplementedError

    def novelty(self, endpoint: str, version: str) -> Any:
        from cloudeploy.monitoring.artifacts import load_novelty

        folder, manifest = self._package(endpoint, version)
        return load_novelty(folder, manifest.files)

    def attribution(self, endpoint: str, version: str) -> tuple[Any, dict[str, Any]] | None:
        from cloudeploy.monitoring.artifacts import load_attribution
        from cloudeploy.packaging.load import load_package

        folder, manifest = self._package(endpoint, version)
        record = load_attribution(folder, manifest.files)
        if record is None:
            return None
        runtime = manifest.format if manifest.format in ("xgboost", "lightgbm") else "sklearn"
        return load_package(folder, runtime=runtime, allowed_globals=manifest.trusted_types).model, record
