"""Restarts, downtime, catch-up, leadership, pause/resume, manual runs and health of the
embedded scheduler, all on a real SQLite ledger file (and PostgreSQL for the lock)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from owlclaw_runtime.ledger import open_store
from owlclaw_runtime.schedulers import FakeClock, LocalScheduler, create_backend
from sched_helpers import Calls, build_app, scheduler, utc

EVERY_MINUTE: list[tuple[str, str, dict[str, Any]]] = [("tick", "* * * * *", {})]


async def run_segment(
    url: str,
    calls: Calls,
    start: str,
    end: str,
    triggers: list[tuple[str, str, dict[str, Any]]] = EVERY_MINUTE,
    **options: Any,
) -> None:
    """One process lifetime: start at ``start``, stop at ``end``."""
    clock = FakeClock(utc(start))
    app = build_app(url, clock, calls, triggers)
    try:
        await scheduler(app, clock, **options).run_until(utc(end))
    finally:
        app.close()


def minutes(first: str, last: str) -> list[str]:
    """Every whole minute from ``first`` to ``last`` inclusive, as ISO instants."""
    out = []
    t, end = utc(first), utc(last)
    while t <= end:
        out.append(t.strftime("%Y-%m-%dT%H:%M:%SZ"))
        t += timedelta(minutes=1)
    return out


def missed_events(url: str, event: str) -> list[dict[str, Any]]:
    store = open_store(url)
    try:
        return [e.details for e in store.events(event) if e.action == "missed"]
    finally:
        store.close()


async def test_first_start_does_not_run_the_instant_before_it(ledger_url: str, calls: Calls):
    # 02:00 belonged to the legacy daemon; the scheduler starts 20 s later.
    await run_segment(
        ledger_url, calls, "2026-05-01T01:59:40", "2026-05-01T02:02:30", [("d", "0 2 * * *", {})]
    )
    await run_segment(
        ledger_url, calls, "2026-05-01T02:00:20", "2026-05-01T02:02:30", [("e", "0 2 * * *", {})]
    )
    assert calls.instants("d") == ["2026-05-01T02:00:00Z"]
    assert calls.instants("e") == []


async def test_a_restart_neither_double_fires_nor_skips(ledger_url: str, calls: Calls) -> None:
    await run_segment(ledger_url, calls, "2026-05-01T10:00:30", "2026-05-01T10:05:10")
    # restart 20 s later: 10:05 already ran, nothing in between is lost
    await run_segment(ledger_url, calls, "2026-05-01T10:05:30", "2026-05-01T10:08:10")
    assert calls.instants() == minutes("2026-05-01T10:01", "2026-05-01T10:08")
    assert len(set(calls.instants())) == len(calls.instants())


async def test_an_instant_missed_by_less_than_the_grace_period_still_runs(
    ledger_url: str, calls: Calls
) -> None:
    await run_segment(ledger_url, calls, "2026-05-01T10:00:30", "2026-05-01T10:04:50")
    # down from 10:04:50 to 10:05:40: the 10:05 run is 40 s late, inside the 60 s grace
    await run_segment(ledger_url, calls, "2026-05-01T10:05:40", "2026-05-01T10:07:10")
    assert calls.instants() == minutes("2026-05-01T10:01", "2026-05-01T10:07")
    late = [r for r in calls.rows if r["scheduled_at"] == "2026-05-01T10:05:00Z"]
    assert [r["trigger_type"] for r in late] == ["cron"]
    assert missed_events(ledger_url, "tick") == []


async def test_downtime_is_not_backfilled_by_default(ledger_url: str, calls: Calls) -> None:
    await run_segment(ledger_url, calls, "2026-05-01T10:00:30", "2026-05-01T10:02:10")
    # down 10:02:10 .. 10:10:30: 10:03..10:09 are older than the grace; 10:10 is 30 s late
    await run_segment(ledger_url, calls, "2026-05-01T10:10:30", "2026-05-01T10:12:10")
    assert calls.instants() == [
        *minutes("2026-05-01T10:01", "2026-05-01T10:02"),
        *minutes("2026-05-01T10:10", "2026-05-01T10:12"),
    ]
    [missed] = missed_events(ledger_url, "tick")
    assert missed["count"] == 7
    assert missed["first"] == "2026-05-01T10:03:00Z"
    assert missed["last"] == "2026-05-01T10:09:00Z"
    # a second restart does not report the same gap again
    await run_segment(ledger_url, calls, "2026-05-01T10:12:20", "2026-05-01T10:13:10")
    assert len(missed_events(ledger_url, "tick")) == 1


async def test_catch_up_runs_the_missed_instants_oldest_first(ledger_url: str, calls: Calls):
    triggers = [("tick", "*/2 * * * *", {"catch_up": True})]
    await run_segment(ledger_url, calls, "2026-05-01T10:00:30", "2026-05-01T10:02:10", triggers)
    await run_segment(ledger_url, calls, "2026-05-01T10:11:30", "2026-05-01T10:12:10", triggers)
    assert calls.instants(trigger_type="catchup") == [
        "2026-05-01T10:04:00Z",
        "2026-05-01T10:06:00Z",
        "2026-05-01T10:08:00Z",
        "2026-05-01T10:10:00Z",
    ]
    assert calls.instants(trigger_type="cron") == ["2026-05-01T10:02:00Z", "2026-05-01T10:12:00Z"]
    # dispatched one after another, oldest first
    order = [r["scheduled_at"] for r in calls.rows if r["trigger_type"] == "catchup"]
    assert order == sorted(order)
    assert missed_events(ledger_url, "tick") == []


async def test_catch_up_is_bounded_and_records_the_rest_as_missed(
    ledger_url: str, calls: Calls
) -> None:
    triggers = [("tick", "* * * * *", {"catch_up": True})]
    await run_segment(ledger_url, calls, "2026-05-01T10:00:30", "2026-05-01T10:01:10", triggers)
    await run_segment(
        ledger_url, calls, "2026-05-01T10:20:30", "2026-05-01T10:20:40", triggers, max_catch_up=5
    )
    # the grace window starts at 10:19:30: the newest five older instants are caught up
    assert calls.instants(trigger_type="catchup") == minutes("2026-05-01T10:15", "2026-05-01T10:19")
    assert calls.instants(trigger_type="cron") == [
        "2026-05-01T10:01:00Z",
        "2026-05-01T10:20:00Z",
    ]
    [missed] = missed_events(ledger_url, "tick")
    assert (missed["count"], missed["first"], missed["last"]) == (
        13,
        "2026-05-01T10:02:00Z",
        "2026-05-01T10:14:00Z",
    )


async def test_the_instant_is_saved_before_the_run_starts(ledger_url: str) -> None:
    seen: list[tuple[str, str | None]] = []
    clock = FakeClock(utc("2026-05-01T10:00:30"))
    store = open_store(ledger_url)
    from owlclaw_runtime import OwlClawApp

    app = OwlClawApp("saved-first", ledger=store, clock=clock.now)

    sched = scheduler(app, clock)

    @app.cron("* * * * *", migration_weight=0.0)
    def tick(context: dict[str, Any]) -> None:
        last = sched.handled_through("tick")
        seen.append((context["scheduled_at"], last and last.strftime("%Y-%m-%dT%H:%M:%SZ")))

    try:
        await sched.run_until(utc("2026-05-01T10:03:10"))
        # after the runs, each trigger's own row has caught up with the watermark
        assert store.get_trigger_state("tick").last_fired_at == utc("2026-05-01T10:03")
    finally:
        store.close()
    assert seen == [(s, s) for s in minutes("2026-05-01T10:01", "2026-05-01T10:03")]


async def test_pause_is_durable_and_resume_does_not_catch_up(ledger_url: str, calls: Calls):
    triggers = [("tick", "* * * * *", {"catch_up": True})]
    clock = FakeClock(utc("2026-05-01T10:00:30"))
    app = build_app(ledger_url, clock, calls, triggers)
    try:
        first = scheduler(app, clock)
        await first.run_until(utc("2026-05-01T10:02:10"))
        await first.pause("tick")
        # a new process starts while the trigger is paused: it fires nothing
        await scheduler(app, clock).run_until(utc("2026-05-01T10:06:10"))
        assert app.ledger.get_trigger_state("tick").paused
        later = scheduler(app, clock)
        await later.resume("tick")
        await later.run_until(utc("2026-05-01T10:08:10"))
    finally:
        app.close()
    assert calls.instants() == [
        *minutes("2026-05-01T10:01", "2026-05-01T10:02"),
        *minutes("2026-05-01T10:07", "2026-05-01T10:08"),
    ]
    assert calls.instants(trigger_type="catchup") == []


async def test_pause_and_resume_reach_a_running_scheduler(ledger_url: str, calls: Calls):
    clock = FakeClock(utc("2026-05-01T10:00:30"))
    app = build_app(ledger_url, clock, calls, EVERY_MINUTE)
    sched = scheduler(app, clock, max_sleep_seconds=10)
    paused_at: list[str] = []

    async def operator() -> None:
        release = clock.hold()  # time waits for the operator too
        try:
            await clock.sleep(120)  # 10:02:30
            await sched.pause("tick")
            paused_at.append(clock.now().isoformat())
            await clock.sleep(180)  # 10:05:30
            await sched.resume("tick")
        finally:
            release()

    try:
        await asyncio.gather(sched.run_until(utc("2026-05-01T10:08:10")), operator())
    finally:
        app.close()
    assert paused_at == ["2026-05-01T10:02:30+00:00"]
    fired = calls.instants()
    assert fired[:2] == minutes("2026-05-01T10:01", "2026-05-01T10:02")
    assert not set(fired) & set(minutes("2026-05-01T10:04", "2026-05-01T10:05"))
    assert fired[-3:] == minutes("2026-05-01T10:06", "2026-05-01T10:08")


async def test_two_schedulers_on_one_ledger_fire_each_instant_once(
    ledger_url: str, calls: Calls
) -> None:
    clock = FakeClock(utc("2026-05-01T10:00:30"))
    a = build_app(ledger_url, clock, calls, EVERY_MINUTE)
    b = build_app(ledger_url, clock, calls, EVERY_MINUTE)
    sa, sb = scheduler(a, clock), scheduler(b, clock)
    try:
        # a stops at 10:10:20 (releasing the lock); b takes over within its retry interval
        await asyncio.gather(
            sa.run_until(utc("2026-05-01T10:10:20")), sb.run_until(utc("2026-05-01T10:20:10"))
        )
    finally:
        a.close()
        b.close()
    assert calls.instants() == minutes("2026-05-01T10:01", "2026-05-01T10:20")
    assert sa.is_leader is False and sb.is_leader is False  # both released on exit


async def test_a_standby_scheduler_fires_nothing_while_the_leader_lives(
    ledger_url: str, calls: Calls
) -> None:
    clock = FakeClock(utc("2026-05-01T10:00:30"))
    a = build_app(ledger_url, clock, calls, EVERY_MINUTE)
    b = build_app(ledger_url, clock, calls, [("tick", "* * * * *", {})])
    sa = scheduler(a, clock)
    sb = scheduler(b, clock)
    health: dict[str, Any] = {}

    async def probe() -> None:
        release = clock.hold()
        try:
            await clock.sleep(150)  # 10:03:00
            health["a"], health["b"] = await sa.health(), await sb.health()
        finally:
            release()

    try:
        await asyncio.gather(
            sa.run_until(utc("2026-05-01T10:05:10")),
            sb.run_until(utc("2026-05-01T10:05:10")),
            probe(),
        )
    finally:
        a.close()
        b.close()
    assert len(calls.instants()) == 5 == len(set(calls.instants()))
    assert {health["a"]["leader"], health["b"]["leader"]} == {True, False}
    assert health["a"]["ok"] and health["b"]["ok"]


@pytest.mark.postgres
async def test_the_postgres_advisory_lock_elects_one_leader(pg_url: str, calls: Calls):
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    clock = FakeClock(utc("2026-05-01T10:00:30"))
    apps = [build_app(pg_url, clock, calls, EVERY_MINUTE, tenant_id=tenant) for _ in range(3)]
    ends = ["2026-05-01T10:04:20", "2026-05-01T10:08:20", "2026-05-01T10:12:10"]
    try:
        await asyncio.gather(
            *(
                scheduler(app, clock).run_until(utc(end))
                for app, end in zip(apps, ends, strict=True)
            )
        )
    finally:
        for app in apps:
            app.close()
    assert calls.instants() == minutes("2026-05-01T10:01", "2026-05-01T10:12")


async def test_trigger_now_returns_at_once_and_passes_the_context(ledger_url: str) -> None:
    store = open_store(ledger_url)
    from owlclaw_runtime import OwlClawApp

    app = OwlClawApp("manual", ledger=store)
    release = asyncio.Event()
    seen: list[dict[str, Any]] = []

    @app.cron("0 3 * * *", migration_weight=0.0)
    async def nightly(context: dict[str, Any]) -> None:
        seen.append(context)
        await release.wait()

    sched = LocalScheduler(app)
    await sched.start()
    try:
        execution_id = await sched.trigger_now("nightly", {"reason": "test"})
        row = None
        for _ in range(200):
            # the job starts as its running row is queued; the row commits while it runs
            row = store.get_execution(execution_id) if seen else None
            if row is not None:
                break
            await asyncio.sleep(0.01)
        # the run is in flight: trigger_now did not wait for it
        assert seen and row is not None and row.status == "running"
        release.set()
    finally:
        await sched.stop()
        store.close()
    assert seen[0]["reason"] == "test"
    assert seen[0]["trigger_type"] == "manual"
    assert seen[0]["execution_id"] == execution_id
    store = open_store(ledger_url)
    try:
        done = store.get_execution(execution_id)
    finally:
        store.close()
    assert done.status == "fallback" and done.trigger_type == "manual"


async def test_unknown_trigger_names_are_refused(ledger_url: str, calls: Calls) -> None:
    clock = FakeClock(utc("2026-05-01T10:00:30"))
    app = build_app(ledger_url, clock, calls, EVERY_MINUTE)
    sched = scheduler(app, clock)
    try:
        with pytest.raises(KeyError, match="nope"):
            await sched.trigger_now("nope", {})
        with pytest.raises(KeyError, match="nope"):
            await sched.pause("nope")
    finally:
        app.close()


async def test_health_reports_the_next_instant_of_every_trigger(ledger_url: str, calls: Calls):
    app = build_app(ledger_url, FakeClock(utc("2026-05-01T10:00:30")), calls, [])
    app.cron("30 2 * * *", event_name="nightly", timezone="America/New_York")(lambda: None)
    sched = create_backend("local", app)
    assert (await sched.health())["ok"] is False  # not started
    await sched.start()
    try:
        for _ in range(100):
            if sched.is_leader and sched.next_fires():
                break
            await asyncio.sleep(0.01)
        report = await sched.health()
    finally:
        await sched.stop()
        app.close()
    assert report["ok"] and report["running"] and report["leader"]
    nightly = report["triggers"]["nightly"]
    assert nightly["paused"] is False
    assert nightly["next_fire"].endswith(":30:00Z")
    assert (await sched.health())["running"] is False


def test_create_backend_refuses_unknown_names() -> None:
    from owlclaw_runtime.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="unknown scheduler backend 'cron'"):
        create_backend("cron", object())


async def test_a_restart_trusts_the_watermark_when_a_trigger_row_lags(
    ledger_url: str, calls: Calls
) -> None:
    import dataclasses

    await run_segment(ledger_url, calls, "2026-05-01T10:00:30", "2026-05-01T10:03:10")
    # as if the process died after the batch's watermark write, before the per-trigger write
    store = open_store(ledger_url)
    try:
        state = store.get_trigger_state("tick")
        store.save_trigger_state(dataclasses.replace(state, last_fired_at=utc("2026-05-01T10:01")))
    finally:
        store.close()
    await run_segment(ledger_url, calls, "2026-05-01T10:03:20", "2026-05-01T10:05:10")
    assert calls.instants() == minutes("2026-05-01T10:01", "2026-05-01T10:05")


async def test_triggers_and_pauses_from_elsewhere_reach_a_running_scheduler(
    ledger_url: str, calls: Calls
) -> None:
    import dataclasses

    clock = FakeClock(utc("2026-05-01T10:00:30"))
    app = build_app(ledger_url, clock, calls, EVERY_MINUTE)
    sched = scheduler(app, clock, state_poll_seconds=0, max_sleep_seconds=30)

    async def elsewhere() -> None:
        release = clock.hold()
        try:
            await clock.sleep(60)  # 10:01:30: a trigger registered later in this process
            app.cron("*/2 * * * *", event_name="late")(lambda context: calls.add("late", context))
            await clock.sleep(120)  # 10:03:30: another process pauses "tick" in the ledger
            store = open_store(ledger_url)
            try:
                state = store.get_trigger_state("tick")
                store.save_trigger_state(dataclasses.replace(state, paused=True))
            finally:
                store.close()
        finally:
            release()

    try:
        await asyncio.gather(sched.run_until(utc("2026-05-01T10:06:10")), elsewhere())
    finally:
        app.close()
    assert calls.instants("late") == [
        "2026-05-01T10:02:00Z",
        "2026-05-01T10:04:00Z",
        "2026-05-01T10:06:00Z",
    ]
    # paused at 10:03:30; picked up at the next wake-up (within max_sleep_seconds)
    assert calls.instants("tick") == minutes("2026-05-01T10:01", "2026-05-01T10:03")


async def test_a_long_downtime_while_paused_is_neither_run_nor_reported(
    ledger_url: str, calls: Calls
) -> None:
    triggers = [("tick", "* * * * *", {"catch_up": True})]
    clock = FakeClock(utc("2026-05-01T10:00:30"))
    app = build_app(ledger_url, clock, calls, triggers)
    try:
        first = scheduler(app, clock)
        await first.run_until(utc("2026-05-01T10:01:10"))
        await first.pause("tick")
    finally:
        app.close()
    await run_segment(ledger_url, calls, "2026-05-01T12:00:30", "2026-05-01T12:01:10", triggers)
    assert calls.instants() == ["2026-05-01T10:01:00Z"]
    assert missed_events(ledger_url, "tick") == []


async def test_an_unusable_trigger_is_reported_and_the_others_still_fire(
    ledger_url: str, calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(utc("2026-05-01T10:00:30"))
    app = build_app(ledger_url, clock, calls, [*EVERY_MINUTE, ("broken", "0 3 * * *", {})])
    real = app.cron_registry.schedule

    def schedule(name: str):
        if name == "broken":
            raise ValueError("model refused it")
        return real(name)

    monkeypatch.setattr(app.cron_registry, "schedule", schedule)
    monkeypatch.setattr(
        "owlclaw_runtime.schedulers.entries._build_schedule",
        lambda config: (_ for _ in ()).throw(ValueError("model refused it")),
    )
    sched = scheduler(app, clock)
    try:
        await sched.run_until(utc("2026-05-01T10:02:10"))
        report = await sched.health()
    finally:
        app.close()
    assert calls.instants() == minutes("2026-05-01T10:01", "2026-05-01T10:02")
    assert report["triggers"]["broken"]["error"] == "model refused it"
    assert report["triggers"]["broken"]["next_fire"] is None


async def test_garbage_collection_is_back_on_after_every_wake_up(ledger_url: str, calls: Calls):
    import gc

    assert gc.isenabled()
    await run_segment(ledger_url, calls, "2026-05-01T10:00:30", "2026-05-01T10:03:10")
    assert len(calls.instants()) == 3
    assert gc.isenabled()
