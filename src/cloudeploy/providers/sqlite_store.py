"""A state store in one SQLite file: the local provider's, and the fallback for a provider without one.

``<home>/workflow.db`` (0600 in a 0700 folder) holds ``records(key, data,
version)``; a conditional write is one ``BEGIN IMMEDIATE`` transaction, so it
is atomic across processes on this machine. ``version`` is a counter that only
grows per key (a deleted and re-created key keeps growing: the last value is
remembered in ``counters``), so a version token is never reused.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cloudeploy.errors import ProviderError, ValidationError
from cloudeploy.private import private_dir, private_file
from cloudeploy.providers.state_store import ABSENT, PreconditionFailed, StateStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (key TEXT PRIMARY KEY, data BLOB NOT NULL, version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, version INTEGER NOT NULL);
"""


class LocalStateStore(StateStore):
    """Records in ``<home>/workflow.db``."""

    def __init__(self, home: str | Path) -> None:
        self.home = Path(home)
        self.path = self.home / "workflow.db"
        self.location = str(self.path)
        self._ready = False

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        if not self._ready:
            private_dir(self.home)
            private_file(self.path)
        try:
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as error:
            raise self._corrupt(error) from None
        try:
            if not self._ready:
                connection.executescript(SCHEMA)
                self._ready = True
            connection.execute("BEGIN IMMEDIATE")
            yield connection
            connection.execute("COMMIT")
        except sqlite3.OperationalError as error:
            raise ProviderError(f"the workflow state file {self.path}: {error}") from None
        except sqlite3.DatabaseError as error:
            raise self._corrupt(error) from None
        finally:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            connection.close()

    def _corrupt(self, error: Exception) -> ValidationError:
        return ValidationError(
            f"the workflow state file {self.path} is unreadable: {error}",
            hint="move it aside if no rollout is in progress (it holds rollout state, locks and split history)",
        )

    def _read(self, key: str) -> tuple[bytes, str] | None:
        with self._transaction() as db:
            row = db.execute("SELECT data, version FROM records WHERE key = ?", (key,)).fetchone()
        return None if row is None else (bytes(row[0]), str(row[1]))

    def _write(self, key: str, data: bytes, expect: Any) -> str:
        with self._transaction() as db:
            row = db.execute("SELECT version FROM records WHERE key = ?", (key,)).fetchone()
            current = None if row is None else str(row[0])
            if expect is ABSENT and current is not None:
                raise PreconditionFailed(f"{key} exists already in {self.location}")
            if isinstance(expect, str) and current != expect:
                raise PreconditionFailed(f"{key} changed in {self.location} since it was read")
            counter = db.execute("SELECT version FROM counters WHERE key = ?", (key,)).fetchone()
            version = (counter[0] if counter else 0) + 1
            db.execute("INSERT OR REPLACE INTO counters (key, version) VALUES (?, ?)", (key, version))
            db.execute("INSERT OR REPLACE INTO records (key, data, version) VALUES (?, ?, ?)", (key, data, version))
        return str(version)

    def _remove(self, key: str, expect: str | None) -> bool:
        with self._transaction() as db:
            row = db.execute("SELECT version FROM records WHERE key = ?", (key,)).fetchone()
            if row is None:
                return False
            if expect is not None and str(row[0]) != expect:
                raise PreconditionFailed(f"{key} changed in {self.location} since it was read")
            db.execute("DELETE FROM records WHERE key = ?", (key,))
        return True
