"""The SQL ledger's leader locks: non-blocking, exclusive, held until released.

- a SQLite ledger file: a file lock beside the database (``filelock``), shared by every
  process on the host that opens the same file;
- PostgreSQL: a session-level advisory lock taken on a dedicated connection, which lives as
  long as that session;
- an in-memory SQLite ledger (one process by construction): a ``threading.Lock``.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from filelock import FileLock, Timeout
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError


def lock_file_name(db_path: Path, name: str) -> Path:
    """The lock file of the lock ``name`` for the SQLite ledger ``db_path``."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return db_path.with_name(f"{db_path.name}.{safe}.lock")


def advisory_key(schema: str, name: str) -> int:
    """The signed 64-bit PostgreSQL advisory lock key for ``name`` in ``schema``."""
    digest = hashlib.blake2b(f"owlclaw:{schema}:{name}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


@contextmanager
def file_lock(path: Path) -> Iterator[bool]:
    lock = FileLock(str(path), thread_local=False)
    try:
        lock.acquire(timeout=0)
        acquired = True
    except Timeout:
        acquired = False
    try:
        yield acquired
    finally:
        if acquired:
            lock.release()


@contextmanager
def thread_lock(lock: threading.Lock) -> Iterator[bool]:
    acquired = lock.acquire(blocking=False)
    try:
        yield acquired
    finally:
        if acquired:
            lock.release()


@contextmanager
def pg_advisory_lock(engine: Engine, key: int) -> Iterator[bool]:
    # A dedicated connection: a session-level advisory lock lives as long as the session.
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        acquired = bool(conn.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar())
        try:
            yield acquired
        finally:
            if acquired:
                try:
                    conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))
                except DBAPIError:
                    conn.invalidate()  # closing the session releases the lock anyway
    finally:
        conn.close()
