"""Every row of cron-semantics.md section 2.2 and section 8 (confirmed on real daemons).

Transitions: America/New_York 2025-03-09 02:00 EST -> 03:00 EDT (07:00Z) and 2025-11-02
02:00 EDT -> 01:00 EST (06:00Z); Europe/London 2025-03-30 01:00 GMT -> 02:00 BST (01:00Z) and
2025-10-26 02:00 BST -> 01:00 GMT (01:00Z).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from owlclaw_runtime.schedule import Schedule


def _day(expr: str, zone: str, day: str, **kw: object) -> list[str]:
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    got = Schedule(expr, timezone=zone, **kw).fires(start, start + timedelta(days=1))
    return [f.strftime("%H:%MZ") for f in got]


def _hours(expr: str, zone: str, day: str, frm: str, to: str, **kw: object) -> list[str]:
    start = datetime.fromisoformat(f"{day}T{frm}").replace(tzinfo=UTC)
    end = datetime.fromisoformat(f"{day}T{to}").replace(tzinfo=UTC)
    return [f.strftime("%H:%MZ") for f in Schedule(expr, timezone=zone, **kw).fires(start, end)]


NY = "America/New_York"
LON = "Europe/London"

# job | zone | day | expected UTC runs on that UTC day (daemon semantics, Debian and cronie)
DAEMON_ROWS = [
    ("30 2 * * *", NY, "2025-03-09", ["07:00Z"]),
    ("30 2 * * *", NY, "2025-11-02", ["07:30Z"]),
    ("30 1 * * *", NY, "2025-03-09", ["06:30Z"]),
    ("30 1 * * *", NY, "2025-11-02", ["05:30Z"]),
    ("0,30 2 * * *", NY, "2025-03-09", ["07:00Z", "07:00Z"]),
    ("0,30 2 * * *", NY, "2025-11-02", ["07:00Z", "07:30Z"]),
    ("0 1-3 * * *", NY, "2025-03-09", ["06:00Z", "07:00Z", "07:00Z"]),
    ("0 1-3 * * *", NY, "2025-11-02", ["05:00Z", "07:00Z", "08:00Z"]),
    ("* 2 * * *", NY, "2025-03-09", []),
    ("15 3 * * *", NY, "2025-03-09", ["07:15Z"]),
    ("45 0 * * *", NY, "2025-11-02", ["04:45Z"]),
    ("30 2 * * *", LON, "2025-03-30", ["01:30Z"]),
    ("30 2 * * *", LON, "2025-10-26", ["02:30Z"]),
    ("30 1 * * *", LON, "2025-03-30", ["01:00Z"]),
    ("30 1 * * *", LON, "2025-10-26", ["00:30Z"]),
]


@pytest.mark.parametrize(
    ("expr", "zone", "day", "expected"),
    DAEMON_ROWS,
    ids=[f"{r[1]}:{r[2]}:{r[0]}" for r in DAEMON_ROWS],
)
@pytest.mark.parametrize("dialect", ["debian", "cronie"])
def test_daemon_dst_rows(expr: str, zone: str, day: str, expected: list[str], dialect: str) -> None:
    assert _day(expr, zone, day, dialect=dialect) == expected


def test_ny_spring_wildcards_follow_the_wall_clock() -> None:
    # */15: ...01:30, 01:45 EST, 03:00 EDT, 03:15...; 02:00-02:45 never run
    assert _hours("*/15 * * * *", NY, "2025-03-09", "06:30", "07:30") == [
        "06:30Z",
        "06:45Z",
        "07:00Z",
        "07:15Z",
    ]
    # 0 * * * *: 01:00 EST (06:00Z), 03:00 EDT (07:00Z), no 02:00
    assert _hours("0 * * * *", NY, "2025-03-09", "05:30", "08:30") == ["06:00Z", "07:00Z", "08:00Z"]


def test_ny_fall_wildcards_run_in_both_passes() -> None:
    got = _hours("*/15 * * * *", NY, "2025-11-02", "05:00", "07:01")
    # 01:00..01:45 EDT (05:xxZ) and again 01:00..01:45 EST (06:xxZ), then 02:00 EST (07:00Z)
    assert got == [f"{h:02d}:{m:02d}Z" for h in (5, 6) for m in (0, 15, 30, 45)] + ["07:00Z"]
    assert _hours("0 * * * *", NY, "2025-11-02", "04:30", "07:30") == ["05:00Z", "06:00Z", "07:00Z"]
    assert len(_day("* 2 * * *", NY, "2025-11-02")) == 60


def test_london_hourly_loses_01_in_spring_and_doubles_in_fall() -> None:
    assert _hours("0 * * * *", LON, "2025-03-30", "00:00", "03:00") == [
        "00:00Z",
        "01:00Z",
        "02:00Z",
    ]
    # spring: 00:00 GMT (00:00Z), no 01:00, 02:00 BST (01:00Z), 03:00 BST (02:00Z)
    assert _hours("0 * * * *", LON, "2025-10-26", "00:00", "02:30") == [
        "00:00Z",
        "01:00Z",
        "02:00Z",
    ]


# wall-clock semantics: busybox, and cronie CRON_TZ jobs with the daemon on UTC
WALL_ROWS = [
    ("30 2 * * *", NY, "2025-03-09", []),
    ("30 1 * * *", NY, "2025-11-02", ["05:30Z", "06:30Z"]),
    ("0,30 2 * * *", NY, "2025-03-09", []),
    ("0 1-3 * * *", NY, "2025-03-09", ["06:00Z", "07:00Z"]),
    ("0 1-3 * * *", NY, "2025-11-02", ["05:00Z", "06:00Z", "07:00Z", "08:00Z"]),
    ("30 1 * * *", LON, "2025-03-30", []),
    ("30 1 * * *", LON, "2025-10-26", ["00:30Z", "01:30Z"]),
]


@pytest.mark.parametrize(
    ("expr", "zone", "day", "expected"), WALL_ROWS, ids=[f"{r[1]}:{r[2]}:{r[0]}" for r in WALL_ROWS]
)
def test_wallclock_rows_busybox_and_cron_tz(
    expr: str, zone: str, day: str, expected: list[str]
) -> None:
    assert _day(expr, zone, day, dialect="busybox") == expected
    assert (
        _day(expr, zone, day, dialect="cronie", semantics="wallclock", daemon_timezone="UTC")
        == expected
    )


def test_cron_tz_fixed_jobs_are_lost_in_the_daemon_fall_back_hour() -> None:
    # Seen on a real cronie (section 8): daemon on New York, CRON_TZ=UTC jobs at 06:00Z, 06:30Z.
    kw = {"dialect": "cronie", "semantics": "wallclock", "daemon_timezone": NY}
    assert _day("0 6 * * *", "UTC", "2025-11-02", **kw) == []
    assert _day("30 6 * * *", "UTC", "2025-11-02", **kw) == []
    assert _day("30 6 * * *", "UTC", "2025-11-03", **kw) == ["06:30Z"]
    assert _day("0 7 * * *", "UTC", "2025-11-02", **kw) == ["07:00Z"]
    # wildcard CRON_TZ jobs are evaluated in the negative branch too
    assert len(_hours("*/30 * * * *", "UTC", "2025-11-02", "06:00", "07:00", **kw)) == 2
    # busybox has no CRON_TZ: nothing is lost
    assert _day("30 6 * * *", "UTC", "2025-11-02", dialect="busybox") == ["06:30Z"]


def test_multiplicity_in_the_gate() -> None:
    s = Schedule("0,30 2 * * *", timezone=NY)
    assert s.runs_due_at(datetime(2025, 3, 9, 7, 0, tzinfo=UTC)) == 2
    assert s.runs_due_at(datetime(2025, 3, 9, 7, 0, 59, tzinfo=UTC)) == 2
    assert s.runs_due_at(datetime(2025, 3, 9, 7, 30, tzinfo=UTC)) == 0
    assert s.runs_due_at(datetime(2025, 3, 10, 6, 30, tzinfo=UTC)) == 1


def test_lord_howe_half_hour_dst() -> None:
    # 2025-04-06 02:00 +11 -> 01:30 +10:30 (15:00Z Apr 5); 2025-10-05 02:00 +10:30 -> 02:30 +11
    zone = "Australia/Lord_Howe"
    assert _day("45 1 * * *", zone, "2025-04-05") == ["14:45Z"]  # first pass only
    assert _day("15 2 * * *", zone, "2025-10-04") == ["15:30Z"]  # catch-up at 02:30 +11
    assert _day("15 2 * * *", zone, "2025-10-04", dialect="busybox") == []


def test_lord_howe_wildcard_runs_the_first_hour_after_a_half_hour_jump() -> None:
    # 1990-10-28 02:00 +10:30 -> 02:30 +11 (15:30Z); 03:00 +11 (16:00Z) exists and matches.
    start = datetime(1990, 10, 27, 12, 0, tzinfo=UTC)
    got = Schedule("*/32 0,*/3 * * *", timezone="Australia/Lord_Howe").fires(
        start, start + timedelta(hours=5)
    )
    assert [f.strftime("%H:%M") for f in got] == ["13:30", "14:02", "16:00", "16:32"]


def test_apia_skipped_day_is_a_large_jump_with_no_catch_up() -> None:
    # 2011-12-30 10:00Z: 2011-12-30 00:00 -10 -> 2011-12-31 00:00 +14 (a whole day, 1440 min).
    # cron.c treats a jump beyond 3 hours as a clock correction: nothing is caught up.
    start, end = datetime(2011, 12, 29, tzinfo=UTC), datetime(2012, 1, 1, tzinfo=UTC)
    for kw in ({"dialect": "debian"}, {"dialect": "busybox"}):
        got = Schedule("0 12 * * *", timezone="Pacific/Apia", **kw).fires(start, end)
        # 12-29 12:00 -10, then 12-31 and 2012-01-01 12:00 +14: no run for the missing 12-30
        assert [f.strftime("%m-%d %H:%M") for f in got] == [
            "12-29 22:00",
            "12-30 22:00",
            "12-31 22:00",
        ]


def test_caracas_2016_half_hour_forward_change_is_caught_up() -> None:
    # 2016-05-01 02:30 -04:30 -> 03:00 -04:00 (07:00Z), an offset change without a DST flag;
    # Debian recomputes GMToff every minute, so 02:45 runs at the jump.
    start = datetime(2016, 4, 30, tzinfo=UTC)
    got = Schedule("45 2 * * *", timezone="America/Caracas").fires(start, start + timedelta(days=3))
    assert [f.strftime("%m-%d %H:%M") for f in got] == ["04-30 07:15", "05-01 07:00", "05-02 06:45"]


def test_sao_paulo_midnight_dst() -> None:
    # 2018-11-04 00:00 -03 -> 01:00 -02 (03:00Z): midnight does not exist that day.
    start = datetime(2018, 11, 3, 12, tzinfo=UTC)
    end = start + timedelta(days=1)
    assert [
        f.strftime("%H:%M")
        for f in Schedule("0 0 * * *", timezone="America/Sao_Paulo").fires(start, end)
    ] == ["03:00"]
    assert (
        Schedule("0 0 * * *", timezone="America/Sao_Paulo", dialect="busybox").fires(start, end)
        == []
    )
