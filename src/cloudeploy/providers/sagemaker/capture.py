"""Reading SageMaker data capture from S3: the format, and a version's answers in a window.

SageMaker writes captured invocations as JSON lines under
``{DestinationS3Uri}/{endpoint}/{variant}/yyyy/mm/dd/hh/{mm-ss-mmm}-{id}.jsonl``,
each line one event::

    {"captureData": {"endpointInput": {"observedContentType": "application/json",
                                       "mode": "INPUT", "data": "...", "encoding": "JSON"},
                     "endpointOutput": {...}},
     "eventMetadata": {"eventId": "...", "inferenceId": "...", "inferenceTime": "...Z"},
     "eventVersion": "0"}

:func:`parse_event` reads one line (the monitoring backend turns events into
capture files with it); :class:`CaptureReader` tallies one variant's captured
answers in a time window for the prediction-shift gate. Only answered
invocations are captured, so failed requests never reach the tally.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cloudeploy.providers.predictions import PredictionTally

#: A capture file holds events from its name's time on; the service flushes within minutes.
FILE_SPAN_S = 300.0
#: Parsed capture objects remembered per reader (objects are immutable once written).
CACHE_OBJECTS = 50_000
_FILE_TIME = re.compile(r"(\d{4})/(\d\d)/(\d\d)/(\d\d)/(\d\d)-(\d\d)-(\d{3})[^/]*$")


@dataclass(frozen=True)
class CapturedEvent:
    """One captured invocation: when, its id, and the decoded request and response."""

    ts: float
    request_id: str | None
    instances: Any
    predictions: Any


def split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def hour_prefixes(root: str, since: float | None, until: float | None) -> list[str]:
    """``root/yyyy/mm/dd/hh/`` for every hour of the window (all of ``root`` without one)."""
    if since is None or until is None:
        return [root]
    hour = dt.datetime.fromtimestamp(since, dt.UTC).replace(minute=0, second=0, microsecond=0)
    end = dt.datetime.fromtimestamp(until, dt.UTC)
    prefixes = []
    while hour <= end:
        prefixes.append(f"{root}{hour:%Y/%m/%d/%H}/")
        hour += dt.timedelta(hours=1)
    return prefixes


def decode(part: dict[str, Any]) -> Any:
    """The payload of ``endpointInput``/``endpointOutput``: JSON, or CSV rows (numbers as floats)."""
    data, encoding = part.get("data", ""), part.get("encoding", "")
    if encoding == "BASE64":
        data = base64.b64decode(data).decode()
    if encoding == "CSV" or "csv" in part.get("observedContentType", ""):
        return [
            [float(v) if _is_number(v) else v for v in row] for row in csv.reader(io.StringIO(data))
        ]
    return json.loads(data)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def parse_event(line: str) -> CapturedEvent | None:
    """One capture line; None when it is not a readable event."""
    try:
        event = json.loads(line)
        capture = event["captureData"]
        request = decode(capture["endpointInput"])
        response = decode(capture["endpointOutput"]) if "endpointOutput" in capture else {}
        meta = event["eventMetadata"]
        ts = dt.datetime.fromisoformat(meta["inferenceTime"].replace("Z", "+00:00")).timestamp()
    except (KeyError, ValueError, TypeError, UnicodeDecodeError):
        return None
    instances = request.get("instances") if isinstance(request, dict) else request
    predictions = response.get("predictions") if isinstance(response, dict) else response
    return CapturedEvent(ts, meta.get("inferenceId") or meta.get("eventId"), instances, predictions)


def _file_time(key: str) -> float | None:
    match = _FILE_TIME.search(key)
    if match is None:
        return None
    year, month, day, hour, minute, second, millis = (int(g) for g in match.groups())
    stamp = dt.datetime(year, month, day, hour, minute, second, millis * 1000, tzinfo=dt.UTC)
    return stamp.timestamp()


class CaptureReader:
    """Tallies a variant's captured answers over a window; thread-safe, caches parsed objects.

    A rollout reads the same growing window every few seconds: each object is
    fetched once per version (ETag), and objects whose name dates them outside
    the window are not fetched at all.
    """

    def __init__(self, s3: Any) -> None:
        self.s3 = s3
        self._cache: OrderedDict[tuple[str, str], tuple[str, list[CapturedEvent]]] = OrderedDict()
        self._lock = threading.Lock()

    def tally(
        self, destination: str, endpoint: str, variant: str, *, since: float, until: float
    ) -> PredictionTally:
        """Predictions of the events with ``since <= ts < until`` under ``destination``."""
        tally = PredictionTally()
        for event in self._events(destination, endpoint, variant, since, until):
            if since <= event.ts < until and isinstance(event.predictions, list):
                tally.add(event.predictions)
        return tally

    def _events(
        self, destination: str, endpoint: str, variant: str, since: float, until: float
    ) -> Iterator[CapturedEvent]:
        bucket, root = split_s3(f"{destination.rstrip('/')}/{endpoint}/{variant}/")
        paginator = self.s3.get_paginator("list_objects_v2")
        first = dt.datetime.fromtimestamp(since - FILE_SPAN_S, dt.UTC)
        for prefix in hour_prefixes(root, since - FILE_SPAN_S, until):
            # Names sort by time within an hour: skip straight to the window's start.
            start_after = (
                f"{prefix}{first:%M-%S}" if prefix.endswith(f"{first:%Y/%m/%d/%H}/") else ""
            )
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix, StartAfter=start_after):
                for item in page.get("Contents", []):
                    stamp = _file_time(item["Key"])
                    if stamp is not None and not since - FILE_SPAN_S <= stamp < until:
                        continue
                    yield from self._object(bucket, item["Key"], item.get("ETag", ""))

    def _object(self, bucket: str, key: str, etag: str) -> list[CapturedEvent]:
        # A file still being written changes its ETag: read it again then.
        with self._lock:
            seen_etag, events = self._cache.get((bucket, key), ("", None))
        if events is None or seen_etag != etag:
            text = (
                self.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode(errors="replace")
            )
            events = [e for e in (parse_event(line) for line in text.splitlines() if line) if e]
            with self._lock:
                self._cache[(bucket, key)] = (etag, events)
                while len(self._cache) > CACHE_OBJECTS:
                    self._cache.popitem(last=False)
        return events
