"""The start of a run: no query that cannot change the decision, the ``running`` row through the
group-committing writer, the final row committed after it and before the run is reported
finished. Real ledgers (SQLite, and PostgreSQL when available); statements are counted with a
SQLAlchemy event listener on the store's engines."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from owlclaw_runtime.ledger import BreakerState, LedgerStore, SqlLedgerStore
from owlclaw_runtime.triggers.models import CronExecution, ExecutionStatus
from runtime_helpers import new_app

AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@contextmanager
def statements(store: LedgerStore) -> Iterator[list[str]]:
    """Every SQL statement the store sends while the block runs (normalised whitespace)."""
    assert isinstance(store, SqlLedgerStore)
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(re.sub(r"\s+", " ", statement).strip())

    # SQLite reads go through an option view of the one engine (its events are the engine's);
    # PostgreSQL reads have an engine of their own.
    engines = [store.engine]
    if store.dialect == "postgresql":
        engines.append(store._read_engine)
    for engine in engines:
        sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines:
            sa.event.remove(engine, "before_cursor_execute", record)


def _reads(seen: list[str], table: str) -> list[str]:
    return [s for s in seen if s.upper().startswith("SELECT") and table in s]


async def _job() -> None:
    return None


async def _warm(app: Any) -> None:
    """One run of a throwaway trigger: the ledger is open and the state cache is fresh."""
    app.cron_registry.register("warmup", "0 * * * *", fallback_handler=_job, migration_weight=0.0)
    await app.dispatch("warmup", scheduled_at=AT)


async def test_a_trigger_without_limits_makes_no_governance_query(
    ledger_store: LedgerStore,
) -> None:
    app, _, _ = new_app(ledger_store)
    app.cron_registry.register("plain", "0 * * * *", fallback_handler=_job, migration_weight=0.0)
    await _warm(app)
    with statements(ledger_store) as seen:
        (execution,) = await app.dispatch("plain", scheduled_at=AT)
    assert execution.status == ExecutionStatus.FALLBACK
    # no cooldown, no daily limit, the closed breaker cached: nothing is read at all
    assert [s for s in seen if s.upper().startswith("SELECT")] == []
    writes = [s for s in seen if "owlclaw_executions" in s and s.upper().startswith("INSERT")]
    assert len(writes) == 2  # the running row, then the final row
    assert execution.governance_checks["breaker"] == {"passed": True, "state": "closed"}
    stored = ledger_store.get_execution(execution.execution_id)
    assert stored is not None and stored.status == ExecutionStatus.FALLBACK


@pytest.mark.parametrize(
    ("limits", "query_marker"),
    [
        ({"cooldown_seconds": 60}, "completed_at"),  # last_success_at
        ({"max_daily_runs": 5}, "count("),  # daily_usage
        ({"max_daily_cost": 1.0}, "count("),
    ],
)
async def test_a_configured_limit_makes_exactly_its_own_query(
    ledger_store: LedgerStore, limits: dict[str, Any], query_marker: str
) -> None:
    app, _, _ = new_app(ledger_store)
    app.cron_registry.register(
        "limited", "0 * * * *", fallback_handler=_job, migration_weight=0.0, **limits
    )
    await _warm(app)
    with statements(ledger_store) as seen:
        (execution,) = await app.dispatch("limited", scheduled_at=AT)
    assert execution.status == ExecutionStatus.FALLBACK
    reads = _reads(seen, "owlclaw_executions")
    assert len(reads) == 1 and query_marker in reads[0].lower()
    assert _reads(seen, "owlclaw_breakers") == []


async def test_a_manual_run_skips_the_frequency_queries(ledger_store: LedgerStore) -> None:
    app, _, _ = new_app(ledger_store)
    app.cron_registry.register(
        "limited",
        "0 * * * *",
        fallback_handler=_job,
        migration_weight=0.0,
        cooldown_seconds=60,
        max_daily_runs=5,
    )
    await _warm(app)
    with statements(ledger_store) as seen:
        (execution,) = await app.dispatch("limited", scheduled_at=AT, trigger_type="manual")
    assert execution.governance_checks["cooldown"] == {"passed": True, "bypassed": "manual"}
    assert _reads(seen, "owlclaw_executions") == []


async def test_an_open_breaker_saved_by_another_worker_is_seen_within_the_ttl(
    ledger_store: LedgerStore,
) -> None:
    """The bulk read that primes the breaker cache still sees other workers' states."""
    app, clock, _ = new_app(ledger_store, state_ttl_seconds=0.05)
    app.cron_registry.register("guarded", "0 * * * *", fallback_handler=_job, migration_weight=0)
    await _warm(app)
    ledger_store.save_breaker(BreakerState("guarded", "open", opened_at=clock()))
    await asyncio.sleep(0.06)  # the cache expires
    (execution,) = await app.dispatch("guarded", scheduled_at=AT)
    assert execution.status == ExecutionStatus.SKIPPED
    assert execution.skip_reason == "breaker_open"


async def test_the_running_row_is_written_first_and_the_final_row_before_returning(
    ledger_store: LedgerStore,
) -> None:
    app, _, _ = new_app(ledger_store)
    written: list[tuple[str, str, bool]] = []
    real = ledger_store.record_executions

    def spy(executions: list[CronExecution]) -> None:
        real(executions)
        written.extend(
            (e.execution_id, e.status.value, e.completed_at is not None) for e in executions
        )

    ledger_store.record_executions = spy  # type: ignore[method-assign]
    started = asyncio.Event()
    release = asyncio.Event()

    async def job() -> None:
        started.set()
        await release.wait()

    app.cron_registry.register("slow", "0 * * * *", fallback_handler=job, migration_weight=0.0)
    run = asyncio.create_task(app.dispatch("slow", scheduled_at=AT))
    await started.wait()
    for _ in range(200):  # the running row commits while the job runs
        if written:
            break
        await asyncio.sleep(0.01)
    (execution_id, status, completed) = written[0]
    assert status == "running" and not completed  # a snapshot: no final fields leak in
    assert ledger_store.get_execution(execution_id).status == ExecutionStatus.RUNNING
    release.set()
    (execution,) = await run
    # reported finished only once the final row is committed, after the running row
    assert [w[1] for w in written if w[0] == execution_id] == ["running", "fallback"]
    stored = ledger_store.get_execution(execution.execution_id)
    assert stored is not None and stored.status == ExecutionStatus.FALLBACK


async def test_many_runs_share_few_ledger_calls(ledger_store: LedgerStore) -> None:
    """1,000 runs due together: the writer hands the ledger batches, not one call per row, and
    every run's final row is committed when dispatch returns."""
    app, _, _ = new_app(ledger_store, max_concurrent=200)
    calls: list[int] = []
    real = ledger_store.record_executions

    def spy(executions: list[CronExecution]) -> None:
        calls.append(len(executions))
        real(executions)

    ledger_store.record_executions = spy  # type: ignore[method-assign]
    n = 200
    for i in range(n):
        app.cron_registry.register(f"j{i}", "0 * * * *", fallback_handler=_job, migration_weight=0)
    results = await asyncio.gather(*(app.dispatch(f"j{i}", scheduled_at=AT) for i in range(n)))
    assert sum(calls) == 2 * n
    assert len(calls) < n  # coalesced
    for (execution,) in results:
        stored = ledger_store.get_execution(execution.execution_id)
        assert stored is not None and stored.status == ExecutionStatus.FALLBACK


async def test_a_row_the_database_refuses_fails_only_its_own_run(
    ledger_store: LedgerStore,
) -> None:
    """Rows of several runs share one batch; a value the database refuses (an exit code over
    64 bits) fails that run's record, after its retries, and no other run's."""
    from owlclaw_runtime.ledger import LedgerError

    app, _, _ = new_app(ledger_store)
    app.pipeline.commit_retry_delays = (0.0, 0.0)

    class Huge:
        exit_code = 2**70
        output_tail = "x"

    async def bad() -> Huge:
        await asyncio.sleep(0.01)
        return Huge()

    async def good() -> None:
        await asyncio.sleep(0.01)

    app.cron_registry.register("bad", "0 * * * *", fallback_handler=bad, migration_weight=0)
    for i in range(5):
        app.cron_registry.register(f"ok{i}", "0 * * * *", fallback_handler=good, migration_weight=0)
    results = await asyncio.gather(
        app.dispatch("bad", scheduled_at=AT),
        *(app.dispatch(f"ok{i}", scheduled_at=AT) for i in range(5)),
        return_exceptions=True,
    )
    assert isinstance(results[0], LedgerError)
    for (execution,) in results[1:]:  # type: ignore[misc]
        stored = ledger_store.get_execution(execution.execution_id)
        assert stored is not None and stored.status == ExecutionStatus.FALLBACK
    (bad_row,) = ledger_store.history("bad")
    assert bad_row.status == ExecutionStatus.RUNNING  # its evidence stays; the error surfaced
