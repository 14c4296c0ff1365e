"""Endpoint records in S3: what SageMaker cannot hold.

SageMaker has no endpoint without a deployed model, and no memory of the split
before the last change. cloudeploy keeps, per endpoint,
``s3://<bucket>/<prefix>/endpoints/<name>.json``::

    {"name": "house-price", "model": "house-price", "previous_traffic": {"v1": 100}}
"""

from __future__ import annotations

import json
from typing import Any

from cloudeploy.providers.sagemaker.client import Clients
from cloudeploy.providers.sagemaker.errors import error_code, translated


class EndpointRecords:
    def __init__(self, clients: Clients) -> None:
        self.clients = clients
        self.settings = clients.settings

    def _key(self, name: str) -> str:
        return self.settings.key("endpoints", f"{name}.json")

    def get(self, name: str) -> dict[str, Any] | None:
        with translated(f"reading the record of endpoint {name}"):
            try:
                body = self.clients.s3.get_object(Bucket=self.settings.bucket, Key=self._key(name))[
                    "Body"
                ]
            except Exception as error:
                if error_code(error) in ("NoSuchKey", "404"):
                    return None
                raise
            return json.loads(body.read())

    def put(self, record: dict[str, Any]) -> None:
        with translated(f"writing the record of endpoint {record['name']}"):
            self.clients.s3.put_object(
                Bucket=self.settings.bucket,
                Key=self._key(record["name"]),
                Body=json.dumps(record, sort_keys=True).encode(),
                ContentType="application/json",
            )

    def update(self, name: str, **changes: Any) -> dict[str, Any]:
        record = self.get(name) or {"name": name, "model": name}
        record.update(changes)
        self.put(record)
        return record

    def delete(self, name: str) -> None:
        with translated(f"deleting the record of endpoint {name}"):
            self.clients.s3.delete_object(Bucket=self.settings.bucket, Key=self._key(name))

    def names(self) -> list[str]:
        prefix = self.settings.key("endpoints") + "/"
        names = []
        with translated("listing endpoint records"):
            for page in self.clients.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.settings.bucket, Prefix=prefix
            ):
                names += [
                    item["Key"][len(prefix) : -len(".json")]
                    for item in page.get("Contents", [])
                    if item["Key"].endswith(".json")
                ]
        return names
