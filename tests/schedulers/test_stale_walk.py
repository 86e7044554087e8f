"""walk_stale: the pure part of handling downtime (instants older than the grace window)."""

from __future__ import annotations

from datetime import datetime

import pytest
from owlclaw_runtime.schedule import Schedule
from owlclaw_runtime.schedulers import entries
from owlclaw_runtime.schedulers.entries import walk_stale
from sched_helpers import utc

EVERY_MINUTE = Schedule("* * * * *", timezone="UTC")


def hhmm(values: tuple[datetime, ...]) -> list[str]:
    return [v.strftime("%H:%M") for v in values]


def test_it_misses_every_instant_of_the_downtime_without_catch_up() -> None:
    walk = walk_stale(EVERY_MINUTE, utc("2026-05-01T10:00"), utc("2026-05-01T10:05"), 0)
    assert walk.keep == ()
    assert walk.count == 5
    assert walk.missed == 5
    assert walk.last_missed == utc("2026-05-01T10:04")
    assert walk.next_at == utc("2026-05-01T10:05")
    assert not walk.count_is_lower_bound


def test_it_keeps_the_newest_instants_to_catch_up_oldest_first() -> None:
    walk = walk_stale(EVERY_MINUTE, utc("2026-05-01T10:00"), utc("2026-05-01T10:05"), 2)
    assert hhmm(walk.keep) == ["10:03", "10:04"]
    assert walk.missed == 3
    assert walk.last_missed == utc("2026-05-01T10:02")
    assert walk.next_at == utc("2026-05-01T10:05")


def test_nothing_is_missed_when_the_limit_keeps_them_all() -> None:
    walk = walk_stale(EVERY_MINUTE, utc("2026-05-01T10:00"), utc("2026-05-01T10:03"), 10)
    assert hhmm(walk.keep) == ["10:00", "10:01", "10:02"]
    assert walk.missed == 0
    assert walk.last_missed is None


def test_a_long_downtime_stops_counting_and_jumps_to_the_grace_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(entries, "_MISSED_COUNT_LIMIT", 3)
    walk = walk_stale(EVERY_MINUTE, utc("2026-05-01T10:00"), utc("2026-05-01T12:00:30"), 0)
    assert walk.count == 3
    assert walk.count_is_lower_bound
    assert walk.last_missed == utc("2026-05-01T10:02")
    assert walk.next_at == utc("2026-05-01T12:01")
