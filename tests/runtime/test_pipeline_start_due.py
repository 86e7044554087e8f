"""``Pipeline.start_due``: the embedded scheduler's hand-out of one wake-up's runs.

A run that can be admitted without waiting is admitted in the batch pass and gets one task;
every other run goes through ``dispatch``. Either way the records must be the same as
``dispatch`` makes, which is what these tests compare, on real ledgers (SQLite, and PostgreSQL
when available)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from owlclaw_runtime.ledger import BreakerState, LedgerStore, TriggerState
from owlclaw_runtime.pipeline import DueRun
from owlclaw_runtime.triggers.models import CronExecution, ExecutionStatus
from owlclaw_runtime.triggers.registry import UnknownTriggerError
from runtime_helpers import new_app
from test_pipeline_start_path import statements

AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

# Fields that differ between two runs of two triggers by construction.
_PER_RUN = {
    "event_name",
    "execution_id",
    "context",
    "governance_checks",
    "started_at",
    "duration_seconds",
}


class Jobs:
    """Async fallbacks that record the context they were called with."""

    def __init__(self) -> None:
        self.calls: dict[str, list[dict[str, Any]]] = {}

    def job(self, name: str) -> Any:
        async def run(context: dict[str, Any]) -> None:
            self.calls.setdefault(name, []).append(context)

        run.__name__ = name
        return run


class DispatchSpy:
    """Counts the runs that went through ``Pipeline.dispatch`` (the path taken, not faked)."""

    def __init__(self, pipeline: Any) -> None:
        self.names: list[str] = []
        self._original = pipeline.dispatch
        pipeline.dispatch = self

    async def __call__(self, event_name: str, **kwargs: Any) -> list[CronExecution]:
        self.names.append(event_name)
        result: list[CronExecution] = await self._original(event_name, **kwargs)
        return result


def _register(app: Any, jobs: Jobs, name: str, **config: Any) -> None:
    config.setdefault("migration_weight", 0.0)
    app.cron_registry.register(name, "0 * * * *", fallback_handler=jobs.job(name), **config)


async def _fresh(app: Any) -> None:
    """Read the trigger states now, as the scheduler's prefetch does before a wake-up."""
    await app.pipeline.prefetch(0.0)


async def _results(futures: list[asyncio.Future[Any]]) -> list[Any]:
    return list(await asyncio.gather(*futures, return_exceptions=True))


def _comparable(execution: CronExecution) -> dict[str, Any]:
    fields = {k: v for k, v in vars(execution).items() if k not in _PER_RUN}
    checks = dict(execution.governance_checks)
    checks["decision"] = {k: v for k, v in checks["decision"].items() if k != "draw"}
    fields["governance_checks"] = checks
    context = {
        k: v for k, v in execution.context.items() if k not in {"event_name", "execution_id"}
    }
    fields["context"] = context
    return fields


async def test_a_run_admitted_in_the_batch_is_recorded_as_dispatch_records_it(
    ledger_store: LedgerStore,
) -> None:
    app, _, _ = new_app(ledger_store)
    jobs = Jobs()
    _register(app, jobs, "by_dispatch", max_concurrency=1)
    _register(app, jobs, "by_batch", max_concurrency=1)
    (by_dispatch,) = await app.dispatch("by_dispatch", scheduled_at=AT)
    await _fresh(app)
    spy = DispatchSpy(app.pipeline)
    with statements(ledger_store) as seen:
        ((by_batch,),) = await _results(app.start_due([DueRun("by_batch", AT)]))
        await app.pipeline.drain()
    assert spy.names == []  # admitted in the batch pass
    assert [s for s in seen if s.upper().startswith("SELECT")] == []
    assert by_batch.status == ExecutionStatus.FALLBACK
    assert _comparable(by_batch) == _comparable(by_dispatch)
    stored = ledger_store.get_execution(by_batch.execution_id)
    assert stored is not None and stored.status == ExecutionStatus.FALLBACK
    assert stored.governance_checks == by_batch.governance_checks
    (context,) = jobs.calls["by_batch"]
    assert context["execution_id"] == by_batch.execution_id
    assert context["scheduled_at"] == "2026-03-02T12:00:00Z"
    assert context["event_name"] == "by_batch"
    assert app.pipeline.inflight == 0


async def test_runs_that_would_wait_or_be_refused_go_through_dispatch(
    ledger_store: LedgerStore,
) -> None:
    app, clock, _ = new_app(ledger_store)
    jobs = Jobs()
    for name in ("plain", "paused", "shadow", "twice", "cooled", "broken"):
        _register(app, jobs, name)
    _register(app, jobs, "cooldown", cooldown_seconds=60)
    ledger_store.save_trigger_state(TriggerState(event_name="paused", paused=True))
    ledger_store.save_trigger_state(TriggerState(event_name="shadow", shadow=True))
    ledger_store.save_breaker(
        BreakerState(event_name="broken", state="open", opened_at=clock() - timedelta(seconds=1))
    )
    await _fresh(app)
    spy = DispatchSpy(app.pipeline)
    due = [
        DueRun("plain", AT),
        DueRun("paused", AT),
        DueRun("shadow", AT),
        DueRun("twice", AT, runs=2),
        DueRun("cooldown", AT),
        DueRun("broken", AT),
    ]
    results = dict(
        zip((d.event_name for d in due), await _results(app.start_due(due)), strict=True)
    )
    await app.pipeline.drain()
    assert sorted(spy.names) == ["broken", "cooldown", "paused", "shadow", "twice"]
    assert [e.status for e in results["plain"]] == [ExecutionStatus.FALLBACK]
    assert [(e.status, e.skip_reason) for e in results["paused"]] == [
        (ExecutionStatus.SKIPPED, "paused")
    ]
    assert [(e.status, e.skip_reason) for e in results["shadow"]] == [
        (ExecutionStatus.SKIPPED, "shadow")
    ]
    assert [e.context["run_index"] for e in results["twice"]] == [0, 1]
    assert [e.status for e in results["cooldown"]] == [ExecutionStatus.FALLBACK]
    assert "cooldown" in results["cooldown"][0].governance_checks
    assert [(e.status, e.skip_reason) for e in results["broken"]] == [
        (ExecutionStatus.SKIPPED, "breaker_open")
    ]
    assert sorted(jobs.calls) == ["cooldown", "plain", "twice"]


async def test_a_stale_state_cache_sends_every_run_through_dispatch(
    ledger_store: LedgerStore,
) -> None:
    app, _, _ = new_app(ledger_store)
    jobs = Jobs()
    _register(app, jobs, "plain")
    spy = DispatchSpy(app.pipeline)  # nothing read yet: the cache is not fresh
    ((execution,),) = await _results(app.start_due([DueRun("plain", AT)]))
    assert spy.names == ["plain"]
    assert execution.status == ExecutionStatus.FALLBACK


async def test_an_unknown_trigger_fails_its_own_future_only(ledger_store: LedgerStore) -> None:
    app, _, _ = new_app(ledger_store)
    jobs = Jobs()
    _register(app, jobs, "plain")
    await _fresh(app)
    gone, kept = await _results(app.start_due([DueRun("gone", AT), DueRun("plain", AT)]))
    assert isinstance(gone, UnknownTriggerError)
    assert [e.status for e in kept] == [ExecutionStatus.FALLBACK]


async def test_busy_slots_make_the_batch_wait_or_skip_like_dispatch(
    ledger_store: LedgerStore,
) -> None:
    app, _, _ = new_app(ledger_store, max_concurrent=1)
    release = asyncio.Event()
    started: list[str] = []

    def blocking(name: str) -> Any:
        async def run() -> None:
            started.append(name)
            await release.wait()

        run.__name__ = name
        return run

    for name, policy in (("first", "skip"), ("second", "skip"), ("low", "queue")):
        app.cron_registry.register(
            name,
            "0 * * * *",
            fallback_handler=blocking(name),
            migration_weight=0.0,
            max_concurrency=1,
            overlap_policy=policy,
        )
    await _fresh(app)
    spy = DispatchSpy(app.pipeline)
    # "first" takes the one global slot in the batch pass; "second" has to wait for it
    futures = app.start_due([DueRun("first", AT), DueRun("second", AT)])
    await asyncio.sleep(0)
    assert started == ["first"] and spy.names == ["second"]
    # the same trigger again while its run holds its per-trigger slot: overlap, skipped
    (overlap,) = await _results(app.start_due([DueRun("first", AT + timedelta(hours=1))]))
    assert [(e.status, e.skip_reason) for e in overlap] == [(ExecutionStatus.SKIPPED, "overlap")]
    release.set()
    first, second = await _results(futures)
    await app.pipeline.drain()
    assert [e.status for e in first] == [ExecutionStatus.FALLBACK]
    assert [e.status for e in second] == [ExecutionStatus.FALLBACK]
    assert started == ["first", "second"]
    assert app.pipeline.global_slots.in_use == 0


@pytest.mark.parametrize("failing", [False, True])
async def test_drain_waits_for_runs_started_in_the_batch(
    ledger_store: LedgerStore, failing: bool
) -> None:
    app, _, _ = new_app(ledger_store)
    gate = asyncio.Event()

    async def slow() -> None:
        await gate.wait()
        if failing:
            raise RuntimeError("job failed")

    app.cron_registry.register(
        "slow", "0 * * * *", fallback_handler=slow, migration_weight=0.0, max_retries=0
    )
    await _fresh(app)
    (future,) = app.start_due([DueRun("slow", AT)])
    await asyncio.sleep(0)
    assert app.pipeline.inflight == 1
    drained = asyncio.create_task(app.pipeline.drain())
    await asyncio.sleep(0)
    assert not drained.done()
    gate.set()
    await drained
    (execution,) = future.result()
    assert execution.status == (ExecutionStatus.FAILED if failing else ExecutionStatus.FALLBACK)
    stored = ledger_store.get_execution(execution.execution_id)
    assert stored is not None and stored.status == execution.status


async def test_records_prepared_ahead_are_used_once_with_the_wake_up_time(
    ledger_store: LedgerStore,
) -> None:
    app, clock, _ = new_app(ledger_store)
    jobs = Jobs()
    for name in ("kept", "changed", "unused"):
        _register(app, jobs, name)
    app.prepare_due([DueRun("kept", AT), DueRun("changed", AT), DueRun("unused", AT)])
    ahead = {key[0]: execution for key, (_, execution) in app.pipeline._prepared.items()}
    assert sorted(ahead) == ["changed", "kept", "unused"]
    # "changed" gets a new configuration object before the wake-up (as a reload would give);
    # the registry has no public way to replace one, so its table is edited here
    registry = app.cron_registry
    registry._triggers["changed"] = registry.require("changed").model_copy()
    clock.advance(seconds=0.5)
    await _fresh(app)
    kept, changed = await _results(app.start_due([DueRun("kept", AT), DueRun("changed", AT)]))
    await app.pipeline.drain()
    assert kept[0] is ahead["kept"]
    assert kept[0].triggered_at == clock()
    assert jobs.calls["kept"][0]["triggered_at"] == clock().strftime("%Y-%m-%dT%H:%M:%SZ")
    assert jobs.calls["kept"][0]["execution_id"] == ahead["kept"].execution_id
    assert changed[0] is not ahead["changed"]
    assert changed[0].status == ExecutionStatus.FALLBACK
    assert app.pipeline._prepared == {}  # "unused" was dropped with the hand-out
    later = AT + timedelta(hours=1)
    (unused,) = await _results(app.start_due([DueRun("unused", later)]))
    assert unused[0].execution_id != ahead["unused"].execution_id
