"""Ledger URLs and the SQLAlchemy engines behind the SQL ledger.

SQLite runs in WAL mode with ``synchronous=NORMAL``: a committed transaction survives the death
of the writing process (only an OS crash or power cut can lose the last commits; use
``?synchronous=FULL`` in the URL to fsync every commit). Write transactions start with
``BEGIN IMMEDIATE`` so concurrent writers queue on ``busy_timeout`` instead of failing with
"database is locked" when a read lock is upgraded. The database file and its sidecars are
private (0600, ``files.py``): they hold every job's output.
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from owlclaw_runtime.errors import ConfigurationError
from owlclaw_runtime.ledger.files import secure_sqlite_ledger

BUSY_TIMEOUT_MS = 30000
_SQLITE_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


def normalize_url(url: str | URL) -> URL:
    """Parse a ledger URL; ``postgres://`` and ``postgresql://`` mean psycopg 3."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(
            f"invalid ledger URL {url!r}: {exc}", field="OWLCLAW_LEDGER_URL"
        ) from None
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigurationError(
            f"unsupported ledger URL {parsed.render_as_string(hide_password=True)}: use "
            "sqlite:///path/to/ledger.db or postgresql+psycopg://user:pass@host/db",
            field="OWLCLAW_LEDGER_URL",
        )
    return parsed


def _json_default(value: Any) -> Any:
    """JSON columns accept anything: a context holding a datetime must not drop the record."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def json_dumps(value: Any) -> str:
    """The JSON columns' serializer."""
    return json.dumps(value, default=_json_default, ensure_ascii=False)


def _ensure_wal(cur: Any) -> None:
    """Switch the database file to WAL (a persistent setting). Switching needs an exclusive
    lock and SQLite reports "database is locked" at once instead of waiting on busy_timeout, so
    two processes opening a fresh ledger together retry here until one of them has switched."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            mode = cur.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() == "wal":
                return
            cur.execute("PRAGMA journal_mode=WAL").fetchall()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            return  # a file system without WAL support: stay in rollback-journal mode
        time.sleep(0.005)


def sqlite_engine(url: URL, *, display_url: str, memory: bool) -> tuple[Engine, Path | None]:
    """The engine of a SQLite ledger (WAL, busy timeout, ``BEGIN IMMEDIATE`` for writes) and
    the resolved database file (None in memory)."""
    query = dict(url.query)
    synchronous = str(query.pop("synchronous", "NORMAL")).upper()
    if synchronous not in _SQLITE_SYNCHRONOUS:
        raise ConfigurationError(
            f"ledger URL {display_url}: synchronous must be one of "
            f"{', '.join(_SQLITE_SYNCHRONOUS)}",
            field="OWLCLAW_LEDGER_URL",
        )
    url = url.set(query=query)
    kwargs: dict[str, Any] = {
        "connect_args": {"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        "json_serializer": json_dumps,
    }
    db_path: Path | None = None
    if memory:
        kwargs["poolclass"] = StaticPool
    else:
        assert url.database is not None
        path = Path(url.database).expanduser().resolve()
        if not path.parent.is_dir():
            raise ConfigurationError(
                f"ledger URL {display_url}: directory {path.parent} does not exist",
                path=path.parent,
                field="OWLCLAW_LEDGER_URL",
            )
        secure_sqlite_ledger(path)  # job output inside: 0600 files, a 0700 directory
        db_path = path
        url = url.set(database=str(path))
    engine = sa.create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's implicit transactions skip DDL and
        # cannot take the write lock up front).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if not memory:
            _ensure_wal(cur)
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get("owlclaw_read", False):
            return  # one SELECT is atomic by itself: no BEGIN / ROLLBACK round
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("owlclaw_write") else "BEGIN")

    return engine, db_path
