"""Group commit of execution rows (``SqlLedgerStore.record_executions``), SQLite and PostgreSQL.

Concurrent ``record_execution`` calls are coalesced into few transactions, yet every call
returns only after its own row is committed (visible from another connection), and a batch that
fails raises to its callers without losing anything another call was told is committed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from owlclaw_runtime.ledger import (
    LedgerError,
    LedgerStore,
    LedgerWriteError,
    SqlLedgerStore,
    open_store,
)
from owlclaw_runtime.triggers.models import CronExecution, ExecutionStatus

THREADS = 12


def _other_store(store: LedgerStore) -> SqlLedgerStore:
    """A second store on the same database: its own engine, so its own connections."""
    assert isinstance(store, SqlLedgerStore)
    return open_store(store.url.render_as_string(hide_password=False))  # type: ignore[return-value]


def _hold_first_write(store: SqlLedgerStore, waiting: int) -> None:
    """Make the first transaction wait until ``waiting`` more calls are queued behind it, so
    that the test knows they are coalesced into the second transaction."""
    group = store._group
    real_write: Callable[[list[dict[str, Any]]], None] = group._write
    first = threading.Event()

    def write(rows: list[dict[str, Any]]) -> None:
        if not first.is_set():
            first.set()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with group._cond:
                    if len(group._queue) >= waiting:
                        break
                time.sleep(0.001)
        real_write(rows)

    group._write = write  # type: ignore[method-assign]


def _run_threads(target: Callable[[int], None], n: int) -> None:
    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
        assert not t.is_alive()


def test_concurrent_writes_are_coalesced_and_each_visible_on_return(
    ledger_store: LedgerStore,
) -> None:
    assert isinstance(ledger_store, SqlLedgerStore)
    _hold_first_write(ledger_store, THREADS - 1)
    other = _other_store(ledger_store)
    seen: dict[int, ExecutionStatus | None] = {}
    errors: list[BaseException] = []
    try:

        def worker(i: int) -> None:
            try:
                ledger_store.record_execution(
                    CronExecution("job", ExecutionStatus.SUCCESS, f"gc-{i:03d}")
                )
                # returned: the row must be committed, visible to a fresh connection
                row = other.get_execution(f"gc-{i:03d}")
                seen[i] = None if row is None else row.status
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        _run_threads(worker, THREADS)
    finally:
        other.close()
    assert errors == []
    assert seen == {i: ExecutionStatus.SUCCESS for i in range(THREADS)}
    group = ledger_store._group
    assert group.calls == THREADS
    # the first call's transaction, then everyone who queued behind it in one more
    assert group.transactions == 2


def test_a_batch_keeps_order_within_one_call(ledger_store: LedgerStore) -> None:
    running = CronExecution("job", ExecutionStatus.RUNNING, "same")
    done = CronExecution("job", ExecutionStatus.FALLBACK, "same", exit_code=0)
    ledger_store.record_executions([running, done, CronExecution("job", execution_id="x")])
    got = ledger_store.get_execution("same")
    assert got is not None and got.status == ExecutionStatus.FALLBACK and got.exit_code == 0
    assert ledger_store.get_execution("x") is not None


def test_a_failing_batch_raises_to_every_caller_and_loses_nothing_committed(
    ledger_store: LedgerStore,
) -> None:
    """A database that refuses the whole transaction (here: a write lock held elsewhere would
    do the same) fails every call of that batch; calls committed before are all there."""
    assert isinstance(ledger_store, SqlLedgerStore)
    group = ledger_store._group
    real_write = group._write
    ledger_store.record_execution(CronExecution("job", ExecutionStatus.SUCCESS, "before"))
    _hold_first_write(ledger_store, THREADS - 1)
    held_write = group._write
    calls = {"n": 0}

    def failing_second(rows: list[dict[str, Any]]) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the coalesced batch: the database goes away mid-transaction
            raise LedgerError(f"ledger {ledger_store.display_url}: server closed the connection")
        held_write(rows)

    group._write = failing_second  # type: ignore[method-assign]
    outcome: dict[int, str] = {}

    def worker(i: int) -> None:
        try:
            ledger_store.record_execution(
                CronExecution("job", ExecutionStatus.SUCCESS, f"fb-{i:03d}")
            )
            outcome[i] = "ok"
        except LedgerError as exc:
            outcome[i] = str(exc)

    _run_threads(worker, THREADS)
    group._write = real_write  # type: ignore[method-assign]
    ok = [i for i, v in outcome.items() if v == "ok"]
    failed = [i for i, v in outcome.items() if v != "ok"]
    assert len(ok) == 1 and len(failed) == THREADS - 1
    assert all("server closed the connection" in outcome[i] for i in failed)
    other = _other_store(ledger_store)
    try:
        for i in ok:
            assert other.get_execution(f"fb-{i:03d}") is not None
        assert other.get_execution("before") is not None
        # the transaction failed as a whole: none of its rows is half-written
        assert all(other.get_execution(f"fb-{i:03d}") is None for i in failed)
        # the committer role was handed back: the store keeps working
        ledger_store.record_execution(CronExecution("job", ExecutionStatus.SUCCESS, "after"))
        assert other.get_execution("after") is not None
    finally:
        other.close()


def test_one_bad_row_fails_only_its_own_call(ledger_store: LedgerStore) -> None:
    """A value the database refuses (an exit code over 64 bits) fails the call holding it; the
    other calls coalesced with it are written on their own and succeed."""
    assert isinstance(ledger_store, SqlLedgerStore)
    _hold_first_write(ledger_store, THREADS - 1)
    outcome: dict[int, str] = {}

    def worker(i: int) -> None:
        bad = i == THREADS - 1
        execution = CronExecution(
            "job", ExecutionStatus.FAILED, f"bad-{i:03d}", exit_code=2**70 if bad else 1
        )
        try:
            ledger_store.record_execution(execution)
            outcome[i] = "ok"
        except LedgerError as exc:
            outcome[i] = str(exc)

    _run_threads(worker, THREADS)
    assert outcome[THREADS - 1] != "ok"
    assert ledger_store.display_url in outcome[THREADS - 1]
    assert sorted(i for i, v in outcome.items() if v == "ok") == list(range(THREADS - 1))
    for i in range(THREADS - 1):
        row = ledger_store.get_execution(f"bad-{i:03d}")
        assert row is not None and row.exit_code == 1
    assert ledger_store.get_execution(f"bad-{THREADS - 1:03d}") is None


@pytest.mark.parametrize("n", [1, 3])
def test_record_executions_default_on_the_base_class(n: int, tmp_path: Any) -> None:
    """Stores without a group commit of their own write the rows one by one, in order."""
    written: list[str] = []

    class Recording(SqlLedgerStore):
        def record_execution(self, execution: CronExecution) -> None:
            written.append(execution.execution_id)
            super().record_execution(execution)

    store = Recording(f"sqlite:///{tmp_path / 'l.db'}")
    try:
        ids = [f"r{i}" for i in range(n)]
        LedgerStore.record_executions(store, [CronExecution("job", execution_id=i) for i in ids])
        assert written == ids
        assert all(store.get_execution(i) is not None for i in ids)
    finally:
        store.close()


def test_record_executions_names_only_the_rows_not_committed(ledger_store: LedgerStore) -> None:
    good = [CronExecution("job", ExecutionStatus.SUCCESS, f"g{i}") for i in range(3)]
    bad = CronExecution("job", ExecutionStatus.FAILED, "too-big", exit_code=2**70)
    with pytest.raises(LedgerWriteError) as info:
        ledger_store.record_executions([good[0], bad, *good[1:]])
    assert info.value.uncommitted == frozenset({("default", "too-big")})
    assert "1 of 4" in str(info.value)
    assert all(ledger_store.get_execution(e.execution_id) is not None for e in good)
    assert ledger_store.get_execution("too-big") is None
