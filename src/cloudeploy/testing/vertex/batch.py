"""Batch prediction jobs (placeholder until implemented)."""

from __future__ import annotations


class BatchJobStore:
    def __init__(self, parent, ids, models, storage, start_server) -> None:
        self.parent = parent

    def servers(self):
        return []

    def clear(self) -> None:
        pass
