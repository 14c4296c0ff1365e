"""The one module that imports boto3: clients for the profile's region and endpoint.

Clients use botocore's ``standard`` retry mode: throttling (``ThrottlingException``
and kin), HTTP 500/502/503/504 and connection errors are retried with jittered
exponential back-off (up to 1, 2, 4, 8 ... s, capped at 20 s), within the profile's
``max_attempts`` attempts in all (default 5). Validation errors are never retried.
With ``endpoint_url`` (the emulation) every service goes there with dummy
credentials, so nothing reads the user's real AWS configuration.
"""

from __future__ import annotations

import threading
from typing import Any

from cloudeploy.providers.sagemaker.settings import SageMakerSettings

DUMMY_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}


class Clients:
    """Lazily created boto3 clients, one per service."""

    def __init__(self, settings: SageMakerSettings) -> None:
        self.settings = settings
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._make(service)
            return self._clients[service]

    def _make(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(
            # total_max_attempts counts the first attempt; botocore's max_attempts does not.
            retries={"mode": "standard", "total_max_attempts": self.settings.max_attempts},
            user_agent_extra="cloudeploy",
            read_timeout=70,  # a model may take 60 s to answer InvokeEndpoint
        )
        kwargs: dict[str, Any] = {"region_name": self.settings.region, "config": config}
        if self.settings.endpoint_url:
            kwargs.update(endpoint_url=self.settings.endpoint_url, **DUMMY_CREDENTIALS)
        return boto3.session.Session().client(service, **kwargs)

    @property
    def sagemaker(self) -> Any:
        return self("sagemaker")

    @property
    def runtime(self) -> Any:
        return self("sagemaker-runtime")

    @property
    def s3(self) -> Any:
        return self("s3")

    @property
    def autoscaling(self) -> Any:
        return self("application-autoscaling")

    @property
    def cloudwatch(self) -> Any:
        return self("cloudwatch")
