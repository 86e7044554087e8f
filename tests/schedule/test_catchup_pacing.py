"""Catch-up pacing after a forward jump (cronie/Debian ``main()``, ``src/cron.c``).

In the "DST begins" branch cron runs each skipped minute's fixed-time jobs in a loop:
``if (job_runqueue()) sleep(10); virtualTime++; find_jobs(...); set_time(FALSE);`` and leaves
the loop as soon as the wall minute changes; the next wake-up (immediately: its target minute
has passed) carries on from ``virtualTime``. Six busy minutes fit in a real minute, so the
seventh catch-up run starts in the next one.

America/New_York 2025-03-09: 02:00 EST -> 03:00 EDT at 07:00:00Z.
Europe/London 2025-03-30: 01:00 GMT -> 02:00 BST at 01:00:00Z.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
from owlclaw_runtime.schedule import Schedule
from owlclaw_runtime.schedule.superset import check_superset

from owlmigrate.verify import TimeModel, reference_minutes

NY = "America/New_York"
DAY = (datetime(2025, 3, 9, 4, tzinfo=UTC), datetime(2025, 3, 9, 12, tzinfo=UTC))


def _per_minute(expr: str, zone: str, dialect: str = "debian", window=DAY) -> dict[str, int]:
    fires = Schedule(expr, dialect=dialect, timezone=zone).fires(*window)
    return dict(sorted(Counter(f.strftime("%H:%M") for f in fires).items()))


@pytest.mark.parametrize("dialect", ["debian", "cronie"])
def test_twelve_catch_ups_run_six_per_real_minute(dialect: str) -> None:
    assert _per_minute("0-55/5 2 * * *", NY, dialect) == {"07:00": 6, "07:01": 6}


def test_the_gate_runs_each_real_minute_its_share() -> None:
    s = Schedule("0-55/5 2 * * *", timezone=NY)
    assert s.runs_due_at(datetime(2025, 3, 9, 7, 0, 30, tzinfo=UTC)) == 6
    assert s.runs_due_at(datetime(2025, 3, 9, 7, 1, tzinfo=UTC)) == 6
    assert s.runs_due_at(datetime(2025, 3, 9, 7, 2, tzinfo=UTC)) == 0


def test_london_spring_forward_paces_too() -> None:
    window = (datetime(2025, 3, 30, 0, tzinfo=UTC), datetime(2025, 3, 30, 3, tzinfo=UTC))
    assert _per_minute("0-59/5 1 * * *", "Europe/London", window=window) == {
        "01:00": 6,
        "01:01": 6,
    }


def test_up_to_six_catch_ups_stay_in_the_jump_minute() -> None:
    assert _per_minute("0-25/5 2 * * *", NY) == {"07:00": 6}
    assert _per_minute("0,30 2 * * *", NY) == {"07:00": 2}


def test_the_catch_up_delays_the_jobs_own_later_minutes() -> None:
    # 60 skipped minutes, every one busy: the loop needs 12 real minutes to catch up, and the
    # job's own 03:00-03:11 runs wait their turn behind it; nothing is lost or doubled.
    got = _per_minute("0-59 2,3 * * *", NY)
    assert got["07:00"] == 6 and got["07:01"] == 7
    assert sum(got.values()) == 120
    assert got["07:13"] == 1 and all(got[f"07:{m:02d}"] == 1 for m in range(13, 60))
    # a run after the loop has caught up is at its own minute again
    assert "07:59" in got and "08:00" not in got


def test_an_hourly_fixed_job_after_the_jump_runs_late_behind_the_catch_up() -> None:
    # 02:00..02:55 run at 07:00 (6) and 07:01 (6); 03:00 is found at 07:02 (virtualTime 02:56
    # when the loop left, 6 minutes behind: "DST begins" again).
    got = _per_minute("0-55/5 2,3 * * *", NY)
    assert got["07:00"] == 6 and got["07:01"] == 6 and got["07:02"] == 1
    assert "07:05" in got


# (zone, first year, last year): DST both ways, 30-minute DST, a 24-hour jump (Apia 2011),
# negative DST (Dublin), offset changes without DST (Caracas 2016) and at an odd second
# (Monrovia 1972, -0:44:30 -> 0:00).
ZONE_YEARS = [
    (NY, 2011, 2012),
    ("Europe/London", 2011, 2012),
    ("Australia/Lord_Howe", 2011, 2012),
    ("Pacific/Apia", 2011, 2012),
    ("Europe/Dublin", 2011, 2012),
    ("America/Caracas", 2016, 2016),
    ("Africa/Monrovia", 1972, 1972),
]


@pytest.mark.parametrize(
    "expr",
    [
        "0-55/5 2 * * *",
        "0-59 2,3 * * *",
        "0-59/2 0-3 * * *",
        "0,1,2,3,4,5,6 2 * * *",
        "0-6 0-23 * * *",
        "0,1,2,3,4 0-23 * * *",  # Monrovia 1972: the catch-up is in the minute after the change
        "30 2 * * *",
        "*/7 * * * *",
    ],
)
@pytest.mark.parametrize(("zone", "first", "last"), ZONE_YEARS, ids=[z[0] for z in ZONE_YEARS])
def test_model_equals_the_independent_reference_loop(
    expr: str, zone: str, first: int, last: int
) -> None:
    s = Schedule(expr, timezone=zone)
    start = int(datetime(first, 1, 1, tzinfo=UTC).timestamp())
    end = int(datetime(last + 1, 1, 1, tzinfo=UTC).timestamp())
    model = TimeModel(expr, "debian", zone, "daemon", zone)
    changes = s.zone.transitions(start, end)
    assert changes
    for tr in changes:
        a, b = tr.at // 60 - 5, tr.at // 60 + 300
        assert Counter(reference_minutes(s.spec, model, a, b)) == Counter(s.iter_minutes(a, b))


@pytest.mark.parametrize("expr", ["0-55/5 2 * * *", "0-59 2,3 * * *"])
def test_superset_covers_the_paced_runs_and_the_gate_reproduces_them(expr: str) -> None:
    s = Schedule(expr, timezone=NY)
    check = check_superset(s, *DAY)
    assert check.ok  # covered, gate_exact (multiset), no tick fired twice
    assert check.fires == len(set(s.fires(*DAY)))  # distinct instants


def test_next_fire_walks_the_paced_runs() -> None:
    s = Schedule("0-55/5 2 * * *", timezone=NY)
    t = DAY[0]
    seen = []
    while (t := s.next_fire(t)) is not None and t < DAY[1]:
        seen.append(t.strftime("%H:%M"))
    assert seen == ["07:00", "07:01"]
    assert s.prev_fire(DAY[1]).strftime("%H:%M") == "07:01"
