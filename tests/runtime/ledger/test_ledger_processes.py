"""Durability and exclusivity with real processes and threads, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from owlclaw_runtime.ledger import (
    BreakerState,
    JournalEntry,
    LedgerError,
    LedgerStore,
    ManagementEvent,
    TriggerState,
    open_store,
)
from owlclaw_runtime.triggers.models import CronExecution, ExecutionStatus

T0 = datetime(2026, 3, 1, tzinfo=UTC)

_WRITER = """
import sys
from datetime import datetime, timedelta, UTC
from owlclaw_runtime.ledger import open_store
from owlclaw_runtime.triggers.models import CronExecution, ExecutionStatus
store = open_store(sys.argv[1])
t0 = datetime(2026, 3, 1, tzinfo=UTC)
i = 0
while True:
    store.record_execution(CronExecution(
        "job", status=ExecutionStatus.SUCCESS, execution_id=f"k{i}",
        triggered_at=t0 + timedelta(seconds=i), output_tail="x" * 2000))
    print(f"k{i}", flush=True)   # printed only after record_execution returned
    i += 1
"""

_HOLDER = """
import sys, time
from owlclaw_runtime.ledger import open_store
store = open_store(sys.argv[1])
with store.leader_lock(sys.argv[2]) as held:
    print("held" if held else "refused", flush=True)
    time.sleep(120)
"""


def _spawn(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    proc.stderr.close()


def test_committed_records_survive_a_sigkill_of_the_writer(ledger_url: str) -> None:
    open_store(ledger_url).close()  # schema ready, so the child starts writing at once
    proc = _spawn(_WRITER, ledger_url)
    confirmed: list[str] = []
    try:
        assert proc.stdout is not None
        while len(confirmed) < 40:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else "writer died"
            confirmed.append(line.strip())
    finally:
        _kill(proc)  # mid-write, most likely
    assert proc.returncode == -signal.SIGKILL
    store = open_store(ledger_url)
    try:
        missing = [i for i in confirmed if store.get_execution(i) is None]
        assert missing == []
        assert store.stats("job").overall.executions >= len(confirmed)
    finally:
        store.close()


def test_leader_lock_is_exclusive_across_processes(ledger_url: str) -> None:
    store = open_store(ledger_url)
    holder = _spawn(_HOLDER, ledger_url, "scheduler")
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with store.leader_lock("scheduler") as mine:
            assert mine is False
        with store.leader_lock("another") as other:
            assert other is True
    finally:
        _kill(holder)
    # the dead holder's lock is gone (file lock closed by the OS / PostgreSQL session ended)
    deadline = time.monotonic() + 10
    while True:
        with store.leader_lock("scheduler") as mine:
            if mine or time.monotonic() > deadline:
                break
        time.sleep(0.1)
    assert mine is True
    # and while we hold it, another process is refused
    with store.leader_lock("scheduler") as mine:
        assert mine
        contender = _spawn(_HOLDER, ledger_url, "scheduler")
        try:
            assert contender.stdout is not None
            assert contender.stdout.readline().strip() == "refused"
        finally:
            _kill(contender)
    store.close()


def test_concurrent_writers_from_threads_lose_nothing(ledger_store: LedgerStore) -> None:
    threads, per_thread = 8, 25
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def writer(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                at = T0 + timedelta(seconds=n * per_thread + i)
                e = CronExecution("job", status=ExecutionStatus.RUNNING, triggered_at=at)
                ledger_store.record_execution(e)
                e.status = ExecutionStatus.FAILED if i % 5 == 0 else ExecutionStatus.SUCCESS
                ledger_store.record_execution(e)
                ledger_store.record_event(ManagementEvent("job", "manual_trigger", at))
                ledger_store.recent_outcomes("job", 10)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    pool = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    stats = ledger_store.stats("job")
    assert stats.overall.executions == threads * per_thread
    assert stats.overall.failures == threads * per_thread // 5
    assert len(ledger_store.events("job", limit=1000)) == threads * per_thread


def test_only_one_of_racing_completions_of_a_journal_row_wins(ledger_store: LedgerStore) -> None:
    row = ledger_store.journal_append(JournalEntry("job", "step", T0, "u", status="pending"))
    results: list[str] = []
    barrier = threading.Barrier(6)

    def complete(status: str) -> None:
        barrier.wait()
        try:
            ledger_store.journal_update_status(row, status)
            results.append(f"won:{status}")
        except LedgerError:
            results.append("refused")

    pool = [
        threading.Thread(target=complete, args=("done" if i % 2 else "undone",)) for i in range(6)
    ]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    winners = [r for r in results if r.startswith("won")]
    assert len(winners) == 1 and results.count("refused") == 5
    assert ledger_store.journal("job")[0].status == winners[0].split(":")[1]


def test_everything_survives_close_and_reopen(ledger_url: str) -> None:
    store = open_store(ledger_url)
    store.record_execution(CronExecution("job", ExecutionStatus.SUCCESS, "r1", triggered_at=T0))
    store.record_event(ManagementEvent("job", "step", T0, details={"to": 0.5}))
    store.save_breaker(BreakerState("job", "half_open", T0))
    store.save_trigger_state(TriggerState("job", paused=True, migration_weight=0.5))
    store.journal_append(JournalEntry("job", "cutover", T0, "root", to_state={"live": True}))
    store.close()

    store = open_store(ledger_url)
    try:
        assert store.get_execution("r1") is not None
        assert [(e.action, e.details) for e in store.events()] == [("step", {"to": 0.5})]
        assert store.get_breaker("job") == BreakerState("job", "half_open", T0)
        state = store.get_trigger_state("job")
        assert (state.paused, state.migration_weight) == (True, 0.5)
        assert [(j.action, j.to_state) for j in store.journal()] == [("cutover", {"live": True})]
    finally:
        store.close()


@pytest.mark.postgres
def test_a_plain_postgresql_url_means_psycopg(pg_schema: str) -> None:
    plain = pg_schema.replace("postgresql+psycopg://", "postgresql://")
    store = open_store(plain)
    try:
        assert store.url.drivername == "postgresql+psycopg"  # type: ignore[attr-defined]
        store.record_execution(CronExecution("job", ExecutionStatus.SUCCESS, "p1"))
        assert store.get_execution("p1") is not None
    finally:
        store.close()


@pytest.mark.postgres
def test_a_read_on_a_connection_the_server_dropped_is_retried(pg_schema: str) -> None:
    import sqlalchemy as sa

    store = open_store(pg_schema)
    admin = sa.create_engine(pg_schema)
    try:
        store.save_breaker(BreakerState("job", "open", T0))
        assert store.get_breaker("job").state == "open"  # the read pool now holds a connection
        (pid,) = store._all(sa.select(sa.func.pg_backend_pid()))[0]  # type: ignore[attr-defined]
        with admin.begin() as conn:
            assert conn.execute(sa.select(sa.func.pg_terminate_backend(pid))).scalar() is True
        time.sleep(0.2)
        assert store.get_breaker("job").state == "open"  # stale connection replaced, not an error
    finally:
        admin.dispose()
        store.close()
