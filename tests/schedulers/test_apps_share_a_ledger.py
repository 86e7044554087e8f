"""Many hosts, one ledger: each host's app leads its own triggers, even with the same event
names, and keeps its own trigger state, history and journal. Real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from owlclaw_runtime import OwlClawApp
from owlclaw_runtime.ledger import JournalEntry, TriggerState
from owlclaw_runtime.schedulers import FakeClock
from sched_helpers import Calls, scheduler, utc
from sqlalchemy.engine import make_url

HOSTS = ("web1", "web2")
EVENTS = ("e2scrub_all", "run_parts_etc_cron_daily")


def minutes(first: str, last: str) -> list[str]:
    out, t, end = [], utc(first), utc(last)
    while t <= end:
        out.append(t.strftime("%Y-%m-%dT%H:%M:%SZ"))
        t += timedelta(minutes=1)
    return out


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """One ledger for every host: a SQLite file, or a fresh PostgreSQL schema (never the
    database's public schema, which runtimes of other schema versions share in tests)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'owlclaw-ledger.db'}"
        return
    base: str = request.getfixturevalue("pg_url")
    schema = f"apps_{uuid.uuid4().hex[:16]}"
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def host_app(name: str, url: str, clock: FakeClock, calls: Calls, tenant: str) -> OwlClawApp:
    """What a generated module does: ``OwlClawApp(<host name>)`` on the shared ledger URL."""
    app = OwlClawApp(name, ledger=url, clock=clock.now, tenant_id=tenant)
    for event in EVENTS:

        def job(context: dict[str, Any], _event: str = event) -> None:
            calls.add(f"{name}/{_event}", context)

        app.cron("* * * * *", event_name=event, migration_weight=0.0)(job)
    return app


async def test_two_hosts_apps_both_lead_and_keep_their_own_rows(shared_url: str) -> None:
    tenant = "default"
    names = list(HOSTS)
    clock = FakeClock(utc("2026-05-01T10:00:30"))
    calls = Calls()
    apps = [host_app(name, shared_url, clock, calls, tenant) for name in names]
    schedulers = [scheduler(app, clock, leader_check_seconds=5) for app in apps]
    seen: dict[str, Any] = {}

    async def look() -> None:
        release = clock.hold()
        try:
            await clock.sleep((utc("2026-05-01T10:02:30") - clock.now()).total_seconds())
            seen["leaders"] = [s.is_leader for s in schedulers]
            seen["locks"] = [(await s.health())["lock"] for s in schedulers]
        finally:
            release()

    try:
        await asyncio.gather(*(s.run_until(utc("2026-05-01T10:05:10")) for s in schedulers), look())
        expected = minutes("2026-05-01T10:01", "2026-05-01T10:05")
        assert seen["leaders"] == [True, True]  # one leader per app, not one per ledger
        assert len(set(seen["locks"])) == 2
        for name in names:
            for event in EVENTS:
                assert calls.instants(f"{name}/{event}") == expected, (name, event)
        stores = [app.ledger for app in apps]
        for store in stores:
            for event in EVENTS:
                rows = store.history(event, tenant_id=tenant, limit=100)
                per_instant = Counter(
                    e.scheduled_at.strftime("%Y-%m-%dT%H:%M:%SZ")
                    for e in rows
                    if e.scheduled_at is not None
                )
                assert per_instant == Counter(expected)  # its own runs, each once
        # a pause, weight or shadow override of one host never reaches the other
        first, second = stores
        first.save_trigger_state(
            TriggerState("e2scrub_all", tenant_id=tenant, paused=True, migration_weight=0.5)
        )
        other = second.get_trigger_state("e2scrub_all", tenant_id=tenant)
        assert (other.paused, other.migration_weight) == (False, None)
        assert other.last_fired_at == utc("2026-05-01T10:05")  # its own watermark
        entry = JournalEntry("e2scrub_all", "cutover", clock.now(), "root", tenant_id=tenant)
        first.journal_append(entry)
        assert second.journal(tenant_id=tenant) == []
        assert [e.job for e in first.journal(tenant_id=tenant)] == ["e2scrub_all"]
        assert first.ledger_id == second.ledger_id  # one ledger, two apps
        assert [s.app_name for s in stores] == names
    finally:
        for app in apps:
            app.close()


def test_an_app_binds_the_store_it_opens_to_its_name(tmp_path: Path) -> None:
    app = OwlClawApp("web1", ledger=f"sqlite:///{tmp_path / 'l.db'}")
    try:
        assert app.ledger.app_name == "web1"
    finally:
        app.close()
