"""Matching a wall-clock minute against a :class:`CronSpec` (cronie ``find_jobs``).

Minutes are counted as integers: a *wall minute* is minutes since 1970-01-01 00:00 on the local
wall clock, a *UTC minute* the same on UTC. Day matches are precomputed per (year, month) so
the fire generators skip whole days and hours that cannot match.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left
from collections.abc import Iterator
from datetime import date, datetime

from owlclaw_runtime.schedule.spec import CronSpec

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
MIN_PER_DAY = 1440


def cron_weekday(ordinal: int) -> int:
    """Cron's day of week (Sunday 0) of a proleptic Gregorian ordinal (day 1 was a Monday)."""
    return ordinal % 7


def day_matches(spec: CronSpec, year: int, month: int, day: int) -> bool:
    """cronie ``find_jobs``: month, then ``(DOM_STAR || DOW_STAR) ? dom && dow : dom || dow``."""
    if month not in spec.month:
        return False
    dom_ok = day in spec.dom
    dow_ok = cron_weekday(date(year, month, day).toordinal()) in spec.dow
    return (dom_ok and dow_ok) if spec.day_and else (dom_ok or dow_ok)


def matches(spec: CronSpec, wall: datetime) -> bool:
    """True when the wall-clock minute ``wall`` (naive, local) matches ``spec``."""
    return (
        wall.minute in spec.minute
        and wall.hour in spec.hour
        and day_matches(spec, wall.year, wall.month, wall.day)
    )


# Matching days per month, shared by every Matcher with the same day fields (most jobs run
# every day or on a few weekdays); bounded by the number of distinct day predicates in use.
_SHARED: dict[
    tuple[frozenset[int], frozenset[int], bool], dict[tuple[int, int], tuple[int, ...]]
] = {}


def _days_of(spec: CronSpec, year: int, month: int) -> tuple[int, ...]:
    first = date(year, month, 1).toordinal()
    ndays = calendar.monthrange(year, month)[1]
    dom, dow = spec.dom, spec.dow
    if spec.day_and:
        return tuple(d for d in range(1, ndays + 1) if d in dom and (first + d - 1) % 7 in dow)
    return tuple(d for d in range(1, ndays + 1) if d in dom or (first + d - 1) % 7 in dow)


class Matcher:
    """Fast repeated matching for one spec: cached matching days per month, sorted times of day."""

    __slots__ = ("_day_key", "_months", "spec", "times", "times_set")

    def __init__(self, spec: CronSpec) -> None:
        self.spec = spec
        #: sorted minutes-of-day (hour*60+minute) that match
        self.times: list[int] = sorted(h * 60 + m for h in spec.hour for m in spec.minute)
        self.times_set = frozenset(self.times)
        self._months: dict[tuple[int, int], tuple[int, ...]] = {}
        self._day_key = (spec.dom, spec.dow, spec.day_and)

    def month_days(self, year: int, month: int) -> tuple[int, ...]:
        """Day numbers (1-based) of (year, month) that match, cached."""
        key = (year, month)
        got = self._months.get(key)
        if got is None:
            spec = self.spec
            if month not in spec.month or not self.times:
                got = ()
            else:
                shared = _SHARED.setdefault(self._day_key, {})
                got = shared.get(key)
                if got is None:
                    got = shared[key] = _days_of(spec, year, month)
            self._months[key] = got
        return got

    def day_ok(self, day_index: int) -> bool:
        """Whether the local day ``day_index`` (days since 1970-01-01) matches."""
        d = date.fromordinal(day_index + EPOCH_ORDINAL)
        return d.day in self.month_days(d.year, d.month)

    def wall_ok(self, wall_minute: int) -> bool:
        """Whether the wall minute (minutes since the local epoch) matches."""
        day, tod = divmod(wall_minute, MIN_PER_DAY)
        return tod in self.times_set and self.day_ok(day)

    def iter_days(self, first_day: int, last_day: int) -> Iterator[int]:
        """Matching local day indexes in ``[first_day, last_day]``, ascending."""
        if first_day > last_day or not self.times:
            return
        d = date.fromordinal(first_day + EPOCH_ORDINAL)
        year, month = d.year, d.month
        start_day = d.day
        while True:
            month_first = date(year, month, 1).toordinal() - EPOCH_ORDINAL
            if month_first > last_day:
                return
            for dd in self.month_days(year, month):
                if dd < start_day:
                    continue
                idx = month_first + dd - 1
                if idx > last_day:
                    return
                yield idx
            start_day = 1
            month += 1
            if month == 13:
                month = 1
                year += 1
                if year > 9999:
                    return

    def iter_walls(self, lo: int, hi: int) -> Iterator[int]:
        """Matching wall minutes in ``[lo, hi)``, ascending."""
        if lo >= hi:
            return
        times = self.times
        first_day, last_day = lo // MIN_PER_DAY, (hi - 1) // MIN_PER_DAY
        for day in self.iter_days(first_day, last_day):
            base = day * MIN_PER_DAY
            start = bisect_left(times, lo - base) if day == first_day else 0
            for t in times[start:]:
                w = base + t
                if w >= hi:
                    return
                yield w

    def count_walls(self, lo: int, hi: int) -> int:
        """Number of matching wall minutes in ``[lo, hi)`` without listing them."""
        if lo >= hi or not self.times:
            return 0
        times = self.times
        first_day, last_day = lo // MIN_PER_DAY, (hi - 1) // MIN_PER_DAY
        total = 0
        per_day = len(times)
        for day in self.iter_days(first_day, last_day):
            base = day * MIN_PER_DAY
            if base >= lo and base + MIN_PER_DAY <= hi:
                total += per_day
            else:
                total += bisect_left(times, hi - base) - bisect_left(times, lo - base)
        return total

    def next_wall(self, lo: int, limit: int) -> int | None:
        """The first matching wall minute in ``[lo, limit)``, or None."""
        times = self.times
        if not times or lo >= limit:
            return None
        day, tod = divmod(lo, MIN_PER_DAY)
        if self.day_ok(day):
            i = bisect_left(times, tod)
            if i < len(times):
                w = day * MIN_PER_DAY + times[i]
                return w if w < limit else None
        for d in self.iter_days(day + 1, (limit - 1) // MIN_PER_DAY):
            w = d * MIN_PER_DAY + times[0]
            return w if w < limit else None
        return None
