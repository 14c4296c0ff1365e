"""Data capture: invocations written to S3 in SageMaker's capture format.

When the serving endpoint config has ``DataCaptureConfig`` with capture enabled,
a sampled invocation becomes one JSON line in a capture file
``{DestinationS3Uri}/{endpoint}/{variant}/yyyy/mm/dd/hh/{mm-ss-mmm}-{uuid}.jsonl``,
named after its first event. As the service does, a file gathers many events:
the variant's current file is rewritten with each new line (so a line is in S3
as soon as its invocation is answered) until it holds :data:`FILE_EVENTS` events
or is :data:`FILE_SECONDS` old, then the next event starts a new file::

    {"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                                       "data": "...", "encoding": "CSV"},
                     "endpointOutput": {...}},
     "eventMetadata": {"eventId": "...", "inferenceTime": "2026-01-01T00:00:00Z"},
     "eventVersion": "0"}
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
import threading
import uuid
from typing import Any

from cloudeploy.testing.sagemaker import backends

DEFAULT_CSV_TYPES = ("text/csv",)
DEFAULT_JSON_TYPES = ("application/json", "application/jsonlines")
#: A capture file is closed after this many events, or once its first event is this old.
FILE_EVENTS = 200
FILE_SECONDS = 10.0

_open_files: dict[tuple[str, str], tuple[str, float, list[bytes]]] = {}  # (account, variant prefix) -> file
_files_lock = threading.Lock()


def _encode(data: bytes, content_type: str, config: dict[str, Any]) -> tuple[str, str]:
    headers = config.get("CaptureContentTypeHeader") or {}
    base_type = content_type.split(";")[0].strip().lower()
    csv_types = tuple(t.lower() for t in headers.get("CsvContentTypes", DEFAULT_CSV_TYPES))
    json_types = tuple(t.lower() for t in headers.get("JsonContentTypes", DEFAULT_JSON_TYPES))
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return base64.b64encode(data).decode(), "BASE64"
    if base_type in csv_types:
        return text, "CSV"
    if base_type in json_types:
        return text, "JSON"
    return base64.b64encode(data).decode(), "BASE64"


def record(
    account: str,
    config: dict[str, Any],
    *,
    endpoint: str,
    variant: str,
    request: tuple[bytes, str],
    response: tuple[bytes, str],
    inference_id: str | None = None,
) -> str | None:
    """Write one capture record if capture is on and this call is sampled; return its file's S3 URI."""
    if not config or not config.get("EnableCapture", True):
        return None
    if random.uniform(0, 100) >= float(config.get("InitialSamplingPercentage", 100)):
        return None
    modes = {option.get("CaptureMode") for option in config.get("CaptureOptions", [])}
    capture_data: dict[str, Any] = {}
    for label, mode, (data, content_type) in (
        ("endpointInput", "INPUT", request),
        ("endpointOutput", "OUTPUT", response),
    ):
        if modes & {mode.title(), "InputAndOutput"} or not modes:
            text, encoding = _encode(data, content_type, config)
            capture_data[label] = {
                "observedContentType": content_type,
                "mode": mode,
                "data": text,
                "encoding": encoding,
            }
    now = dt.datetime.now(dt.UTC)
    event = {
        "captureData": capture_data,
        "eventMetadata": {
            "eventId": str(uuid.uuid4()),
            "inferenceTime": now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            **({"inferenceId": inference_id} if inference_id else {}),
        },
        "eventVersion": "0",
    }
    prefix = f"{config['DestinationS3Uri'].rstrip('/')}/{endpoint}/{variant}/"
    line = (json.dumps(event) + "\n").encode()
    with _files_lock:
        uri, opened, lines = _open_files.get((account, prefix), ("", 0.0, []))
        stamp = now.timestamp()
        if not uri or len(lines) >= FILE_EVENTS or stamp - opened >= FILE_SECONDS or not _same_hour(opened, stamp):
            name = f"{now:%M-%S}-{now.microsecond // 1000:03d}-{uuid.uuid4().hex[:8]}.jsonl"
            uri, opened, lines = f"{prefix}{now:%Y/%m/%d/%H}/{name}", stamp, []
        lines.append(line)
        _open_files[(account, prefix)] = (uri, opened, lines)
        backends.write_object(account, uri, b"".join(lines))
    return uri


def _same_hour(first: float, now: float) -> bool:
    """A file stays in the hour folder of its first event."""
    return int(first // 3600) == int(now // 3600)


def forget_open_files() -> None:
    """Start new files from the next event on (the emulation's reset)."""
    with _files_lock:
        _open_files.clear()
