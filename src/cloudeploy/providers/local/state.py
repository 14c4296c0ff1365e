"""The local provider's state: one SQLite file under ``$CLOUDEPLOY_HOME``.

The CLI writes desired state here; each endpoint's gateway process reads it when
told to reload and writes back what it is running (its pid and port). WAL mode
lets both sides work at once. Every write is one transaction, so a process
killed at any point leaves either the old or the new state, never half of one.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudeploy.errors import ConfigError
from cloudeploy.private import private_dir, private_file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    model TEXT NOT NULL,
    number INTEGER NOT NULL,
    digest TEXT NOT NULL,
    path TEXT NOT NULL,
    aliases TEXT NOT NULL DEFAULT '[]',
    manifest TEXT NOT NULL,
    trusted INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    PRIMARY KEY (model, number),
    UNIQUE (model, digest)
);
CREATE TABLE IF NOT EXISTS endpoints (
    name TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    port INTEGER NOT NULL,
    host TEXT NOT NULL DEFAULT '127.0.0.1',
    desired_state TEXT NOT NULL DEFAULT 'running',
    gateway_pid INTEGER,
    traffic TEXT NOT NULL DEFAULT '{}',
    previous_traffic TEXT,
    revision INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deployments (
    endpoint TEXT NOT NULL,
    version TEXT NOT NULL,
    min_replicas INTEGER NOT NULL,
    max_replicas INTEGER NOT NULL,
    target REAL,
    metric TEXT NOT NULL DEFAULT 'cpu',
    machine_type TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    PRIMARY KEY (endpoint, version)
);
CREATE TABLE IF NOT EXISTS version_numbers (
    model TEXT PRIMARY KEY,
    last INTEGER NOT NULL
);
"""


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass(frozen=True)
class VersionRow:
    model: str
    number: int
    digest: str
    path: str
    aliases: tuple[str, ...]
    manifest: dict[str, Any]
    trusted: bool
    created_at: str

    @property
    def label(self) -> str:
        return f"v{self.number}"


@dataclass(frozen=True)
class EndpointRow:
    name: str
    model: str
    port: int
    host: str
    desired_state: str
    gateway_pid: int | None
    traffic: dict[str, int]
    previous_traffic: dict[str, int] | None
    revision: int
    created_at: str


@dataclass(frozen=True)
class DeploymentRow:
    endpoint: str
    version: str
    min_replicas: int
    max_replicas: int
    target: float | None
    metric: str
    machine_type: str
    created_at: str


class StateStore:
    """Typed access to the SQLite state file. Safe to use from several processes."""

    def __init__(self, home: Path) -> None:
        self.home = private_dir(home)
        self.path = self.home / "state.db"
        private_file(self.path)  # SQLite gives its -wal/-shm files the database's mode
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=30000")
            db.row_factory = sqlite3.Row
            yield db
        except sqlite3.DatabaseError as error:
            if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
                raise
            # Truncated, overwritten or not SQLite at all: say so, touch nothing.
            raise ConfigError(
                f"the state file {self.path} is corrupt ({error})",
                hint=f"move it aside (mv {self.path} {self.path}.broken) to start with an empty state; "
                "running endpoints keep serving until stopped",
            ) from None
        finally:
            db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An IMMEDIATE transaction: writers are serialised, readers are not blocked."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # -- versions -------------------------------------------------------------

    def versions(self, model: str) -> list[VersionRow]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM versions WHERE model = ? ORDER BY number", (model,)
            ).fetchall()
        return [_version(row) for row in rows]

    def models(self) -> list[str]:
        with self._connect() as db:
            rows = db.execute("SELECT DISTINCT model FROM versions ORDER BY model").fetchall()
        return [row["model"] for row in rows]

    def add_version(
        self, model: str, digest: str, path: str, manifest: dict[str, Any], *, trusted: bool
    ) -> VersionRow:
        """Insert a version for ``digest`` or return the existing one (idempotent)."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT * FROM versions WHERE model = ? AND digest = ?", (model, digest)
            ).fetchone()
            if row is None:
                number = 1 + max(
                    db.execute("SELECT COALESCE(MAX(number), 0) FROM versions WHERE model = ?", (model,)).fetchone()[0],
                    _last_number(db, model),
                )
                db.execute(
                    "INSERT INTO versions (model, number, digest, path, manifest, trusted, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (model, number, digest, path, json.dumps(manifest), int(trusted), now_iso()),
                )
                row = db.execute(
                    "SELECT * FROM versions WHERE model = ? AND number = ?", (model, number)
                ).fetchone()
        return _version(row)

    def delete_version(self, model: str, number: int) -> VersionRow | None:
        """Remove version ``number`` (its number is never given again); the removed row, or None."""
        with self.transaction() as db:
            row = db.execute("SELECT * FROM versions WHERE model = ? AND number = ?", (model, number)).fetchone()
            if row is None:
                return None
            db.execute(
                "INSERT INTO version_numbers (model, last) VALUES (?, ?)"
                " ON CONFLICT (model) DO UPDATE SET last = MAX(last, excluded.last)",
                (model, number),
            )
            db.execute("DELETE FROM versions WHERE model = ? AND number = ?", (model, number))
        return _version(row)

    def digest_in_use(self, digest: str) -> bool:
        """Whether any version of any model is stored as ``digest``."""
        with self._connect() as db:
            return db.execute("SELECT 1 FROM versions WHERE digest = ? LIMIT 1", (digest,)).fetchone() is not None

    def set_aliases(self, model: str, number: int, aliases: list[str]) -> None:
        """Give ``aliases`` to version ``number``, taking them from any other version."""
        with self.transaction() as db:
            for row in db.execute("SELECT number, aliases FROM versions WHERE model = ?", (model,)).fetchall():
                current = json.loads(row["aliases"])
                if row["number"] == number:
                    updated = sorted(set(current) | set(aliases))
                else:
                    updated = [a for a in current if a not in aliases]
                if updated != current:
                    db.execute(
                        "UPDATE versions SET aliases = ? WHERE model = ? AND number = ?",
                        (json.dumps(updated), model, row["number"]),
                    )

    # -- endpoints ------------------------------------------------------------

    def endpoint(self, name: str) -> EndpointRow | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM endpoints WHERE name = ?", (name,)).fetchone()
        return _endpoint(row) if row else None

    def endpoints(self) -> list[EndpointRow]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM endpoints ORDER BY name").fetchall()
        return [_endpoint(row) for row in rows]

    def add_endpoint(self, name: str, model: str, port: int, host: str) -> EndpointRow:
        """Create the endpoint row unless it exists; return the row either way."""
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM endpoints WHERE name = ?", (name,)).fetchone() is None:
                db.execute(
                    "INSERT INTO endpoints (name, model, port, host, created_at) VALUES (?, ?, ?, ?, ?)",
                    (name, model, port, host, now_iso()),
                )
        return self.endpoint(name)  # type: ignore[return-value]

    def set_desired_state(self, name: str, state: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE endpoints SET desired_state = ? WHERE name = ?", (state, name))

    def set_gateway_pid(self, name: str, pid: int | None) -> None:
        with self.transaction() as db:
            db.execute("UPDATE endpoints SET gateway_pid = ? WHERE name = ?", (pid, name))

    def update_serving(
        self,
        name: str,
        *,
        traffic: dict[str, int],
        upsert: DeploymentRow | None = None,
        remove_version: str | None = None,
        remember_previous: bool = True,
    ) -> EndpointRow:
        """Change traffic (and optionally a deployment) in one transaction.

        The old split is kept as ``previous_traffic`` when it differs and
        ``remember_previous`` is set. ``revision`` increases on every change so the
        gateway can tell it has applied the latest one.
        """
        with self.transaction() as db:
            row = db.execute("SELECT traffic FROM endpoints WHERE name = ?", (name,)).fetchone()
            old = json.loads(row["traffic"])
            if upsert is not None:
                db.execute(
                    "INSERT INTO deployments (endpoint, version, min_replicas, max_replicas, target, metric,"
                    " machine_type, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (endpoint, version) DO UPDATE SET min_replicas = excluded.min_replicas,"
                    " max_replicas = excluded.max_replicas, target = excluded.target,"
                    " metric = excluded.metric, machine_type = excluded.machine_type",
                    (
                        upsert.endpoint,
                        upsert.version,
                        upsert.min_replicas,
                        upsert.max_replicas,
                        upsert.target,
                        upsert.metric,
                        upsert.machine_type,
                        upsert.created_at or now_iso(),
                    ),
                )
            if remove_version is not None:
                db.execute(
                    "DELETE FROM deployments WHERE endpoint = ? AND version = ?", (name, remove_version)
                )
            changed = old != traffic
            if changed and remember_previous and old:
                db.execute(
                    "UPDATE endpoints SET previous_traffic = ? WHERE name = ?", (json.dumps(old), name)
                )
            db.execute(
                "UPDATE endpoints SET traffic = ?, revision = revision + 1 WHERE name = ?",
                (json.dumps(traffic), name),
            )
        return self.endpoint(name)  # type: ignore[return-value]

    def deployments(self, endpoint: str) -> list[DeploymentRow]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM deployments WHERE endpoint = ? ORDER BY created_at, version", (endpoint,)
            ).fetchall()
        return [DeploymentRow(**dict(row)) for row in rows]

    def delete_endpoint(self, name: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM deployments WHERE endpoint = ?", (name,))
            db.execute("DELETE FROM endpoints WHERE name = ?", (name,))


def _last_number(db: sqlite3.Connection, model: str) -> int:
    row = db.execute("SELECT last FROM version_numbers WHERE model = ?", (model,)).fetchone()
    return row["last"] if row else 0


def _version(row: sqlite3.Row) -> VersionRow:
    return VersionRow(
        model=row["model"],
        number=row["number"],
        digest=row["digest"],
        path=row["path"],
        aliases=tuple(json.loads(row["aliases"])),
        manifest=json.loads(row["manifest"]),
        trusted=bool(row["trusted"]),
        created_at=row["created_at"],
    )


def _endpoint(row: sqlite3.Row) -> EndpointRow:
    previous = row["previous_traffic"]
    return EndpointRow(
        name=row["name"],
        model=row["model"],
        port=row["port"],
        host=row["host"],
        desired_state=row["desired_state"],
        gateway_pid=row["gateway_pid"],
        traffic=json.loads(row["traffic"]),
        previous_traffic=json.loads(previous) if previous else None,
        revision=row["revision"],
        created_at=row["created_at"],
    )
