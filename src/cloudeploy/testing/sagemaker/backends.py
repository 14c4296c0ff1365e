"""Access to moto's process-global backends for one account and region.

The extensions reach S3, CloudWatch and SageMaker state through these helpers
instead of through HTTP, so that a handler never calls back into the server
that is running it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from cloudeploy.testing.sagemaker.errors import ValidationException


def sagemaker(account: str, region: str) -> Any:
    from moto.sagemaker.models import sagemaker_backends

    return sagemaker_backends[account][region]


def cloudwatch(account: str, region: str) -> Any:
    from moto.cloudwatch.models import cloudwatch_backends

    return cloudwatch_backends[account][region]


def s3(account: str) -> Any:
    from moto.s3.models import s3_backends

    return s3_backends[account]["aws"]


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``("bucket", "key")``; ValidationException otherwise."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValidationException(f"'{uri}' is not a valid S3 URI (expected s3://bucket/key)")
    return parsed.netloc, parsed.path.lstrip("/")


def read_object(account: str, uri: str) -> bytes:
    """The bytes of the S3 object at ``uri``; ValidationException naming it if absent."""
    from moto.s3.exceptions import MissingBucket, MissingKey

    bucket, key = split_s3_uri(uri)
    try:
        found = s3(account).get_object(bucket, key)
    except (MissingBucket, MissingKey):
        found = None
    if found is None:
        raise ValidationException(f"Could not find S3 object {uri}")
    return bytes(found.value)


def list_keys(account: str, uri: str) -> list[str]:
    """Keys under the prefix ``uri`` (sorted); ValidationException if the bucket is missing."""
    from moto.s3.exceptions import MissingBucket

    bucket, prefix = split_s3_uri(uri)
    try:
        found = s3(account).get_bucket(bucket)
    except MissingBucket:
        raise ValidationException(f"S3 bucket {bucket} does not exist (from {uri})") from None
    return sorted(key for key in found.keys.keys() if key.startswith(prefix))  # noqa: SIM118 - a moto key store


def write_object(account: str, uri: str, data: bytes) -> None:
    from moto.s3.exceptions import MissingBucket

    bucket, key = split_s3_uri(uri)
    try:
        s3(account).put_object(bucket, key, data)
    except MissingBucket:
        raise ValidationException(f"S3 bucket {bucket} does not exist (writing {uri})") from None
