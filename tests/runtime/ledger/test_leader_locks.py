"""Leader locks that can tell whether they are still held: a PostgreSQL advisory lock whose
session ended, a lock file that was removed or replaced."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from owlclaw_runtime.ledger import SqlLedgerStore, open_store
from owlclaw_runtime.ledger.locks import PgAdvisoryLock


@pytest.mark.parametrize("change", ["removed", "replaced"])
def test_a_file_leader_lock_is_lost_when_its_file_is_removed_or_replaced(
    tmp_path: Path, change: str
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    assert isinstance(store, SqlLedgerStore)
    try:
        path = store.lock_path("scheduler")
        first = store.leader_lock("scheduler")
        assert first.acquire() is True and first.held() is True
        path.unlink()
        if change == "replaced":
            path.write_text("")
        assert first.held() is False
        # Exactly why the first holder must step down: another one can take the name now.
        successor = store.leader_lock("scheduler")
        assert successor.acquire() is True and successor.held() is True
        first.release()  # frees nothing of the successor's
        third = store.leader_lock("scheduler")
        assert third.acquire() is False
        assert successor.held() is True
        successor.release()
        assert third.acquire() is True
        third.release()
    finally:
        store.close()


def _terminate(url: str, pid: int) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.pg_terminate_backend(pid))).scalar() is True
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_postgres_lock_is_lost_when_its_session_is_terminated(pg_schema: str) -> None:
    store = open_store(pg_schema)
    rival_store = open_store(pg_schema)
    try:
        lock = store.leader_lock("scheduler")
        assert isinstance(lock, PgAdvisoryLock)
        with lock as held:
            assert held is True and lock.held() is True
            pid = lock.backend_pid
            assert pid is not None
            rival = rival_store.leader_lock("scheduler")
            assert rival.acquire() is False  # another session: excluded while the first lives
            _terminate(pg_schema, pid)
            assert lock.held() is False
            assert lock.held() is False  # stays lost, asks no more
            assert lock.backend_pid is None
            assert rival.acquire() is True  # the server freed it with the session
            assert rival.held() is True
        # releasing the lost lock left the rival's alone
        assert rival.held() is True
        assert store.leader_lock("scheduler").acquire() is False
        rival.release()
        again = store.leader_lock("scheduler")
        assert again.acquire() is True  # a new term takes a new session
        again.release()
    finally:
        store.close()
        rival_store.close()


@pytest.mark.postgres
def test_a_postgres_lock_whose_database_is_unreachable_is_not_taken(pg_schema: str) -> None:
    store = open_store(pg_schema)
    try:
        assert isinstance(store, SqlLedgerStore)
        dead = sa.create_engine(store.url.set(port=1), pool_pre_ping=True)
        try:
            lock = PgAdvisoryLock(dead, store.advisory_key("scheduler"))
            assert lock.acquire() is False
            assert lock.held() is False
            lock.release()  # nothing to release, no error
        finally:
            dead.dispose()
    finally:
        store.close()
