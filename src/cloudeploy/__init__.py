"""cloudeploy: one API to deploy scikit-learn models locally, on Vertex AI or SageMaker.

The public API is what this module exports. Names are resolved lazily so that
``import cloudeploy`` stays cheap (no scikit-learn, server or cloud SDK import).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cloudeploy._version import __version__

_EXPORTS: dict[str, str] = {
    # lifecycle
    "deploy": "cloudeploy.api",
    "endpoint": "cloudeploy.api",
    "models": "cloudeploy.api",
    "set_traffic": "cloudeploy.api",
    "undeploy": "cloudeploy.api",
    "delete_model_version": "cloudeploy.api",
    "promote": "cloudeploy.api",
    "rollback": "cloudeploy.api",
    "Deployment": "cloudeploy.api",
    # workflows
    "batch_predict": "cloudeploy.batch",
    "monitor": "cloudeploy.monitoring",
    "RolloutPlan": "cloudeploy.rollout.plan",
    "BatchSpec": "cloudeploy.batch.spec",
    "BatchJob": "cloudeploy.batch",
    "PromotionResult": "cloudeploy.rollout.result",
    "MonitorSpec": "cloudeploy.monitoring.spec",
    # packaging
    "build_package": "cloudeploy.packaging",
    "load_package": "cloudeploy.packaging",
    # value types
    "Scaling": "cloudeploy.types",
    "TrafficSplit": "cloudeploy.types",
    "ModelVersion": "cloudeploy.types",
    "EndpointStatus": "cloudeploy.types",
    "DeployedVersion": "cloudeploy.types",
    "get_provider": "cloudeploy.providers",
}

__all__ = [
    "BatchJob",
    "BatchSpec",
    "DeployedVersion",
    "Deployment",
    "EndpointStatus",
    "ModelVersion",
    "MonitorSpec",
    "PromotionResult",
    "RolloutPlan",
    "Scaling",
    "TrafficSplit",
    "__version__",
    "batch_predict",
    "build_package",
    "delete_model_version",
    "deploy",
    "endpoint",
    "errors",
    "get_provider",
    "load_package",
    "models",
    "monitor",
    "promote",
    "rollback",
    "set_traffic",
    "undeploy",
]

if TYPE_CHECKING:  # pragma: no cover
    from cloudeploy.api import (
        Deployment,
        delete_model_version,
        deploy,
        endpoint,
        models,
        promote,
        rollback,
        set_traffic,
        undeploy,
    )
    from cloudeploy.batch import BatchJob, batch_predict
    from cloudeploy.batch.spec import BatchSpec
    from cloudeploy.monitoring import monitor
    from cloudeploy.monitoring.spec import MonitorSpec
    from cloudeploy.packaging import build_package, load_package
    from cloudeploy.providers import get_provider
    from cloudeploy.rollout.plan import RolloutPlan
    from cloudeploy.rollout.result import PromotionResult
    from cloudeploy.types import (
        DeployedVersion,
        EndpointStatus,
        ModelVersion,
        Scaling,
        TrafficSplit,
    )


def __getattr__(name: str) -> Any:
    if name == "errors":
        return importlib.import_module("cloudeploy.errors")
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'cloudeploy' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
