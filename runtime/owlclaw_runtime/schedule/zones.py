"""UTC-offset changes of a zone, discovered once from zoneinfo and cached.

zoneinfo does not expose its transition table, so each year is probed every twelve hours and
every change is narrowed to the second by bisection (two changes less than twelve hours apart
that cancel out would be missed; tzdata has none since 1970). Results are cached per
(zone, year); a 10-year window costs ~7,500 ``utcoffset`` calls once per process.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from owlclaw_runtime.errors import ConfigurationError
from owlclaw_runtime.schedule.spec import CronSyntaxError

_PROBE = 12 * 3600
_MIN_YEAR, _MAX_YEAR = 1900, 2200


class UnknownZoneError(ConfigurationError, CronSyntaxError):
    """No IANA zone of that name; a configuration error (and, for older callers that catch
    :class:`CronSyntaxError` around schedule set-up, one of those too)."""


@dataclass(frozen=True)
class Transition:
    """An offset change: at UTC second ``at`` the offset goes from ``before`` to ``after``."""

    at: int
    before: int
    after: int

    @property
    def delta_minutes(self) -> int:
        """Wall-clock jump in minutes (positive: spring forward, negative: fall back)."""
        return (self.after - self.before) // 60


@lru_cache(maxsize=1024)
def _year_start(year: int) -> int:
    return int(datetime(year, 1, 1, tzinfo=UTC).timestamp())


def _year_of(second: int) -> int:
    return datetime.fromtimestamp(second, tz=UTC).year


class ZoneTransitions:
    """Offsets and transitions of one IANA zone; thread-safe lazy per-year cache."""

    def __init__(self, name: str) -> None:
        try:
            self.tz = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise UnknownZoneError(
                f"unknown time zone {name!r}", field="timezone", token=name
            ) from exc
        self.name = name
        self._lock = threading.Lock()
        self._years: dict[int, tuple[Transition, ...]] = {}
        self._fixed: bool | None = None
        self._marks: tuple[list[int], list[int]] = ([], [])
        self._index: tuple[int, int, list[Transition], list[int]] = (0, 0, [], [])

    def offset_at(self, second: int) -> int:
        """UTC offset in seconds at UTC ``second``."""
        off = datetime.fromtimestamp(second, tz=self.tz).utcoffset()
        return int(off.total_seconds()) if off is not None else 0

    def _year(self, year: int) -> tuple[Transition, ...]:
        year = min(max(year, _MIN_YEAR), _MAX_YEAR)
        got = self._years.get(year)
        if got is not None:
            return got
        start, end = _year_start(year), _year_start(year + 1)
        found: list[Transition] = []
        prev_t, prev_off = start, self.offset_at(start)
        t = start
        while t < end:
            t = min(t + _PROBE, end)
            off = self.offset_at(t)
            if off != prev_off:
                lo, hi = prev_t, t  # offset(lo) == prev_off, offset(hi) != prev_off
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if self.offset_at(mid) == prev_off:
                        lo = mid
                    else:
                        hi = mid
                found.append(Transition(hi, prev_off, self.offset_at(hi)))
            prev_t, prev_off = t, off
        # a change exactly at the year boundary belongs to the year it happens in
        result = tuple(tr for tr in found if start <= tr.at < end)
        with self._lock:
            self._years[year] = result
        return result

    def transitions(self, start: int, end: int) -> list[Transition]:
        """Transitions with ``start <= at < end`` (UTC seconds), ascending."""
        if self.is_fixed or start >= end:
            return []
        # one tuple, swapped atomically, so concurrent readers never mix two versions
        lo_s, hi_s, trs, ats = self._index
        # changes are discovered for 1900-2200 only (zoneinfo's rules beyond are not probed)
        start_c = max(start, _year_start(_MIN_YEAR))
        end_c = min(end, _year_start(_MAX_YEAR + 1))
        if start_c < end_c and not (lo_s <= start_c and end_c <= hi_s):
            if hi_s <= lo_s:
                lo_s, hi_s = start, end
            y0 = _year_of(max(min(start, lo_s), _year_start(_MIN_YEAR)))
            y1 = _year_of(min(max(end, hi_s) - 1, _year_start(_MAX_YEAR + 1) - 1))
            trs = [tr for year in range(y0, y1 + 1) for tr in self._year(year)]
            ats = [tr.at for tr in trs]
            self._index = (_year_start(y0), _year_start(y1 + 1), trs, ats)
        return trs[bisect_left(ats, start) : bisect_left(ats, end)]

    @property
    def is_fixed(self) -> bool:
        """True for zones with one offset forever (UTC, Etc/GMT+5)."""
        if self._fixed is None:
            key = str(self.tz.key) if getattr(self.tz, "key", None) else self.name
            self._fixed = key in {"UTC", "Etc/UTC", "Etc/GMT", "GMT", "Zulu", "Etc/Zulu"} or (
                key.startswith("Etc/GMT")
            )
        return self._fixed

    def context(self, second: int) -> tuple[int, int, int]:
        """``(offset, lo, hi)``: the constant-offset interval ``[lo, hi)`` (UTC seconds) around
        ``second``; bounds are conservative (the loaded years) where no change is known."""
        if self.is_fixed:
            return self.offset_at(second), -(2**62), 2**62
        ats, offs = self._marks
        if not ats or not (ats[0] <= second < ats[-1]):
            year = datetime.fromtimestamp(
                min(max(second, _year_start(_MIN_YEAR)), _year_start(_MAX_YEAR) - 1), tz=UTC
            ).year
            first, last = max(_MIN_YEAR, year - 1), min(_MAX_YEAR, year + 2)
            marks = [_year_start(first)]
            marks += [t.at for y in range(first, last + 1) for t in self._year(y)]
            marks.append(_year_start(last + 1))
            ats, offs = marks, [self.offset_at(m) for m in marks]
            self._marks = (ats, offs)
        i = bisect_right(ats, second)
        if i == 0 or i >= len(ats):
            return self.offset_at(second), second, second + 1
        return offs[i - 1], ats[i - 1], ats[i]

    def segments(self, start: int, end: int) -> list[tuple[int, int, int]]:
        """Constant-offset pieces ``(seg_start, seg_end, offset)`` covering ``[start, end)``."""
        pieces = []
        cur = start
        off = self.offset_at(start)
        for tr in self.transitions(start + 1, end):
            pieces.append((cur, tr.at, off))
            cur, off = tr.at, tr.after
        pieces.append((cur, end, off))
        return pieces


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneTransitions:
    """The shared, cached :class:`ZoneTransitions` for ``name``."""
    return ZoneTransitions(name)
