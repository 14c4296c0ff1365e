"""Shared helpers for the monitoring tests: capture files written in the server's format."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
import pytest

from cloudeploy.monitoring.capture import capture_filename


def capture_record(
    ts: float, features: list[str], instances: list[list], *, version: str = "v1", predictions=None
) -> dict:
    return {
        "ts": ts,
        "request_id": uuid.uuid4().hex,
        "model": "house-price",
        "version": version,
        "features": features,
        "instances": instances,
        "predictions": predictions if predictions is not None else [0.0] * len(instances),
        "latency_ms": 1.5,
    }


def write_capture(directory: Path, records: list[dict], *, pid: int = 100) -> Path:
    """Append records to the capture file of ``pid`` for the hour of the first record."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / capture_filename(pid, records[0]["ts"])
    with path.open("ab") as handle:
        for record in records:
            handle.write(orjson.dumps(record) + b"\n")
    return path


@pytest.fixture
def capture_dir(tmp_path: Path) -> Path:
    return tmp_path / "capture"
