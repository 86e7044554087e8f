"""The SQL ledger's leader locks (:class:`~owlclaw_runtime.ledger.base.LeaderLock`):
non-blocking, exclusive, held until released, and able to tell whether they still are.

- a SQLite ledger file: a file lock beside the database (``filelock``), shared by every
  process on the host that opens the same file; lost when the lock file is removed or
  replaced (another process would then lock the new file);
- PostgreSQL: a session-level advisory lock taken on a dedicated connection, which lives as
  long as that session; lost with it (server restart, ``pg_terminate_backend``, network cut,
  idle timeout);
- an in-memory SQLite ledger (one process by construction): a ``threading.Lock``, never lost.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import sqlalchemy as sa
from filelock import FileLock, Timeout
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from owlclaw_runtime.ledger.base import LeaderLock
from owlclaw_runtime.ledger.files import FILE_MODE, tighten_file

# Whether this session still holds the advisory lock: a bigint key is held as classid = its
# high 32 bits, objid = its low 32 bits, objsubid = 1 (PostgreSQL docs, "pg_locks").
_PG_HELD = sa.text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"
    " AND pid = pg_backend_pid() AND granted AND objsubid = 1"
    " AND classid::bigint = :hi AND objid::bigint = :lo)"
)


def lock_file_name(db_path: Path, name: str) -> Path:
    """The lock file of the lock ``name`` for the SQLite ledger ``db_path``."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return db_path.with_name(f"{db_path.name}.{safe}.lock")


def advisory_key(schema: str, name: str) -> int:
    """The signed 64-bit PostgreSQL advisory lock key for ``name`` in ``schema``."""
    digest = hashlib.blake2b(f"owlclaw:{schema}:{name}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


class FileLeaderLock(LeaderLock):
    """A ``filelock`` lock file. ``flock`` locks the open file, not its name: once the name
    points elsewhere (removed, replaced) another process can lock the new file, so the lock
    counts as lost when the path no longer names the file this process locked."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # 0600 like the ledger beside it (filelock applies the mode whatever the umask)
        self._lock = FileLock(str(path), thread_local=False, mode=FILE_MODE)
        self._identity: tuple[int, int] | None = None

    def acquire(self) -> bool:
        if self._identity is not None:
            return True
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            return False
        try:
            st = os.stat(self.path)
        except OSError:
            self._lock.release()  # removed as we locked it: not a lock anyone else respects
            return False
        self._identity = (st.st_dev, st.st_ino)
        tighten_file(self.path)  # made by an older runtime with the umask's mode
        return True

    def held(self) -> bool:
        if self._identity is None:
            return False
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self._identity and self._lock.is_locked

    def release(self) -> None:
        if self._identity is None:
            return
        self._identity = None
        # Unlocks and closes this process's descriptor only (filelock does not unlink on
        # POSIX), so releasing a replaced file never frees the new holder's lock.
        self._lock.release()


class ThreadLeaderLock(LeaderLock):
    """The lock of an in-memory ledger: a ``threading.Lock`` shared by the store's users."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._acquired = False

    def acquire(self) -> bool:
        if not self._acquired:
            self._acquired = self._lock.acquire(blocking=False)
        return self._acquired

    def held(self) -> bool:
        return self._acquired

    def release(self) -> None:
        if self._acquired:
            self._acquired = False
            self._lock.release()


class PgAdvisoryLock(LeaderLock):
    """A session-level ``pg_try_advisory_lock`` on a dedicated autocommit connection.

    :meth:`held` asks ``pg_locks`` on that same connection whether its backend still holds the
    key: a session that ended took the lock with it, and an error (the connection is gone, or
    hangs up) means the same. Once lost, the lock stays lost; a new leader term takes a new
    lock (and a new connection)."""

    def __init__(self, engine: Engine, key: int) -> None:
        self.key = key
        self._engine = engine
        self._conn: Connection | None = None
        self._held = False
        self._params = {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF}
        # held() runs in a worker thread while release() may come from another one.
        self._guard = threading.Lock()

    @property
    def backend_pid(self) -> int | None:
        """The PostgreSQL backend (session) holding the lock, while held (tests, diagnostics)."""
        with self._guard:
            if not self._held or self._conn is None:
                return None
            try:
                return int(self._conn.execute(sa.select(sa.func.pg_backend_pid())).scalar_one())
            except DBAPIError:
                self._lose()
                return None

    def acquire(self) -> bool:
        with self._guard:
            if self._held:
                return True
            self._close()
            try:
                # A dedicated connection: a session-level advisory lock lives with the session.
                self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                got = self._conn.execute(sa.select(sa.func.pg_try_advisory_lock(self.key)))
                self._held = bool(got.scalar())
            except DBAPIError:
                self._held = False
                self._close(invalidate=True)
                return False
            if not self._held:
                self._close()
            return self._held

    def held(self) -> bool:
        with self._guard:
            if not self._held or self._conn is None:
                return False
            try:
                still = bool(self._conn.execute(_PG_HELD, self._params).scalar())
            except DBAPIError:
                still = False
            if not still:
                self._lose()
            return still

    def release(self) -> None:
        with self._guard:
            if self._held and self._conn is not None:
                self._held = False
                try:
                    self._conn.execute(sa.select(sa.func.pg_advisory_unlock(self.key)))
                except DBAPIError:
                    self._close(invalidate=True)  # ending the session releases it anyway
            self._close()

    def _lose(self) -> None:
        self._held = False
        self._close(invalidate=True)

    def _close(self, *, invalidate: bool = False) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if invalidate:
            # Never hand a dead (or lock-holding) session back to the pool.
            conn.invalidate()
        conn.close()
