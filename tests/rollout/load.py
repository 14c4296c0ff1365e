"""A bounded request stream whose bodies rotate, so some requests carry poison rows."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import httpx

from tests.local.loadgen import LoadGenerator, Result


@dataclass
class RotatingLoad(LoadGenerator):
    """:class:`LoadGenerator` that sends ``bodies`` in turn instead of one ``body``."""

    bodies: tuple[dict, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        self._next_body = itertools.cycle(self.bodies or (self.body,)).__next__

    def _worker(self, deadline: float) -> None:
        with httpx.Client(timeout=30.0) as client:
            while not self._stop.is_set() and time.monotonic() < deadline and self._take_ticket():
                with self._lock:
                    body = self._next_body()
                started = time.monotonic()
                try:
                    answer = client.post(self.url, json=body)
                    result = Result(started, time.monotonic(), answer.status_code,
                                    answer.headers.get("x-cloudeploy-version", ""))
                except httpx.HTTPError as error:
                    result = Result(started, time.monotonic(), 0, "", f"{type(error).__name__}: {error}")
                with self._lock:
                    self.results.append(result)


def poisoned_bodies(instances: list[list[float]], every: int) -> tuple[dict, ...]:
    """One body per instance, with a poison row replacing every ``every``-th."""
    from tests.rollout.faulty_models import POISON_ROW

    return tuple(
        {"instances": [POISON_ROW if (i + 1) % every == 0 else row]} for i, row in enumerate(instances)
    )
