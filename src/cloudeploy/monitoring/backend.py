"""``MonitoringBackend``: monitoring on one provider, and where specs are kept.

A backend answers four questions for an endpoint: which version serves most of
its traffic, what that version's training baseline is, where its captured
requests are (as cloudeploy capture files, see ``capture``), and how to
configure and publish monitoring in the provider's own services.

What differs per provider comes from its monitoring hooks
(``provider.monitoring_hooks()``, a
:class:`~cloudeploy.providers.capabilities.MonitoringHooks` in its package,
``providers/<name>/monitoring.py``): reading the package's manifest and files,
the captured requests, and the provider's own services (the local provider has
none; SageMaker: data capture, CloudWatch metrics and alarms; Vertex AI: a model
deployment monitoring job). ``backend_for(provider)`` wraps them.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudeploy.errors import NotFoundError, ValidationError
from cloudeploy.monitoring.artifacts import load_attribution, load_explained_model, load_novelty
from cloudeploy.monitoring.capture import write_capture
from cloudeploy.monitoring.spec import MonitorSpec

if TYPE_CHECKING:
    from cloudeploy.monitoring.result import MonitoringResult
    from cloudeploy.providers.base import Provider
    from cloudeploy.providers.capabilities import MonitoringHooks


class MonitoringBackend:
    """Monitoring on one provider: the shared steps around the provider's ``hooks``."""

    def __init__(self, provider: Provider, hooks: MonitoringHooks) -> None:
        self.provider = provider
        self.hooks = hooks
        self._packages: dict[tuple[str, str], tuple[Path, Any]] = {}

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
        """The spec ``configure`` saved for ``endpoint``, or None.

        Kept with the endpoint, in the provider's state store (``monitors/<endpoint>``,
        docs/state.md), when it has one; else in a file under ``$CLOUDEPLOY_HOME``.
        """
        store = self._state_store()
        if store is not None:
            record = store.get(f"monitors/{endpoint}")
            return MonitorSpec.from_dict(record.value) if record else None
        path = self.spec_path(endpoint)
        if not path.is_file():
            return None
        return MonitorSpec.from_dict(json.loads(path.read_text()))

    def _state_store(self) -> Any:
        factory = getattr(self.provider, "state_store", None)
        return factory() if callable(factory) else None

    def save_spec(self, endpoint: str, spec: MonitorSpec) -> str:
        """Save ``spec`` where :meth:`saved_spec` reads it; where that is."""
        store = self._state_store()
        if store is not None:
            store.put(f"monitors/{endpoint}", spec.to_dict())
            return f"{store.location}/monitors/{endpoint}"
        path = self.spec_path(endpoint)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(spec.to_dict(), indent=2))
        return str(path)

    # -- through the provider's hooks -------------------------------------------

    def baseline(self, endpoint: str, version: str) -> dict[str, Any]:
        """The training baseline in ``version``'s package manifest; ValidationError if none."""
        return require_baseline(self.hooks.manifest(endpoint, version).baseline, version)

    def capture(self, endpoint: str, version: str, *, since: float | None, until: float | None) -> Path:
        """A directory of cloudeploy capture files holding ``version``'s requests in the window.

        Where the provider keeps none itself, its captured records are written as
        capture files into a fresh folder beside the spec.
        """
        kept = self.hooks.capture_dir(endpoint, version)
        if kept is not None:
            return Path(kept)
        features = [f["name"] for f in self.baseline(endpoint, version)["features"]]
        records = self.hooks.captured(endpoint, version, features, since=since, until=until)
        target = self.fresh_capture_dir(endpoint, version)
        write_capture(target, ({**r, "version": version} for r in records))
        return target

    def novelty(self, endpoint: str, version: str) -> Any:
        """``version``'s novelty detector (digest-checked), or None when its package has none."""
        folder, manifest = self._package(endpoint, version)
        return load_novelty(folder, manifest.files)

    def attribution(self, endpoint: str, version: str) -> tuple[Any, dict[str, Any]] | None:
        """``(model, training attribution record)`` of ``version``, or None when there is none."""
        folder, manifest = self._package(endpoint, version)
        record = load_attribution(folder, manifest.files)
        if record is None:
            return None
        return load_explained_model(folder, manifest, record), record

    def _package(self, endpoint: str, version: str) -> tuple[Path, Any]:
        """``(folder, manifest)`` of ``version``'s package on this machine, once per backend."""
        if (endpoint, version) not in self._packages:
            self._packages[(endpoint, version)] = self.hooks.package(
                endpoint, version, self.package_file_dir(endpoint, version))
        return self._packages[(endpoint, version)]

    def package_file_dir(self, endpoint: str, version: str) -> Path:
        """A folder to put files copied out of ``version``'s package in (emptied first)."""
        target = self.spec_path(endpoint).with_suffix("") / "package" / version
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        return target

    def configure(self, endpoint: str, spec: MonitorSpec) -> dict[str, Any]:
        """Save ``spec`` and set monitoring up in the provider (capture, jobs, alarms); returns what was done."""
        done: dict[str, Any] = {"spec_file": str(self.save_spec(endpoint, spec))}

        def serving() -> tuple[str, list[str]]:
            version = self.serving_version(endpoint)
            features = [f["name"] for f in self.baseline(endpoint, version)["features"]
                        if spec.features is None or f["name"] in spec.features]
            return version, features

        done.update(self.hooks.configure(endpoint, spec, serving=serving, saved=self.saved_spec(endpoint)))
        return done

    def publish(self, endpoint: str, result: MonitoringResult, spec: MonitorSpec) -> dict[str, Any]:
        """Send ``result`` to the provider's own monitoring service; returns what was sent."""
        return self.hooks.publish(endpoint, result, spec, saved=self.saved_spec(endpoint))

    def status(self, endpoint: str) -> dict[str, Any]:
        """What is configured for ``endpoint``: the saved spec and the provider's own state."""
        spec = self.saved_spec(endpoint)
        return {"configured": spec is not None, "spec": spec.to_dict() if spec else None,
                **self.hooks.status(endpoint)}


def require_baseline(manifest_baseline: dict[str, Any] | None, version: str) -> dict[str, Any]:
    if not manifest_baseline:
        raise ValidationError(
            f"version {version} has no training baseline in its package manifest",
            hint="deploy with cloudeploy.deploy(model, name, baseline=X_train) or "
            "`cloudeploy package --baseline train.csv`",
        )
    return manifest_baseline


def backend_for(provider: Provider) -> MonitoringBackend:
    """Monitoring on ``provider`` through its hooks (CapabilityError when it has none)."""
    return MonitoringBackend(provider, provider.monitoring_hooks())
