"""The ``sagemaker`` profile: which keys it has and what they mean.

::

    [profiles.aws]
    provider = "sagemaker"
    region = "eu-west-1"
    bucket = "my-models"              # model.tar.gz and endpoint records go here
    prefix = "cloudeploy"             # optional key prefix in the bucket
    role_arn = "arn:aws:iam::123456789012:role/sagemaker-exec"
    serving_image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/cloudeploy-serving:0.1"
    kms_key_id = "arn:aws:kms:..."    # optional: encrypts endpoint storage and captures
    subnets = ["subnet-1"]            # optional VPC options for the model containers
    security_group_ids = ["sg-1"]
    alarm_topic_arn = "arn:aws:sns:..."   # optional: where promotion alarms notify
    endpoint_url = "http://127.0.0.1:5000"  # emulation only
    max_attempts = 5                  # optional: attempts per API call (throttling, 5xx)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cloudeploy.errors import ConfigError
from cloudeploy.providers.base import DEFAULT_MAX_ATTEMPTS, max_attempts_setting

REQUIRED = ("region", "bucket", "role_arn")
KNOWN = frozenset(
    {
        *REQUIRED,
        "prefix",
        "kms_key_id",
        "serving_image",
        "subnets",
        "security_group_ids",
        "alarm_topic_arn",
        "endpoint_url",
        "max_attempts",
    }
)


@dataclass(frozen=True)
class SageMakerSettings:
    region: str
    bucket: str
    role_arn: str
    prefix: str = "cloudeploy"
    kms_key_id: str | None = None
    serving_image: str | None = None
    subnets: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    alarm_topic_arn: str | None = None
    endpoint_url: str | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS

    @classmethod
    def from_profile(cls, name: str, settings: dict[str, Any]) -> SageMakerSettings:
        """Validate a profile's settings; ConfigError names what is missing or unknown."""
        missing = [key for key in REQUIRED if not settings.get(key)]
        if missing:
            raise ConfigError(
                f"profile {name!r} (sagemaker) is missing {', '.join(missing)}",
                hint="run `cloudeploy config from-terraform` or add them to cloudeploy.toml",
            )
        unknown = sorted(set(settings) - KNOWN)
        if unknown:
            raise ConfigError(
                f"profile {name!r} (sagemaker) has unknown setting(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(KNOWN))})"
            )
        bucket = str(settings["bucket"]).removeprefix("s3://").strip("/")
        for key in ("subnets", "security_group_ids"):
            value = settings.get(key, [])
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"profile {name!r}: {key} must be a list of strings")
        if bool(settings.get("subnets")) != bool(settings.get("security_group_ids")):
            raise ConfigError(
                f"profile {name!r}: subnets and security_group_ids go together (SageMaker's VpcConfig needs both)"
            )
        max_attempts = max_attempts_setting(name, settings)
        return cls(
            region=str(settings["region"]),
            bucket=bucket,
            role_arn=str(settings["role_arn"]),
            prefix=str(settings.get("prefix", "cloudeploy")).strip("/"),
            kms_key_id=settings.get("kms_key_id") or None,
            serving_image=settings.get("serving_image") or None,
            subnets=tuple(settings.get("subnets", ())),
            security_group_ids=tuple(settings.get("security_group_ids", ())),
            alarm_topic_arn=settings.get("alarm_topic_arn") or None,
            endpoint_url=settings.get("endpoint_url") or None,
            max_attempts=max_attempts,
        )

    def key(self, *parts: str) -> str:
        """An S3 key under the profile's prefix."""
        return "/".join(p.strip("/") for p in (self.prefix, *parts) if p)

    @property
    def vpc_config(self) -> dict[str, list[str]] | None:
        if not self.subnets:
            return None
        return {"Subnets": list(self.subnets), "SecurityGroupIds": list(self.security_group_ids)}
