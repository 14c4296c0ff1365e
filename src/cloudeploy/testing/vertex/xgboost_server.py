"""A deployed model on a prebuilt ``xgboost-cpu`` image: answers as that container does.

The model server process runs as for any version (health, lifecycle, stop), but
predictions come from :class:`~cloudeploy.testing.xgboost_container.VertexXGBoostContainer`,
which loads the artifact folder the way the prebuilt image does
(``model.joblib`` / ``model.pkl`` / ``model.bst``) and answers
``booster.predict(DMatrix(instances))``. A model the image could not load fails
the deployment with the image's message, as on Vertex AI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cloudeploy.testing.vertex._wire import ApiError
from cloudeploy.testing.vertex.runner import ModelServer, _status_of
from cloudeploy.testing.xgboost_container import ContainerError, VertexXGBoostContainer


class XGBoostModelServer(ModelServer):
    """:class:`ModelServer` whose predictions are the prebuilt XGBoost image's."""

    def __init__(self, package_dir: Path, artifacts_dir: Path, *, model: str, version: str) -> None:
        super().__init__(package_dir, model=model, version=version)
        self.artifacts_dir = Path(artifacts_dir)
        self.container: VertexXGBoostContainer | None = None
        self._load_error = ""

    def start(self) -> None:
        try:
            self.container = VertexXGBoostContainer.load(self.artifacts_dir)
        except ContainerError as error:
            self._load_error = error.message
        super().start()

    def ready(self) -> bool:
        if self._load_error:
            raise ApiError(
                "FAILED_PRECONDITION", f"Model server failed to start: {self._load_error}"
            )
        return super().ready()

    def predict(self, instances: list[Any], parameters: Any = None) -> list[Any]:
        if self.container is None:
            raise ApiError(
                "UNAVAILABLE", f"model server for {self.model} {self.version} is not loaded"
            )
        try:
            return self.container.predict(instances)
        except ContainerError as error:
            raise ApiError(
                _status_of(error.status), f"Prediction failed: {error.message}"
            ) from None

    def raw_call(self, payload: bytes, content_type: str) -> tuple[int, str, bytes]:
        """The container's answer to a rawPredict body (``{"instances": [...]}`` JSON)."""
        try:
            instances = json.loads(payload)["instances"]
            predictions = self.predict(instances)
        except (ValueError, KeyError, TypeError) as error:
            return (
                400,
                "application/json",
                json.dumps({"error": f"Invalid request: {error}"}).encode(),
            )
        except ApiError as error:
            return (
                error.http_status,
                "application/json",
                json.dumps({"error": error.message}).encode(),
            )
        return 200, "application/json", json.dumps({"predictions": predictions}).encode()
