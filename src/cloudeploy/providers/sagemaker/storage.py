"""S3 objects for batch inputs and outputs (``s3://``).

:class:`S3Objects` gives :class:`cloudeploy.batch.remote.ObjectStore` the four
primitives it needs (list a prefix, download, read a byte range, upload) with
one boto3 S3 client: the SageMaker provider's, or :func:`default_objects`'s,
which honours ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cloudeploy.providers.sagemaker.errors import translated


class S3Objects:
    """Object primitives over one S3 client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def list(self, bucket: str, prefix: str) -> Iterator[tuple[str, int, str]]:
        """``(key, size, tag)`` of every object under ``prefix``; the tag (ETag) changes when the object does."""
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield item["Key"], int(item["Size"]), item.get("ETag", "")

    def download(self, bucket: str, key: str, path: str) -> None:
        """Write the object to ``path``; NotFoundError when it does not exist (other failures translated too)."""
        with translated(f"downloading s3://{bucket}/{key}"):
            self.client.download_file(bucket, key, path)

    def read_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        """Bytes ``start..end`` (inclusive) of the object."""
        return self.client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end}")["Body"].read()

    def upload(self, path: str, bucket: str, key: str) -> None:
        self.client.upload_file(path, bucket, key)


def default_objects() -> S3Objects:
    """Primitives over a default boto3 client (credentials and endpoint from the environment)."""
    import boto3

    return S3Objects(boto3.client("s3"))
