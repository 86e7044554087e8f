"""cron-semantics.md section 6.5: the minimal regression list, as explicit examples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from owlclaw_runtime.schedule import CronSyntaxError, Schedule, parse

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _next(expr: str, n: int = 3, dialect: str = "cronie") -> list[str]:
    s = Schedule(expr, dialect=dialect, timezone="UTC")
    out, t = [], T0
    for _ in range(n):
        t = s.next_fire(t)
        if t is None:
            break
        out.append(t.strftime("%Y-%m-%d %H:%M"))
    return out


# expression | next runs from 2025-01-01 00:00 UTC (cronie 1.7 and Debian agree on all of these)
NEXT = [
    ("0 0 */2 * 1", ["2025-01-13 00:00", "2025-01-27 00:00", "2025-02-03 00:00"]),
    ("0 0 1,15 * 1", ["2025-01-06 00:00", "2025-01-13 00:00", "2025-01-15 00:00"]),
    ("0 0 1-31 * 1", ["2025-01-02 00:00", "2025-01-03 00:00", "2025-01-04 00:00"]),
    ("0 0 13 * 1,*", ["2025-01-02 00:00", "2025-01-03 00:00", "2025-01-04 00:00"]),
    ("0 0 * * */2", ["2025-01-02 00:00", "2025-01-04 00:00", "2025-01-05 00:00"]),
    ("5-5 * * * *", ["2025-01-01 00:05", "2025-01-01 01:05", "2025-01-01 02:05"]),
    ("0 0 3-3/10 * *", ["2025-01-03 00:00", "2025-02-03 00:00", "2025-03-03 00:00"]),
    ("0 0 * * 7", ["2025-01-05 00:00", "2025-01-12 00:00", "2025-01-19 00:00"]),
    ("0 0 * * 7-7", ["2025-01-05 00:00", "2025-01-12 00:00", "2025-01-19 00:00"]),
    ("0 0 * * 1-7/2", ["2025-01-03 00:00", "2025-01-05 00:00", "2025-01-06 00:00"]),
    ("0 0 * * fri-sun", []),
    ("0 5-3 * * *", []),
    ("*/60 * * * *", ["2025-01-01 01:00", "2025-01-01 02:00", "2025-01-01 03:00"]),
    ("0 0 31 2 *", []),
    ("0 0 29 2 *", ["2028-02-29 00:00", "2032-02-29 00:00", "2036-02-29 00:00"]),
    ("0 0 29 2 1", ["2025-02-03 00:00", "2025-02-10 00:00", "2025-02-17 00:00"]),
    ("@monthly", ["2025-02-01 00:00", "2025-03-01 00:00", "2025-04-01 00:00"]),
]


@pytest.mark.parametrize(("expr", "expected"), NEXT, ids=[r[0] for r in NEXT])
@pytest.mark.parametrize("dialect", ["cronie", "debian"])
def test_regression_next_runs(expr: str, expected: list[str], dialect: str) -> None:
    assert _next(expr, dialect=dialect) == expected


def test_fri_sun_runs_on_cronie_head_and_busybox() -> None:
    assert _next("0 0 * * fri-sun", dialect="cronie-head") == [
        "2025-01-03 00:00",
        "2025-01-04 00:00",
        "2025-01-05 00:00",
    ]
    assert _next("0 0 * * fri-sun", dialect="busybox") == [
        "2025-01-03 00:00",
        "2025-01-04 00:00",
        "2025-01-05 00:00",
    ]


@pytest.mark.parametrize(
    ("expr", "dialect"),
    [
        ("@MONTHLY", "cronie"),
        ("@MONTHLY", "debian"),
        ("5/15 * * * *", "cronie"),
        ("5/15 * * * *", "debian"),
        ("0 0 * * 1/2", "cronie"),
        ("0 0 * * 1/2", "debian"),
    ],
)
def test_regression_rejections(expr: str, dialect: str) -> None:
    with pytest.raises(CronSyntaxError):
        parse(expr, dialect)


def test_busybox_reads_n_step_as_n() -> None:
    assert _next("5/15 * * * *", dialect="busybox") == [
        "2025-01-01 00:05",
        "2025-01-01 01:05",
        "2025-01-01 02:05",
    ]


NY, LON = "America/New_York", "Europe/London"
DAYS = {NY: ("2025-03-09", "2025-11-02"), LON: ("2025-03-30", "2025-10-26")}

# (job, zone, day, daemon-local runs, CRON_TZ wall-clock runs) on that UTC day; an int is a count
DST = [
    ("30 2 * * *", NY, 0, ["07:00"], []),
    ("30 2 * * *", NY, 1, ["07:30"], ["07:30"]),
    ("30 1 * * *", NY, 0, ["06:30"], ["06:30"]),
    ("30 1 * * *", NY, 1, ["05:30"], ["05:30", "06:30"]),
    ("*/15 * * * *", NY, 0, 96, 96),
    ("*/15 * * * *", NY, 1, 96, 96),
    ("0 * * * *", NY, 0, 24, 24),
    ("0 * * * *", NY, 1, 24, 24),
    ("0,30 2 * * *", NY, 0, ["07:00", "07:00"], []),
    ("0,30 2 * * *", NY, 1, ["07:00", "07:30"], ["07:00", "07:30"]),
    ("0 1-3 * * *", NY, 0, ["06:00", "07:00", "07:00"], ["06:00", "07:00"]),
    ("0 1-3 * * *", NY, 1, ["05:00", "07:00", "08:00"], ["05:00", "06:00", "07:00", "08:00"]),
    ("30 2 * * *", LON, 0, ["01:30"], ["01:30"]),
    ("30 2 * * *", LON, 1, ["02:30"], ["02:30"]),
    ("30 1 * * *", LON, 0, ["01:00"], []),
    ("30 1 * * *", LON, 1, ["00:30"], ["00:30", "01:30"]),
    ("*/15 * * * *", LON, 0, 96, 96),
    ("*/15 * * * *", LON, 1, 96, 96),
    ("0 * * * *", LON, 0, 24, 24),
    ("0 * * * *", LON, 1, 24, 24),
    ("0,30 2 * * *", LON, 0, ["01:00", "01:30"], ["01:00", "01:30"]),
    ("0,30 2 * * *", LON, 1, ["02:00", "02:30"], ["02:00", "02:30"]),
    ("0 1-3 * * *", LON, 0, ["01:00", "01:00", "02:00"], ["01:00", "02:00"]),
    ("0 1-3 * * *", LON, 1, ["00:00", "02:00", "03:00"], ["00:00", "01:00", "02:00", "03:00"]),
]


@pytest.mark.parametrize(
    ("expr", "zone", "which", "daemon", "wall"),
    DST,
    ids=[f"{r[1]}:{DAYS[r[1]][r[2]]}:{r[0]}" for r in DST],
)
def test_regression_dst_days(expr: str, zone: str, which: int, daemon, wall) -> None:
    start = datetime.fromisoformat(DAYS[zone][which]).replace(tzinfo=UTC)
    end = start + timedelta(days=1)
    for kw, expected in (
        ({"dialect": "debian"}, daemon),
        ({"dialect": "cronie"}, daemon),
        ({"dialect": "cronie", "semantics": "wallclock", "daemon_timezone": "UTC"}, wall),
    ):
        got = [f.strftime("%H:%M") for f in Schedule(expr, timezone=zone, **kw).fires(start, end)]
        if isinstance(expected, int):
            assert len(got) == expected
        else:
            assert got == expected
