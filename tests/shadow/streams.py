"""A bounded client stream through a provider's ``predict``, recording who answered."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter

from cloudeploy.errors import CloudeployError
from tests.shadow import models


@contextlib.contextmanager
def predictions(provider, endpoint: str, *, threads: int = 4, max_requests: int = 1500, pause_s: float = 0.05):
    """Predict single rows from ``threads`` threads (``pause_s`` between requests) until the block ends.

    Yields a Counter of the versions that answered (``failed`` for errors).
    """
    outcomes: Counter = Counter()
    stop = threading.Event()
    rows = models.instances()
    issued = iter(range(max_requests))
    lock = threading.Lock()

    def predict():
        while not stop.is_set():
            with lock:
                number = next(issued, None)
            if number is None:
                return
            try:
                outcomes[provider.predict(endpoint, [rows[number % len(rows)]]).version] += 1
            except CloudeployError:
                outcomes["failed"] += 1
            stop.wait(pause_s)

    workers = [threading.Thread(target=predict, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    try:
        yield outcomes
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=60)
