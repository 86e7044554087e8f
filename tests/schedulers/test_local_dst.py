"""The embedded scheduler fires at the time model's exact instants, DST days included.

Transition instants used below (America/New_York, 2026):
- spring forward: 2026-03-08 02:00 EST -> 03:00 EDT, at 07:00Z;
- fall back: 2026-11-01 02:00 EDT -> 01:00 EST, at 06:00Z (01:00-01:59 happens twice).
Vixie cron runs fixed-time jobs skipped by the jump once right after it (both runs of
``0,30 2 * * *`` at 03:00 EDT), runs them only in the first pass of a repeated hour, and lets
wildcard jobs follow the wall clock (``*/15 1 * * *`` eight times on the fall-back day).
"""

from __future__ import annotations

import pytest
from owlclaw_runtime.ledger import open_store
from owlclaw_runtime.schedulers import FakeClock
from sched_helpers import Calls, build_app, scheduler, utc

NY = {"timezone": "America/New_York"}


async def run_window(url: str, calls: Calls, triggers, start: str, end: str) -> None:
    clock = FakeClock(utc(start))
    app = build_app(url, clock, calls, triggers)
    try:
        await scheduler(app, clock).run_until(utc(end))
    finally:
        app.close()


async def test_it_runs_a_fixed_job_skipped_by_spring_forward_once_right_after_the_jump(
    ledger_url: str, calls: Calls
) -> None:
    await run_window(
        ledger_url, calls, [("nightly", "30 2 * * *", NY)], "2026-03-07T12:00", "2026-03-09T12:00"
    )
    assert calls.instants() == ["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"]


async def test_it_dispatches_both_skipped_runs_at_once_with_runs_2(
    ledger_url: str, calls: Calls
) -> None:
    await run_window(
        ledger_url, calls, [("twice", "0,30 2 * * *", NY)], "2026-03-08T00:00", "2026-03-08T12:00"
    )
    spring = [r for r in calls.rows if r["scheduled_at"] == "2026-03-08T07:00:00Z"]
    assert len(spring) == 2
    assert sorted(r["run_index"] for r in spring) == [0, 1]
    assert {r["runs"] for r in spring} == {2}
    assert {r["trigger_type"] for r in spring} == {"cron"}
    store = open_store(ledger_url)
    try:
        rows = store.history("twice", limit=100)
    finally:
        store.close()
    assert sorted(e.scheduled_at.strftime("%H:%M") for e in rows) == ["07:00", "07:00"]


async def test_a_wildcard_job_follows_the_wall_clock_through_the_repeated_hour(
    ledger_url: str, calls: Calls
) -> None:
    await run_window(
        ledger_url,
        calls,
        [("quarterly", "*/15 1 * * *", NY), ("fixed", "30 1 * * *", NY)],
        "2026-11-01T00:00",
        "2026-11-01T12:00",
    )
    assert calls.instants("quarterly") == [
        "2026-11-01T05:00:00Z",
        "2026-11-01T05:15:00Z",
        "2026-11-01T05:30:00Z",
        "2026-11-01T05:45:00Z",
        "2026-11-01T06:00:00Z",
        "2026-11-01T06:15:00Z",
        "2026-11-01T06:30:00Z",
        "2026-11-01T06:45:00Z",
    ]
    # fixed-time: first pass only (01:30 EDT)
    assert calls.instants("fixed") == ["2026-11-01T05:30:00Z"]


@pytest.mark.parametrize(
    ("expression", "options", "start", "end"),
    [
        ("30 2 * * *", NY, "2026-03-06T00:00", "2026-03-10T00:00"),
        ("0,30 2 * * *", NY, "2026-03-07T00:00", "2026-03-09T00:00"),
        ("*/15 1 * * *", NY, "2026-10-31T00:00", "2026-11-02T00:00"),
        ("30 1 * * 0", NY, "2026-10-25T00:00", "2026-11-09T00:00"),
        ("0 2 * * *", {"timezone": "Europe/London"}, "2026-03-28T00:00", "2026-03-31T00:00"),
        ("45 0 * * *", {"timezone": "Australia/Lord_Howe"}, "2026-04-03T00:00", "2026-04-06T00:00"),
        ("0 9 * * 1-5", {}, "2026-06-01T00:00", "2026-06-15T00:00"),
    ],
    ids=[
        "ny-spring",
        "ny-spring-double",
        "ny-fall-wildcard",
        "ny-fall-weekly",
        "london",
        "lhi",
        "utc",
    ],
)
async def test_fired_instants_equal_the_model_with_multiplicity(
    ledger_url: str, calls: Calls, expression: str, options: dict, start: str, end: str
) -> None:
    await run_window(ledger_url, calls, [("job", expression, options)], start, end)
    from owlclaw_runtime.schedule import Schedule

    model = Schedule(expression, timezone=options.get("timezone", "UTC"))
    expected = [
        t.strftime("%Y-%m-%dT%H:%M:%SZ")
        for t in model.fires(utc(start).replace(second=1), utc(end))
    ]
    assert expected, "the window must contain instants"
    assert calls.instants() == expected


async def test_a_fake_clock_walks_a_dst_day_quickly(ledger_url: str, calls: Calls) -> None:
    import time

    began = time.perf_counter()
    await run_window(
        ledger_url,
        calls,
        [("quarterly", "*/15 * * * *", NY)],
        "2026-10-31T23:59",  # next_fire is strictly after the start
        "2026-11-02T00:00",
    )
    assert len(calls.rows) == 96
    assert time.perf_counter() - began < 30
