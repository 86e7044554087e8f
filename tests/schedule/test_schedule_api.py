"""Schedule API: next/prev fire, argument checks, never-firing and reboot jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from owlclaw_runtime.errors import ConfigurationError
from owlclaw_runtime.schedule import Schedule, UnsupportedScheduleError, parse

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_next_fire_is_strictly_after() -> None:
    s = Schedule("30 2 * * *", timezone="UTC")
    assert s.next_fire(T0) == datetime(2025, 1, 1, 2, 30, tzinfo=UTC)
    assert s.next_fire(datetime(2025, 1, 1, 2, 30, tzinfo=UTC)) == datetime(
        2025, 1, 2, 2, 30, tzinfo=UTC
    )
    assert s.next_fire(datetime(2025, 1, 1, 2, 29, 59, tzinfo=UTC)) == datetime(
        2025, 1, 1, 2, 30, tzinfo=UTC
    )


def test_prev_fire_is_strictly_before() -> None:
    s = Schedule("30 2 * * *", timezone="UTC")
    assert s.prev_fire(datetime(2025, 1, 1, 2, 30, tzinfo=UTC)) == datetime(
        2024, 12, 31, 2, 30, tzinfo=UTC
    )
    assert s.prev_fire(datetime(2025, 1, 1, 2, 30, 1, tzinfo=UTC)) == datetime(
        2025, 1, 1, 2, 30, tzinfo=UTC
    )


def test_rare_expressions_are_found_years_away() -> None:
    # Feb 29 that is a Monday (dom star-led -> AND): 2044-02-29 is a Monday
    s = Schedule("0 0 */29 2 1", timezone="UTC")
    got = s.next_fire(T0)
    assert got is not None and got.weekday() == 0 and (got.month, got.day) in {(2, 1), (2, 29)}
    leap = Schedule("0 0 29 2 *", timezone="Europe/London")
    assert leap.next_fire(T0) == datetime(2028, 2, 29, 0, 0, tzinfo=UTC)
    assert leap.prev_fire(T0) == datetime(2024, 2, 29, 0, 0, tzinfo=UTC)


def test_never_and_reboot_jobs_fire_nothing() -> None:
    for expr in ["0 0 31 2 *", "0 5-3 * * *", "@reboot"]:
        s = Schedule(expr, dialect="cronie", timezone="America/New_York")
        assert s.next_fire(T0) is None
        assert s.prev_fire(T0) is None
        assert s.fires(T0, T0 + timedelta(days=800)) == []
        assert s.runs_due_at(T0) == 0


def test_next_fire_in_the_repeated_hour_never_goes_backwards() -> None:
    # cronsim returns 05:30Z here (before the start); cron runs 30 1 only in the first pass.
    s = Schedule("30 1 * * *", timezone="America/New_York")
    start = datetime(2025, 11, 2, 6, 10, tzinfo=UTC)
    assert s.next_fire(start) == datetime(2025, 11, 3, 6, 30, tzinfo=UTC)


def test_next_fire_agrees_with_fires() -> None:
    s = Schedule("0,30 2 * * *", timezone="America/New_York")
    fires = s.fires(datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 20, tzinfo=UTC))
    t = datetime(2025, 3, 1, tzinfo=UTC) - timedelta(seconds=1)
    walked = []
    while True:
        t2 = s.next_fire(t)
        if t2 is None or t2 >= datetime(2025, 3, 20, tzinfo=UTC):
            break
        walked.append(t2)
        t = t2
    assert walked == sorted(set(fires))


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        Schedule("* * * * *").fires(datetime(2025, 1, 1), datetime(2025, 1, 2))
    with pytest.raises(ConfigurationError):
        Schedule("* * * * *", semantics="posix")
    with pytest.raises(ConfigurationError):
        Schedule("* * * * *", dialect="busybox", semantics="daemon")
    with pytest.raises(ConfigurationError):
        Schedule("* * * * *", timezone="UTC", daemon_timezone="Europe/Paris")
    with pytest.raises(UnsupportedScheduleError):
        Schedule("~ 3 * * *", dialect="cronie")
    assert Schedule("* * * * *", dialect="busybox").semantics == "wallclock"


def test_schedule_accepts_a_parsed_spec() -> None:
    spec = parse("0 6 * * 7", "busybox")
    s = Schedule(spec, timezone="UTC")
    assert s.dialect == "busybox"
    assert len(s.fires(T0, T0 + timedelta(days=7))) == 7  # busybox "7" runs every day


def test_unknown_zone_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        Schedule("* * * * *", timezone="Mars/Olympus_Mons")
    assert info.value.field == "timezone" and info.value.token == "Mars/Olympus_Mons"


def test_unknown_zone_is_also_caught_as_a_syntax_error_by_older_callers() -> None:
    from owlclaw_runtime.schedule import CronSyntaxError, UnknownZoneError, zone

    with pytest.raises(CronSyntaxError):
        zone("No/Such_Zone")
    assert issubclass(UnknownZoneError, ConfigurationError)
