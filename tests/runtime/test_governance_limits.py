"""Governance: cooldown, local-day limits (DST), the half-open breaker, concurrency, priority.
Skipped runs, manual-trigger bookkeeping and management events are never counted."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from owlclaw_runtime.agent.base import AgentResult
from owlclaw_runtime.governance import local_day_bounds
from owlclaw_runtime.ledger import LedgerStore
from owlclaw_runtime.triggers.models import ExecutionStatus
from runtime_helpers import Clock, RecordingObserver, ScriptedAgent, new_app

AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _register_legacy(app: Any, handler: Any, **limits: Any) -> None:
    """Register "job", due every minute and run only by its legacy ``handler``."""
    app.cron_registry.register(
        "job", "* * * * *", fallback_handler=handler, migration_weight=0.0, **limits
    )


def _statuses(results: list[Any]) -> list[tuple[str, str | None]]:
    return [(r.status.value, r.skip_reason) for r in results]


async def test_cooldown_counts_from_the_last_success(ledger_store: LedgerStore) -> None:
    app, clock, _ = new_app(ledger_store)
    outcomes = [OSError("x"), None, None, None]

    def job() -> None:
        item = outcomes.pop(0)
        if item is not None:
            raise item

    _register_legacy(app, job, cooldown_seconds=600, retry_on_failure=False)
    (failed,) = await app.dispatch("job", scheduled_at=clock())
    clock.advance(seconds=60)
    (ok,) = await app.dispatch("job", scheduled_at=clock())  # a failure starts no cooldown
    clock.advance(seconds=60)
    (cooling,) = await app.dispatch("job", scheduled_at=clock())
    clock.advance(seconds=600)
    (again,) = await app.dispatch("job", scheduled_at=clock())
    assert _statuses([failed, ok, cooling, again]) == [
        ("failed", None),
        ("fallback", None),
        ("skipped", "cooldown"),
        ("fallback", None),
    ]
    assert cooling.governance_checks["cooldown"]["passed"] is False
    assert cooling.governance_checks["cooldown"]["elapsed_seconds"] == pytest.approx(60)


async def test_skipped_runs_start_no_cooldown_and_do_not_count(ledger_store: LedgerStore) -> None:
    app, clock, _ = new_app(ledger_store)
    _register_legacy(app, lambda: None, cooldown_seconds=600, max_daily_runs=1)
    await app.cron_registry.pause_trigger("job")
    for _ in range(12):
        (r,) = await app.dispatch("job", scheduled_at=clock())
        assert r.skip_reason == "paused"
    await app.cron_registry.resume_trigger("job")
    (r,) = await app.dispatch("job", scheduled_at=clock())
    assert r.status == ExecutionStatus.FALLBACK
    assert ledger_store.get_breaker("job").state == "closed"


async def test_manual_runs_bypass_frequency_limits(ledger_store: LedgerStore) -> None:
    app, clock, _ = new_app(ledger_store)
    _register_legacy(app, lambda: None, cooldown_seconds=3600, max_daily_runs=1)
    (first,) = await app.dispatch("job", scheduled_at=clock())
    execution_id = await app.cron_registry.trigger_now("job")
    manual = ledger_store.get_execution(execution_id)
    assert first.status == ExecutionStatus.FALLBACK
    assert manual is not None and manual.status == ExecutionStatus.FALLBACK
    assert manual.governance_checks["cooldown"]["bypassed"] == "manual"
    (limited,) = await app.dispatch("job", scheduled_at=clock())
    assert limited.skip_reason == "cooldown"


async def test_daily_runs_follow_the_local_day_across_dst(ledger_store: LedgerStore) -> None:
    # 2026-03-08 is the US spring-forward day: New York's local day is 23 hours long,
    # from 05:00 UTC to 04:00 UTC the next day.
    clock = Clock(datetime(2026, 3, 8, 5, 30, tzinfo=UTC))  # 00:30 EST
    app, _, _ = new_app(ledger_store, clock=clock)
    _register_legacy(app, lambda: None, timezone="America/New_York", max_daily_runs=2)
    results = []
    for hours in (0, 1, 1):  # 00:30, 01:30 EST, 03:30 EDT: the third is over the limit
        clock.advance(hours=hours)
        results += await app.dispatch("job", scheduled_at=clock())
    assert _statuses(results) == [
        ("fallback", None),
        ("fallback", None),
        ("skipped", "max_daily_runs"),
    ]
    assert results[2].governance_checks["daily_runs"]["day_start"] == "2026-03-08T05:00:00+00:00"
    # 03:59 UTC on the 9th is still the 8th in New York (23:59 EDT)
    clock.set(datetime(2026, 3, 9, 3, 59, tzinfo=UTC))
    (still,) = await app.dispatch("job", scheduled_at=clock())
    assert still.skip_reason == "max_daily_runs"
    # 04:00 UTC is local midnight of the 9th: a new day (a UTC day would have started at 00:00)
    clock.set(datetime(2026, 3, 9, 4, 0, tzinfo=UTC))
    (fresh,) = await app.dispatch("job", scheduled_at=clock())
    assert fresh.status == ExecutionStatus.FALLBACK


async def test_daily_cost_limit(ledger_store: LedgerStore) -> None:
    agent = ScriptedAgent(default=AgentResult(run_id="x", status="completed", cost_usd=0.4))
    app, clock, _ = new_app(ledger_store, agent=agent)
    app.cron_registry.register("job", "* * * * *", migration_weight=1.0, max_daily_cost=1.0)
    results = []
    for _ in range(4):
        results += await app.dispatch("job", scheduled_at=clock())
        clock.advance(minutes=1)
    assert _statuses(results) == [("success", None)] * 3 + [("skipped", "max_daily_cost")]
    assert results[3].governance_checks["daily_cost"]["cost_usd"] == pytest.approx(1.2)


@pytest.mark.parametrize(
    ("instant", "zone", "hours"),
    [
        (datetime(2026, 3, 8, 12, tzinfo=UTC), "America/New_York", 23),
        (datetime(2026, 11, 1, 12, tzinfo=UTC), "America/New_York", 25),
        (datetime(2026, 3, 29, 12, tzinfo=UTC), "Europe/London", 23),
        (datetime(2026, 6, 1, 12, tzinfo=UTC), "Asia/Tokyo", 24),
    ],
)
def test_local_day_bounds(instant: datetime, zone: str, hours: int) -> None:
    start, end = local_day_bounds(instant, zone)
    assert start <= instant < end
    assert end - start == timedelta(hours=hours)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)))
def test_local_day_bounds_always_contain_the_instant(naive: datetime) -> None:
    instant = naive.replace(tzinfo=UTC)
    for zone in ("America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"):
        start, end = local_day_bounds(instant, zone)
        assert start <= instant < end
        assert timedelta(hours=22) <= end - start <= timedelta(hours=26)


async def test_breaker_opens_half_opens_and_closes(ledger_store: LedgerStore) -> None:
    recorder = RecordingObserver()
    app, clock, _ = new_app(ledger_store, observers=[recorder])
    healthy = {"ok": False}

    def job() -> None:
        if not healthy["ok"]:
            raise OSError("down")

    _register_legacy(
        app,
        job,
        retry_on_failure=False,
        breaker_window=4,
        breaker_threshold=0.5,
        breaker_recovery_seconds=300,
    )

    async def tick() -> Any:
        clock.advance(minutes=1)
        (r,) = await app.dispatch("job", scheduled_at=clock())
        return r

    results = [await tick() for _ in range(4)]
    assert [r.status.value for r in results] == ["failed"] * 4
    assert ledger_store.get_breaker("job").state == "open"
    blocked = await tick()
    assert blocked.skip_reason == "breaker_open"
    # skipped rows while open do not count, and time heals: after 300 s one trial runs
    clock.advance(seconds=300)
    trial = await tick()
    assert trial.status == ExecutionStatus.FAILED
    assert trial.governance_checks["breaker"]["state"] == "half_open"
    assert ledger_store.get_breaker("job").state == "open"  # failed trial re-opens
    clock.advance(seconds=300)
    healthy["ok"] = True
    trial2 = await tick()
    assert trial2.status == ExecutionStatus.FALLBACK
    assert ledger_store.get_breaker("job").state == "closed"
    # a fresh window: one failure after closing does not re-open it
    healthy["ok"] = False
    await tick()
    assert ledger_store.get_breaker("job").state == "closed"
    assert recorder.names("breaker") == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]
    actions = [e.action for e in ledger_store.events("job")]
    assert actions[:2] == ["breaker_closed", "breaker_half_open"]


async def test_breaker_state_survives_a_new_app(ledger_store: LedgerStore) -> None:
    app, clock, _ = new_app(ledger_store)

    def boom() -> None:
        raise OSError("x")

    kw: dict[str, Any] = dict(
        fallback_handler=boom,
        migration_weight=0.0,
        retry_on_failure=False,
        breaker_window=2,
        breaker_threshold=1.0,
    )
    app.cron_registry.register("job", "* * * * *", **kw)
    await app.dispatch("job", scheduled_at=clock(), runs=2)
    app2, _, _ = new_app(ledger_store, clock=clock)
    app2.cron_registry.register("job", "* * * * *", **kw)
    (r,) = await app2.dispatch("job", scheduled_at=clock())
    assert r.skip_reason == "breaker_open"
    assert app2.cron_registry.get_trigger_status("job")["breaker"]["state"] == "open"


async def test_reset_breaker_by_hand(ledger_store: LedgerStore) -> None:
    recorder = RecordingObserver()
    app, clock, _ = new_app(ledger_store, observers=[recorder])

    def boom() -> None:
        raise OSError("x")

    _register_legacy(app, boom, retry_on_failure=False, breaker_window=1, breaker_threshold=1.0)
    await app.dispatch("job", scheduled_at=clock())
    assert await app.cron_registry.reset_breaker("job") == "open"
    assert ledger_store.get_breaker("job").state == "closed"
    assert await app.cron_registry.reset_breaker("job") == "closed"
    assert recorder.names("breaker") == [("closed", "open"), ("open", "closed")]


async def test_breaker_needs_a_full_window(ledger_store: LedgerStore) -> None:
    app, clock, _ = new_app(ledger_store)

    def boom() -> None:
        raise OSError("x")

    app.cron_registry.register(
        "job", "* * * * *", fallback_handler=boom, migration_weight=0.0, retry_on_failure=False
    )
    await app.dispatch("job", scheduled_at=clock(), runs=9)
    assert ledger_store.get_breaker("job").state == "closed"
    await app.dispatch("job", scheduled_at=clock(), runs=1)
    assert ledger_store.get_breaker("job").state == "open"


async def test_overlap_skip(ledger_store: LedgerStore) -> None:
    app, clock, _ = new_app(ledger_store)
    gate = asyncio.Event()
    started = asyncio.Event()

    async def job() -> None:
        started.set()
        await gate.wait()

    _register_legacy(app, job, max_concurrency=1, overlap_policy="skip")
    first = asyncio.create_task(app.dispatch("job", scheduled_at=clock()))
    await asyncio.wait_for(started.wait(), 10)
    (second,) = await app.dispatch("job", scheduled_at=clock())
    gate.set()
    (done,) = await first
    assert second.skip_reason == "overlap" and done.status == ExecutionStatus.FALLBACK
    assert second.governance_checks["concurrency"]["running"] == 1


@pytest.mark.parametrize(("policy", "peak"), [("queue", 1), ("allow", 3)])
async def test_overlap_queue_and_allow(ledger_store: LedgerStore, policy: str, peak: int) -> None:
    app, clock, _ = new_app(ledger_store)
    running = {"now": 0, "peak": 0}
    all_in = asyncio.Event()

    async def job() -> None:
        running["now"] += 1
        running["peak"] = max(running["peak"], running["now"])
        if running["now"] == peak:
            all_in.set()
        # hold the run until the expected number overlap (or long enough to prove they can't)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_in.wait(), 0.2 if peak == 1 else 5)
        running["now"] -= 1

    _register_legacy(app, job, max_concurrency=1, overlap_policy=policy)
    results = await asyncio.gather(*(app.dispatch("job", scheduled_at=clock()) for _ in range(3)))
    assert [r.status for (r,) in results] == [ExecutionStatus.FALLBACK] * 3
    assert running["peak"] == peak


async def test_global_slots_go_to_higher_priority_first(ledger_store: LedgerStore) -> None:
    app, clock, _ = new_app(ledger_store, max_concurrent=1)
    order: list[str] = []
    gate = asyncio.Event()

    async def blocker() -> None:
        await gate.wait()

    app.cron_registry.register(
        "blocker", "* * * * *", fallback_handler=blocker, migration_weight=0.0
    )
    for name, priority in (("low", 0), ("mid", 5), ("high", 10), ("low2", 0)):
        app.cron_registry.register(
            name,
            "* * * * *",
            fallback_handler=lambda *, n=name: order.append(n),
            migration_weight=0.0,
            priority=priority,
        )
    semaphore = app.pipeline.global_slots

    async def until(condition: Any) -> None:
        for _ in range(1000):
            if condition():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("timed out")

    first = asyncio.create_task(app.dispatch("blocker", scheduled_at=clock()))
    await until(lambda: semaphore.in_use == 1)
    waiting = []
    for count, name in enumerate(("low", "mid", "high", "low2"), start=1):
        waiting.append(asyncio.create_task(app.dispatch(name, scheduled_at=clock())))
        await until(lambda c=count: semaphore.waiting == c)  # queued in this order
    assert order == []
    gate.set()
    await asyncio.gather(first, *waiting)
    assert order == ["high", "mid", "low", "low2"]


async def test_global_limit_caps_executions_in_flight(ledger_store: LedgerStore) -> None:
    app, clock, _ = new_app(ledger_store, max_concurrent=3)
    running = {"now": 0, "peak": 0}
    full = asyncio.Event()

    async def job() -> None:
        running["now"] += 1
        running["peak"] = max(running["peak"], running["now"])
        if running["now"] == 3:
            full.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(full.wait(), 5)
        await asyncio.sleep(0.01)
        running["now"] -= 1

    for i in range(8):
        app.cron_registry.register(f"j{i}", "* * * * *", fallback_handler=job, migration_weight=0.0)
    await asyncio.gather(*(app.dispatch(f"j{i}", scheduled_at=clock()) for i in range(8)))
    assert running["peak"] == 3
    assert len(ledger_store.history(limit=100)) == 8


async def test_a_breaker_closed_by_another_worker_starts_a_fresh_window(
    ledger_store: LedgerStore,
) -> None:
    clock = Clock()
    healthy = {"ok": False}

    def job() -> None:
        if not healthy["ok"]:
            raise OSError("down")

    kw: dict[str, Any] = dict(
        fallback_handler=job,
        migration_weight=0.0,
        retry_on_failure=False,
        breaker_window=3,
        breaker_threshold=0.5,
        breaker_recovery_seconds=60,
    )
    worker_a, _, _ = new_app(ledger_store, clock=clock, state_ttl_seconds=0)
    worker_b, _, _ = new_app(ledger_store, clock=clock, state_ttl_seconds=0)
    for app in (worker_a, worker_b):
        app.cron_registry.register("job", "* * * * *", **kw)
    await worker_a.dispatch("job", scheduled_at=clock(), runs=3)
    assert ledger_store.get_breaker("job").state == "open"
    clock.advance(seconds=61)
    healthy["ok"] = True
    (trial,) = await worker_b.dispatch("job", scheduled_at=clock())
    assert trial.status == ExecutionStatus.FALLBACK
    assert ledger_store.get_breaker("job").state == "closed"
    clock.advance(seconds=1)
    healthy["ok"] = False
    (failed,) = await worker_a.dispatch("job", scheduled_at=clock())
    assert failed.status == ExecutionStatus.FAILED
    # worker A counts only what happened since B closed the breaker: one failure, not three
    assert ledger_store.get_breaker("job").state == "closed"


async def test_a_run_waiting_to_retry_gives_its_global_slot_back(
    ledger_store: LedgerStore,
) -> None:
    backoff = asyncio.Event()
    resume = asyncio.Event()

    async def sleep(seconds: float) -> None:
        backoff.set()
        await resume.wait()

    app, clock, _ = new_app(ledger_store, max_concurrent=1)
    app.sleep = sleep
    order: list[str] = []
    attempts: list[int] = []

    def flaky() -> None:
        attempts.append(1)
        order.append(f"flaky#{len(attempts)}")
        if len(attempts) == 1:
            raise OSError("try again")

    app.cron_registry.register("flaky", "* * * * *", fallback_handler=flaky, migration_weight=0.0)
    app.cron_registry.register(
        "other", "* * * * *", fallback_handler=lambda: order.append("other"), migration_weight=0.0
    )
    first = asyncio.create_task(app.dispatch("flaky", scheduled_at=clock()))
    await asyncio.wait_for(backoff.wait(), 10)
    assert app.pipeline.global_slots.in_use == 0  # given back during the backoff
    (other,) = await asyncio.wait_for(app.dispatch("other", scheduled_at=clock()), 10)
    resume.set()
    (flaky_run,) = await first
    assert order == ["flaky#1", "other", "flaky#2"]
    assert (other.status, flaky_run.status) == (ExecutionStatus.FALLBACK, ExecutionStatus.FALLBACK)
    assert flaky_run.retry_count == 1 and app.pipeline.global_slots.in_use == 0


async def test_a_half_open_breaker_lets_exactly_one_trial_through(
    ledger_store: LedgerStore,
) -> None:
    app, clock, _ = new_app(ledger_store)
    gate = asyncio.Event()
    failing = {"on": True}

    async def job() -> None:
        if failing["on"]:
            raise OSError("down")
        await gate.wait()

    _register_legacy(
        app,
        job,
        retry_on_failure=False,
        breaker_window=1,
        breaker_threshold=1.0,
        breaker_recovery_seconds=30,
    )
    await app.dispatch("job", scheduled_at=clock())
    assert ledger_store.get_breaker("job").state == "open"
    clock.advance(seconds=31)
    failing["on"] = False
    tasks = [asyncio.create_task(app.dispatch("job", scheduled_at=clock())) for _ in range(5)]
    for _ in range(1000):  # the four that are not the trial finish on their own
        if sum(t.done() for t in tasks) == 4:
            break
        await asyncio.sleep(0.01)
    gate.set()
    results = [r for (r,) in await asyncio.gather(*tasks)]
    assert (
        sorted((r.status.value, r.skip_reason) for r in results)
        == [
            ("fallback", None),
        ]
        + [("skipped", "breaker_open")] * 4
    )
    assert ledger_store.get_breaker("job").state == "closed"


async def test_sync_jobs_run_up_to_max_concurrent_and_never_starve_the_ledger(
    ledger_store: LedgerStore,
) -> None:
    # 10 blocking sync jobs at once: more than the default thread pool has threads
    app, clock, _ = new_app(ledger_store, max_concurrent=11)
    barrier = threading.Barrier(10, timeout=10)
    release = threading.Event()

    all_running = threading.Event()

    def blocking() -> None:
        barrier.wait()  # passes only when all ten run at the same time
        all_running.set()
        release.wait(10)

    for i in range(10):
        app.cron_registry.register(
            f"sync{i}", "* * * * *", fallback_handler=blocking, migration_weight=0.0
        )
    app.cron_registry.register(
        "quick", "* * * * *", fallback_handler=lambda: None, migration_weight=0.0
    )
    try:
        blocked = [
            asyncio.create_task(app.dispatch(f"sync{i}", scheduled_at=clock())) for i in range(10)
        ]
        for _ in range(1000):
            if all_running.is_set() or barrier.broken:
                break
            await asyncio.sleep(0.01)
        assert all_running.is_set()
        # with every job thread busy, another run still records its rows
        (quick,) = await asyncio.wait_for(app.dispatch("quick", scheduled_at=clock()), 10)
        assert quick.status == ExecutionStatus.FALLBACK
        release.set()
        results = [r for (r,) in await asyncio.gather(*blocked)]
        assert [r.status for r in results] == [ExecutionStatus.FALLBACK] * 10
    finally:
        release.set()
        app.close()
