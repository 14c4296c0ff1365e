"""Model deployment monitoring jobs (placeholder until implemented)."""

from __future__ import annotations


class MonitoringJobStore:
    def __init__(self, parent, ids, operations, endpoints) -> None:
        self.parent = parent
