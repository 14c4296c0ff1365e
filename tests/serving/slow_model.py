"""A model step that makes every predict call slow, whatever its batch size.

Served packages name it by import path, so the server is started with
``--allow-global tests.serving.slow_model.pause`` (and from the repository root).
"""

from __future__ import annotations

import time

PAUSE_SECONDS = 0.05


def pause(features):
    time.sleep(PAUSE_SECONDS)
    return features
