"""The ``provider = "vertex"`` profile, read and checked once.

Keys (fixed: the Terraform handoff writes exactly these): ``project``,
``region``, ``staging_bucket`` (``gs://bucket[/prefix]``), ``service_account``,
``serving_image`` (the cloudeploy serving image in Artifact Registry),
``network``, ``encryption_key`` (a CMEK key name), ``alert_emails``,
``notification_channels``, and for the emulator only ``api_endpoint``,
``storage_endpoint``, ``monitoring_endpoint`` (its plaintext gRPC Cloud
Monitoring, ``host:port``) and ``bigquery_endpoint`` (its BigQuery REST API,
where request-response logs are read). Optional, set by hand: ``max_attempts``
(attempts per API call against throttling and transient errors, 1..20, default 5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cloudeploy.errors import ConfigError
from cloudeploy.providers.base import DEFAULT_MAX_ATTEMPTS, max_attempts_setting

KNOWN_KEYS = frozenset(
    {
        "provider",
        "project",
        "region",
        "staging_bucket",
        "service_account",
        "serving_image",
        "network",
        "encryption_key",
        "alert_emails",
        "notification_channels",
        "api_endpoint",
        "storage_endpoint",
        "monitoring_endpoint",
        "max_attempts",
        "bigquery_endpoint",
    }
)


@dataclass(frozen=True)
class VertexSettings:
    project: str
    region: str
    staging_bucket: str
    service_account: str | None = None
    serving_image: str | None = None
    network: str | None = None
    encryption_key: str | None = None
    alert_emails: tuple[str, ...] = ()
    notification_channels: tuple[str, ...] = ()
    api_endpoint: str | None = None
    storage_endpoint: str | None = None
    monitoring_endpoint: str | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    bigquery_endpoint: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"

    @property
    def bucket(self) -> str:
        return self.staging_bucket[len("gs://") :].split("/", 1)[0]

    @property
    def staging_prefix(self) -> str:
        """The folder inside the bucket, without slashes at either end ("" for the root)."""
        return self.staging_bucket[len("gs://") :].partition("/")[2].strip("/")

    @property
    def predict_base(self) -> str:
        """Base URL of the REST API (the emulator's, or the regional service)."""
        if self.api_endpoint:
            endpoint = self.api_endpoint.rstrip("/")
            return endpoint if "://" in endpoint else f"https://{endpoint}"
        return f"https://{self.region}-aiplatform.googleapis.com"

    @classmethod
    def from_profile(cls, name: str, settings: dict[str, Any]) -> VertexSettings:
        missing = [key for key in ("project", "region", "staging_bucket") if not settings.get(key)]
        if missing:
            raise ConfigError(
                f"profile {name!r} (vertex) is missing {', '.join(missing)}",
                hint="set project, region and staging_bucket (gs://bucket) in cloudeploy.toml, "
                "or run `cloudeploy config from-terraform`",
            )
        staging = str(settings["staging_bucket"])
        if not staging.startswith("gs://") or len(staging) <= len("gs://"):
            raise ConfigError(
                f"profile {name!r}: staging_bucket must look like gs://bucket[/prefix], got {staging!r}"
            )
        for key in ("alert_emails", "notification_channels"):
            value = settings.get(key, [])
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"profile {name!r}: {key} must be a list of strings")
        return cls(
            project=str(settings["project"]),
            region=str(settings["region"]),
            staging_bucket=staging.rstrip("/"),
            service_account=settings.get("service_account"),
            serving_image=settings.get("serving_image"),
            network=settings.get("network"),
            encryption_key=settings.get("encryption_key"),
            alert_emails=tuple(settings.get("alert_emails", ())),
            notification_channels=tuple(settings.get("notification_channels", ())),
            api_endpoint=settings.get("api_endpoint"),
            storage_endpoint=settings.get("storage_endpoint"),
            monitoring_endpoint=settings.get("monitoring_endpoint"),
            max_attempts=max_attempts_setting(name, settings),
            bigquery_endpoint=settings.get("bigquery_endpoint"),
            extra={k: v for k, v in settings.items() if k not in KNOWN_KEYS},
        )

