"""An endpoint's capture rate (the ``capture_sample`` option), kept with the endpoint.

The rate is chosen when the endpoint is created and must outlive its gateway:
``endpoints stop``/``start``, or a gateway restarted after a crash, capture at
the same rate. It is one small file beside the endpoint's lock,
``$CLOUDEPLOY_HOME/endpoints/<name>.capture.json`` (0600), written when the
endpoint is created and removed with it; the provider passes it to the gateway
(``--capture-sample``), which passes it to every replica it starts. No file
means the default, :data:`DEFAULT_CAPTURE_SAMPLE`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cloudeploy.private import private_dir, private_opener

#: Share of requests captured when the endpoint was created without ``capture_sample``.
DEFAULT_CAPTURE_SAMPLE = 1.0


def _path(home: Path, endpoint: str) -> Path:
    return Path(home) / "endpoints" / f"{endpoint}.capture.json"


def save(home: Path, endpoint: str, rate: float) -> None:
    """Record ``rate`` for ``endpoint`` (atomically: a reader sees the old or the new file)."""
    path = _path(home, endpoint)
    private_dir(path.parent)
    partial = path.with_suffix(".partial")
    with open(partial, "w", opener=private_opener) as stream:
        json.dump({"capture_sample": rate}, stream)
    os.replace(partial, path)


def load(home: Path, endpoint: str) -> float:
    """``endpoint``'s rate, or the default when none was recorded (or the file is unreadable)."""
    try:
        rate = json.loads(_path(home, endpoint).read_text())["capture_sample"]
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_CAPTURE_SAMPLE
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
        return DEFAULT_CAPTURE_SAMPLE
    return float(rate)


def remove(home: Path, endpoint: str) -> None:
    _path(home, endpoint).unlink(missing_ok=True)
