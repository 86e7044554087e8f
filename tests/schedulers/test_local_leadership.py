"""Leadership that is lost while held: the embedded scheduler notices within its check
interval, steps down, and the ledger's compare-and-set keeps every instant to one fire even
while two processes both believe they lead. Real SQLite files and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from owlclaw_runtime import OwlClawApp
from owlclaw_runtime.ledger import LeaderLock, LedgerStore, SqlLedgerStore
from owlclaw_runtime.schedulers import FakeClock, LocalScheduler
from sched_helpers import Calls, build_app, scheduler, utc

EVERY_MINUTE: list[tuple[str, str, dict[str, Any]]] = [("tick", "* * * * *", {})]


def minutes(first: str, last: str) -> list[str]:
    out, t, end = [], utc(first), utc(last)
    while t <= end:
        out.append(t.strftime("%Y-%m-%dT%H:%M:%SZ"))
        t += timedelta(minutes=1)
    return out


def fired_per_instant(store: LedgerStore, tenant: str) -> Counter[str]:
    """Ledger executions of ``tick`` counted per scheduled instant (both processes' rows)."""
    rows = store.history("tick", tenant_id=tenant, limit=100)
    return Counter(
        e.scheduled_at.strftime("%Y-%m-%dT%H:%M:%SZ") for e in rows if e.scheduled_at is not None
    )


def losses(store: LedgerStore, lock_name: str, tenant: str) -> list[dict[str, Any]]:
    events = store.events(f"__scheduler__/{lock_name}", tenant_id=tenant)
    return [e.details for e in events if e.action == "leadership_lost"]


def terminate_lock_session(url: str, store: LedgerStore, lock_name: str) -> int:
    """End the PostgreSQL session holding the advisory lock (as a server restart, an idle
    timeout or an operator's ``pg_terminate_backend`` would); returns its pid."""
    assert isinstance(store, SqlLedgerStore)
    key = store.advisory_key(lock_name)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            pid = conn.execute(
                sa.text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND objsubid = 1 AND classid::bigint = :hi AND objid::bigint = :lo"
                ),
                {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF},
            ).scalar_one()
            conn.execute(sa.select(sa.func.pg_terminate_backend(pid)))
            return int(pid)
    finally:
        engine.dispose()


def lose_lock(how: str, url: str, store: LedgerStore, lock_name: str) -> None:
    if how == "postgres":
        terminate_lock_session(url, store, lock_name)
    else:
        assert isinstance(store, SqlLedgerStore)
        store.lock_path(lock_name).unlink()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str, str]:
    """(how the lock is lost, ledger URL, tenant): a SQLite file whose lock file is removed, or
    PostgreSQL whose lock session is terminated."""
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    if request.param == "sqlite":
        return "sqlite", f"sqlite:///{tmp_path / 'owlclaw-ledger.db'}", tenant
    url: str = request.getfixturevalue("pg_url")
    return "postgres", url, tenant


async def at(clock: FakeClock, when: datetime) -> None:
    """Sleep on the virtual clock until ``when``."""
    await clock.sleep((when - clock.now()).total_seconds())


@pytest.mark.postgres
async def test_a_leader_whose_postgres_lock_is_lost_steps_down_and_another_takes_over(
    pg_url: str, calls: Calls
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    lock = f"lead-{tenant}"
    clock = FakeClock(utc("2026-05-01T10:00:30"))
    apps = [build_app(pg_url, clock, calls, EVERY_MINUTE, tenant_id=tenant) for _ in range(2)]
    # a leads (b starts 10 s later); after its loss it retries slowly, so b surely takes over
    a, b = (
        scheduler(app, clock, lock_name=lock, leader_check_seconds=5, leader_retry_seconds=retry)
        for app, retry in zip(apps, (60, 5), strict=True)
    )
    seen: dict[str, Any] = {}

    async def start_b() -> None:
        release = clock.hold()  # time moves on only once a has taken the lock and sleeps
        try:
            await at(clock, utc("2026-05-01T10:00:40"))
        finally:
            release()
        await b.run_until(utc("2026-05-01T10:08:10"))

    async def operator() -> None:
        release = clock.hold()
        try:
            await at(clock, utc("2026-05-01T10:03:20"))
            seen["before"] = (a.is_leader, b.is_leader)
            await asyncio.to_thread(terminate_lock_session, pg_url, apps[0].ledger, lock)
            await at(clock, utc("2026-05-01T10:03:26"))  # one check interval later
            seen["a_health"] = await a.health()
            await at(clock, utc("2026-05-01T10:03:31"))  # and one retry of b's
            seen["after"] = (a.is_leader, b.is_leader)
        finally:
            release()

    try:
        await asyncio.gather(a.run_until(utc("2026-05-01T10:08:10")), start_b(), operator())
        store = apps[0].ledger
        per_instant = fired_per_instant(store, tenant)
        recorded = losses(store, lock, tenant)
    finally:
        for app in apps:
            app.close()
    expected = minutes("2026-05-01T10:01", "2026-05-01T10:08")
    assert per_instant == Counter(expected)  # every instant exactly once across both
    assert calls.instants() == expected
    assert seen["before"] == (True, False)
    health = seen["a_health"]
    assert health["leader"] is False
    assert health["leadership_losses"] == 1
    loss = health["last_leadership_loss"]
    assert loss["reason"] == "lock_lost"
    detected = utc(loss["detected_at"].rstrip("Z"))
    assert utc("2026-05-01T10:03:20") <= detected <= utc("2026-05-01T10:03:25")
    assert loss["watermark"] == "2026-05-01T10:03:00Z"
    assert seen["after"] == (False, True)  # b took over within its retry interval
    assert [(d["reason"], d["lock"]) for d in recorded] == [("lock_lost", lock)]


async def test_a_deposed_leader_whose_claim_fails_does_not_dispatch(
    tmp_path: Path, calls: Calls
) -> None:
    url = f"sqlite:///{tmp_path / 'owlclaw-ledger.db'}"
    clock = FakeClock(utc("2026-05-01T10:00:30"))
    app = build_app(url, clock, calls, EVERY_MINUTE)
    # checks too rare to notice anything: only the claim can stop it
    sched = scheduler(app, clock, leader_check_seconds=3600)
    seen: dict[str, Any] = {}

    async def other_leader() -> None:
        release = clock.hold()
        try:
            await at(clock, utc("2026-05-01T10:02:30"))
            # another process, leading too, claims 10:03 first
            claimed = await asyncio.to_thread(
                app.ledger.advance_last_fired,
                sched.watermark_name,
                utc("2026-05-01T10:03"),
            )
            seen["claimed"] = claimed
        finally:
            release()

    try:
        await asyncio.gather(sched.run_until(utc("2026-05-01T10:05:10")), other_leader())
        health = await sched.health()
        recorded = losses(app.ledger, health["lock"], "default")
        per_instant = fired_per_instant(app.ledger, "default")
    finally:
        app.close()
    assert seen["claimed"] is True
    # 10:03 is the other leader's; this one stepped down without running it, took the lock
    # again 5 s later and resumed after the ledger's watermark
    assert calls.instants() == [
        "2026-05-01T10:01:00Z",
        "2026-05-01T10:02:00Z",
        "2026-05-01T10:04:00Z",
        "2026-05-01T10:05:00Z",
    ]
    assert set(per_instant.values()) == {1} and "2026-05-01T10:03:00Z" not in per_instant
    assert health["leadership_losses"] == 1
    assert health["last_leadership_loss"]["detected_at"] == "2026-05-01T10:03:00Z"
    [loss] = recorded
    assert loss == health["last_leadership_loss"]
    assert loss["reason"] == "instants_claimed_elsewhere"
    assert (loss["batch_first"], loss["batch_last"]) == ("2026-05-01T10:03:00Z",) * 2
    assert loss["watermark"] == "2026-05-01T10:02:00Z"


async def test_two_processes_that_both_believe_they_lead_fire_each_instant_once(
    shared: tuple[str, str, str], calls: Calls
) -> None:
    how, url, tenant = shared
    lock = f"lead-{tenant}"
    clock = FakeClock(utc("2026-05-01T10:00:30"))
    apps = [build_app(url, clock, calls, EVERY_MINUTE, tenant_id=tenant) for _ in range(2)]
    # The old leader checks its lock only every 5 virtual minutes: between the loss and its
    # check, both fire at the same instants and only the ledger's claim keeps them apart.
    scheds = [scheduler(app, clock, lock_name=lock, leader_check_seconds=300) for app in apps]
    seen: dict[str, Any] = {}

    async def operator() -> None:
        release = clock.hold()
        try:
            await at(clock, utc("2026-05-01T10:02:10"))
            [old] = [s for s in scheds if s.is_leader]
            await asyncio.to_thread(lose_lock, how, url, apps[0].ledger, lock)
            await at(clock, utc("2026-05-01T10:02:50"))
            seen["both_lead"] = all(s.is_leader for s in scheds)
            seen["old"] = old
        finally:
            release()

    try:
        await asyncio.gather(*(s.run_until(utc("2026-05-01T10:12:10")) for s in scheds), operator())
        per_instant = fired_per_instant(apps[0].ledger, tenant)
        recorded = losses(apps[0].ledger, lock, tenant)
        healths = [await s.health() for s in scheds]
    finally:
        for app in apps:
            app.close()
    assert seen["both_lead"] is True  # the window this test is about
    expected = minutes("2026-05-01T10:01", "2026-05-01T10:12")
    assert per_instant == Counter(expected)
    assert calls.instants() == expected
    reasons = [d["reason"] for d in recorded]
    assert "instants_claimed_elsewhere" in reasons
    assert set(reasons) <= {"instants_claimed_elsewhere", "lock_lost"}
    # the loser of the claim stepped down at once and said so in health()
    assert sum(h["leadership_losses"] for h in healths) == len(reasons)


class CountingStore(SqlLedgerStore):
    """The real SQLite store; the locks it hands out note when they are asked about."""

    def __init__(self, url: str, clock: FakeClock) -> None:
        super().__init__(url)
        self.clock = clock
        self.asked: list[datetime] = []

    def leader_lock(self, name: str) -> LeaderLock:
        lock = super().leader_lock(name)
        held = lock.held

        def counted() -> bool:
            self.asked.append(self.clock.now())
            return held()

        lock.held = counted  # type: ignore[method-assign]
        return lock


async def test_the_lock_is_asked_every_check_interval_while_leading(
    tmp_path: Path, calls: Calls
) -> None:
    clock = FakeClock(utc("2026-05-01T10:00:30"))
    store = CountingStore(f"sqlite:///{tmp_path / 'owlclaw-ledger.db'}", clock)
    app = OwlClawApp("checks", ledger=store, clock=clock.now)

    @app.cron("* * * * *", event_name="tick", migration_weight=0.0)
    def tick(context: dict[str, Any]) -> None:
        calls.add("tick", context)

    sched = LocalScheduler(app, clock=clock, leader_check_seconds=10, max_sleep_seconds=3600)
    try:
        await sched.run_until(utc("2026-05-01T10:03:10"))
        health = await sched.health()
    finally:
        store.close()
    assert calls.instants() == minutes("2026-05-01T10:01", "2026-05-01T10:03")
    # led from 10:00:30 to 10:03:10: asked every 10 virtual seconds, and never made to wait
    # longer than that by a far-away instant (max_sleep_seconds is an hour)
    gaps = [(b - a).total_seconds() for a, b in zip(store.asked, store.asked[1:], strict=False)]
    assert len(store.asked) == 15  # 10:00:40 .. 10:03:00
    assert store.asked[0] == utc("2026-05-01T10:00:40")
    assert all(gap == 10 for gap in gaps)
    assert health["leadership_losses"] == 0 and "last_leadership_loss" not in health


class HangingStore(SqlLedgerStore):
    """The real SQLite store; its locks' first ``held()`` hangs (as a query on a cut network
    connection would) until the test lets it go."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.hang = threading.Event()
        self.locks: list[LeaderLock] = []
        self.released: list[str] = []

    def leader_lock(self, name: str) -> LeaderLock:
        lock = super().leader_lock(name)
        held, release = lock.held, lock.release
        hang = self.hang

        def hanging() -> bool:
            hang.wait(30)
            return held()

        def noted_release() -> None:
            self.released.append(threading.current_thread().name)
            release()

        lock.held = hanging  # type: ignore[method-assign]
        lock.release = noted_release  # type: ignore[method-assign]
        self.locks.append(lock)
        return lock


async def test_a_leadership_check_that_hangs_counts_as_lost(tmp_path: Path, calls: Calls) -> None:
    clock = FakeClock(utc("2026-05-01T10:00:30"))
    store = HangingStore(f"sqlite:///{tmp_path / 'owlclaw-ledger.db'}")
    app = OwlClawApp("hangs", ledger=store, clock=clock.now)

    @app.cron("* * * * *", event_name="tick", migration_weight=0.0)
    def tick(context: dict[str, Any]) -> None:
        calls.add("tick", context)

    # asked at 10:00:31; unanswered for 1 s (real time: the check's timeout) -> step down
    sched = LocalScheduler(
        app, clock=clock, leader_check_seconds=1, leader_retry_seconds=600, max_sleep_seconds=20
    )
    try:
        await sched.run_until(utc("2026-05-01T10:03:10"))
        health = await sched.health()
        [loss] = [e.details for e in store.events(sched.watermark_name)]
    finally:
        store.hang.set()
        store.close()
    assert loss["reason"] == "check_timed_out"
    assert health["leadership_losses"] == 1 and health["leader"] is False
    assert calls.instants() == []  # stepped down before 10:01, retries only at 10:10:31
    # the stuck lock was released from a thread of its own, not the event loop's
    for _ in range(200):
        if store.released:
            break
        await asyncio.sleep(0.01)
    assert store.released and all(name != "MainThread" for name in store.released)
