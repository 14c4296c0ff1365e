"""A bounded stream of single-row requests through a rollout, sorted by the version that answered."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field

import httpx

from cloudeploy.testing import zoo


@dataclass(frozen=True)
class Answer:
    status: int
    version: str
    error: str = ""


@dataclass
class RequestStream:
    """``threads`` clients posting one row each to ``url``/predict, at least ``min_requests`` in all.

    ``start()``, run the rollout, then ``finish()``: it keeps sending until
    ``min_requests`` were answered (or ``max_seconds`` passed) and returns every answer.
    """

    url: str
    min_requests: int = 2000
    threads: int = 4
    max_seconds: float = 120.0
    answers: list[Answer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rows = itertools.cycle(zoo.traffic(200))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._done_enough = threading.Event()
        self._workers: list[threading.Thread] = []

    def start(self) -> RequestStream:
        deadline = time.monotonic() + self.max_seconds
        self._workers = [threading.Thread(target=self._work, args=(deadline,), daemon=True) for _ in range(self.threads)]
        for worker in self._workers:
            worker.start()
        return self

    def _work(self, deadline: float) -> None:
        with httpx.Client(timeout=30.0) as client:
            while time.monotonic() < deadline:
                with self._lock:
                    if self._stop.is_set() and len(self.answers) >= self.min_requests:
                        return
                    row = next(self._rows)
                try:
                    reply = client.post(f"{self.url}/predict", json={"instances": [row]})
                    answer = Answer(reply.status_code, reply.headers.get("x-cloudeploy-version", ""),
                                    "" if reply.status_code == 200 else reply.text[:200])
                except httpx.HTTPError as error:
                    answer = Answer(0, "", f"{type(error).__name__}: {error}")
                with self._lock:
                    self.answers.append(answer)

    def finish(self) -> list[Answer]:
        self._stop.set()
        for worker in self._workers:
            worker.join(self.max_seconds)
        return list(self.answers)


def failures_outside(answers: list[Answer], candidate: str) -> list[Answer]:
    """Answers that failed and were not the candidate's own (a transport error counts too)."""
    return [a for a in answers if a.status != 200 and a.version != candidate]
