"""Fire instants of a cron job in a time zone, under the daemon's DST semantics.

Two semantics (cron-semantics.md section 3):

* ``daemon``: cronie/Debian jobs evaluated in the daemon's own zone. A transcription of the
  ``main()`` loop of cronie ``src/cron.c`` (Debian's is the same after its
  ``Better-timeskip-handling`` patch): ``timeDiff = timeRunning - virtualTime`` in wall minutes;
  1 runs this minute, 2..5 ("small") runs every job for each missed minute, 6..180 ("medium",
  DST begins) runs wildcard jobs now and each skipped minute's fixed-time jobs, -180..0
  ("negative", DST ends) runs only wildcard jobs, anything larger is a clock correction.
* ``wallclock``: cronie ``CRON_TZ`` jobs and busybox: every real minute whose wall time matches.
  For cronie, fixed-time ``CRON_TZ`` jobs due while the *daemon's* zone repeats an hour are lost
  (``find_jobs`` is called with ``doNonWild=FALSE`` in the negative branch).

Fast path: away from offset changes both semantics equal plain matching, so days and hours that
cannot match are skipped; only windows around an offset change are simulated minute by minute
(and cached).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from owlclaw_runtime.errors import ConfigurationError
from owlclaw_runtime.schedule.match import Matcher
from owlclaw_runtime.schedule.parse import parse
from owlclaw_runtime.schedule.spec import CronSpec, UnsupportedScheduleError, canonical_dialect
from owlclaw_runtime.schedule.zones import Transition, ZoneTransitions, zone

SEMANTICS: tuple[str, ...] = ("daemon", "wallclock")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY = 1440
_CHUNK = 366 * _DAY  # next/prev walk a year at a time
_HORIZON_YEARS = 401  # the Gregorian calendar repeats every 400 years
_LARGE = 180  # cron.c: timeDiff beyond +-3*MINUTE_COUNT is a clock correction


def _utc_minutes(value: datetime) -> float:
    """Minutes since the epoch of an aware ``value`` (fractional)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"datetime {value.isoformat()} must be timezone-aware")
    return (value - EPOCH).total_seconds() / 60


def _utc_minute_floor(value: datetime) -> int:
    return math.floor(_utc_minutes(value))


def _utc_minute_ceil(value: datetime) -> int:
    return math.ceil(_utc_minutes(value))


def minute_to_datetime(u: int) -> datetime:
    """The UTC-aware datetime of UTC minute ``u`` (minutes since the epoch)."""
    return EPOCH + timedelta(minutes=u)


class Schedule:
    """One cron job's exact fire instants in UTC, with multiplicity.

    ``semantics`` defaults to ``wallclock`` for busybox (it matches every real minute) and to
    ``daemon`` otherwise. ``daemon_timezone`` only matters for cronie ``CRON_TZ`` jobs
    (``wallclock`` on a cronie dialect); ``None`` means the daemon runs in ``timezone``.
    """

    def __init__(
        self,
        expression: str | CronSpec,
        dialect: str = "debian",
        timezone: str = "UTC",
        semantics: str | None = None,
        daemon_timezone: str | None = None,
    ) -> None:
        if isinstance(expression, CronSpec):
            self.spec = expression
            dialect = expression.dialect
        else:
            self.spec = parse(expression, dialect)
        self.dialect = canonical_dialect(dialect)
        if semantics is None:
            semantics = "wallclock" if self.dialect == "busybox" else "daemon"
        if semantics not in SEMANTICS:
            raise ConfigurationError(
                f"unknown DST semantics {semantics!r}; expected daemon or wallclock",
                token=semantics,
            )
        if self.dialect == "busybox" and semantics == "daemon":
            raise ConfigurationError(
                "busybox crond matches every real minute (no daemon-local DST handling); "
                "use semantics='wallclock'",
                token=semantics,
            )
        if self.spec.randomized:
            raise UnsupportedScheduleError(
                f"{self.spec.expression!r} uses cronie '~': crond draws the value at random "
                "on every load, so there are no fixed instants",
                token=self.spec.expression,
            )
        self.semantics = semantics
        self.timezone = timezone
        self.zone: ZoneTransitions = zone(timezone)
        if daemon_timezone is not None and semantics == "daemon" and daemon_timezone != timezone:
            raise ConfigurationError(
                "daemon semantics evaluate the job in the daemon's own zone; "
                f"daemon_timezone {daemon_timezone!r} differs from timezone {timezone!r}",
                token=daemon_timezone,
            )
        self.daemon_timezone = daemon_timezone or timezone
        # cronie find_jobs: CRON_TZ jobs with a fixed time are not run in the negative branch.
        self._daemon_zone: ZoneTransitions | None = (
            zone(self.daemon_timezone)
            if semantics == "wallclock"
            and self.dialect.startswith("cronie")
            and not self.spec.is_wildcard
            else None
        )
        self.matcher = Matcher(self.spec)
        self._sim_cache: dict[tuple[int, int], tuple[int, ...]] = {}
        self._never = self.spec.never_fires
        self._ctx: tuple[int, int, int] = (0, 0, 0)  # (offset, lo, hi) UTC minutes, last used

    # ------------------------------------------------------------------ public API

    def fires(self, start: datetime, end: datetime) -> list[datetime]:
        """Instants in ``[start, end)``, UTC-aware, sorted, repeated when cron runs k times."""
        return [minute_to_datetime(u) for u in self.fire_minutes(start, end)]

    def fire_minutes(self, start: datetime, end: datetime) -> list[int]:
        """Like :meth:`fires` but as UTC minutes since the epoch (cheap to compare)."""
        u0, u1 = _utc_minute_ceil(start), _utc_minute_ceil(end)
        if self._never or u0 >= u1:
            return []
        return list(self.iter_minutes(u0, u1))

    def next_fire(self, after: datetime) -> datetime | None:
        """The first instant strictly after ``after``, or None when the job never fires."""
        if self._never:
            return None
        u = _utc_minute_floor(after) + 1
        fast = self._next_fast(u)
        if fast is not None:
            return minute_to_datetime(fast)
        first = u
        limit = u + _HORIZON_YEARS * 366 * _DAY
        while u < limit:
            hi = min(u + (_DAY if u == first else _CHUNK), limit)
            for found in self.iter_minutes(u, hi):
                return minute_to_datetime(found)
            u = hi
        return None

    def _next_fast(self, u: int) -> int | None:
        """next_fire inside one constant-offset stretch, clear of the daemon's DST windows."""
        if self._daemon_zone is not None:
            return None
        ctx = self._ctx
        if not (ctx[1] <= u < ctx[2]):
            off, lo, hi = self.zone.context(u * 60)
            ctx = self._ctx = (off, -(-lo // 60), hi // 60)
        off, lo_min, hi_min = ctx
        if self.semantics == "daemon":
            # steady once any repeated interval after the last change is over (<= 181 min)
            if u < lo_min + _LARGE + 2:
                return None
            hi_min -= 2
        elif u < lo_min:
            return None
        shift = off // 60
        wall = self.matcher.next_wall(u + shift, hi_min + shift)
        return None if wall is None else wall - shift

    def prev_fire(self, before: datetime) -> datetime | None:
        """The last instant strictly before ``before``, or None when there is none."""
        if self._never:
            return None
        hi = _utc_minute_ceil(before)
        limit = hi - _HORIZON_YEARS * 366 * _DAY
        span = _DAY
        while hi > limit:
            lo = max(hi - span, limit)
            got = list(self.iter_minutes(lo, hi))
            if got:
                return minute_to_datetime(got[-1])
            hi = lo
            span = _CHUNK
        return None

    def runs_due_at(self, instant: datetime) -> int:
        """The gate: how many runs cron starts in the UTC minute containing ``instant``."""
        if self._never:
            return 0
        return self.runs_due_at_minute(_utc_minute_floor(instant))

    def runs_due_at_minute(self, u: int) -> int:
        """:meth:`runs_due_at` for a UTC minute number (minutes since the epoch)."""
        if self._never:
            return 0
        if self.semantics == "daemon":
            for a, b in self._windows(u, u + 1):
                return self._simulate(a, b).count(u)
        shift = self.zone.offset_at(u * 60) // 60
        if not self.matcher.wall_ok(u + shift):
            return 0
        if self._daemon_zone is not None and any(
            a <= u < b for a, b in self._negative_ranges(u, u + 1)
        ):
            return 0
        return 1

    def count_minutes(self, u0: int, u1: int) -> int:
        """``len(list(iter_minutes(u0, u1)))`` without listing plain-matching stretches."""
        if self._never or u0 >= u1:
            return 0
        if self.semantics != "daemon" and self._daemon_zone is not None:
            return sum(1 for _ in self.iter_minutes(u0, u1))
        total = 0
        cur = u0
        windows = self._windows(u0, u1) if self.semantics == "daemon" else []
        for a, b in windows:
            if a > cur:
                total += self._count_pure(cur, a)
            total += sum(1 for u in self._simulate(a, b) if max(cur, u0) <= u < u1)
            cur = max(cur, b)
        if cur < u1:
            total += self._count_pure(cur, u1)
        return total

    def _count_pure(self, u0: int, u1: int) -> int:
        count = self.matcher.count_walls
        return sum(count(a + shift, b + shift) for a, b, shift in self._stretches(u0, u1))

    def utc_superset(self) -> list[str]:
        """Plain UTC 5-field expressions whose ticks include every exact instant."""
        from owlclaw_runtime.schedule.superset import utc_superset

        return utc_superset(self)

    def transition_windows(self, start: datetime, end: datetime) -> list[tuple[int, int]]:
        """UTC-minute windows around offset changes where the daemon loop is simulated."""
        return self._windows(_utc_minute_ceil(start), _utc_minute_ceil(end))

    # ------------------------------------------------------------------ internals

    def iter_minutes(self, u0: int, u1: int) -> Iterator[int]:
        """UTC minutes of runs in ``[u0, u1)``, ascending, with multiplicity."""
        if self._never:
            return
        cur = u0
        while cur < u1:
            hi = min(cur + _CHUNK, u1)
            if self.semantics == "daemon":
                yield from self._daemon_chunk(cur, hi)
            elif self._daemon_zone is not None:
                lost = self._negative_ranges(cur, hi)
                if lost:
                    for u in self._pure(cur, hi):
                        if not any(a <= u < b for a, b in lost):
                            yield u
                else:
                    yield from self._pure(cur, hi)
            else:
                yield from self._pure(cur, hi)
            cur = hi

    def _pure(self, u0: int, u1: int) -> Iterator[int]:
        """Every UTC minute in ``[u0, u1)`` whose wall time in the job's zone matches."""
        walls = self.matcher.iter_walls
        for a, b, shift in self._stretches(u0, u1):
            for w in walls(a + shift, b + shift):
                yield w - shift

    def _stretches(self, u0: int, u1: int) -> Iterator[tuple[int, int, int]]:
        """Non-empty constant-offset UTC-minute ranges ``[a, b)`` of ``[u0, u1)``, with the
        offset in minutes (wall minute = UTC minute + shift)."""
        for s, e, off in self.zone.segments(u0 * 60, u1 * 60):
            a, b = -(-s // 60), -(-e // 60)
            if a < b:
                yield a, b, off // 60

    def simulation_window(self, tr: Transition) -> tuple[int, int] | None:
        """UTC minutes ``[a, b)`` around one offset change where the daemon loop differs from
        plain matching (None when it cannot differ for this job).

        The loop is steady (timeDiff == 1) one minute before the change and again once a
        repeated interval has passed and the catch-up after a forward jump is over. The
        catch-up runs at most six busy minutes per real minute (``sleep(10)`` after each), so
        it ends within ``jump / 5`` real minutes even when every skipped minute is busy, and
        within ``n / 6`` for a job with n run times a day; with at most five busy skipped
        minutes it ends in the jump minute itself.
        """
        # the first UTC minute that starts under the new offset (a pre-1972 change at an odd
        # second, Africa/Monrovia 1972, takes effect at the next minute)
        t = -(-tr.at // 60)
        delta = (tr.after // 60) - (tr.before // 60)
        diff = 1 + delta
        # Wildcard jobs differ from plain matching only on small forward jumps (2..5), where
        # cron.c runs *every* job for each missed minute.
        if self.spec.is_wildcard and not (2 <= diff <= 5):
            return None
        spill = 0
        if delta > 0:
            # up to five catch-ups (and the run after them) start within the jump minute
            w0 = (tr.at + tr.before) // 60
            if (
                self._skipped_times(w0, delta) >= 6
                and self.matcher.count_walls(w0, w0 + delta) >= 6
            ):
                # a job with n run times a day has at most n busy steps, n / 6 real minutes
                spill = min(delta // 5, len(self.matcher.times) // 6) + 2
        return t - 1, t + max(0, -delta) + 1 + spill

    def _skipped_times(self, w0: int, delta: int) -> int:
        """Times of day of the job in the wall minutes ``[w0, w0 + delta)`` (days not looked
        at: an upper bound on the catch-up runs, by bisection on the sorted times)."""
        times = self.matcher.times
        if len(times) < 6:
            return len(times)
        lo = w0 % _DAY
        hi = lo + delta
        n = bisect_left(times, min(hi, _DAY)) - bisect_left(times, lo)
        if hi > _DAY:
            n += bisect_left(times, hi - _DAY)
        return n

    def _windows(self, u0: int, u1: int) -> list[tuple[int, int]]:
        """Merged simulation windows (UTC minutes) touching ``[u0, u1)``."""
        trs = self.zone.transitions((u0 - 2 * _DAY) * 60, (u1 + 2 * _DAY) * 60)
        merged: list[list[int]] = []
        for tr in trs:
            window = self.simulation_window(tr)
            if window is None:
                continue
            a, b = window
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        return [(a, b) for a, b in merged if b > u0 and a < u1]

    def _daemon_chunk(self, u0: int, u1: int) -> Iterator[int]:
        cur = u0
        for a, b in self._windows(u0, u1):
            if a > cur:
                yield from self._pure(cur, a)
            for u in self._simulate(a, b):
                if cur <= u < u1 and u >= u0:
                    yield u
            cur = max(cur, b)
        if cur < u1:
            yield from self._pure(cur, u1)

    def _wall(self, u: int) -> int:
        # clockTime = (StartTime + GMToff) / SECONDS_PER_MINUTE
        return (u * 60 + self.zone.offset_at(u * 60)) // 60

    def _simulate(self, a: int, b: int) -> tuple[int, ...]:
        """cronie/Debian ``main()`` loop over the real minutes ``[a, b)``, in seconds.

        One prompt wake-up per real minute; inside a catch-up loop ``job_runqueue()`` starts
        what the previous step queued and, if it started anything, ``sleep(10)``. The "DST
        begins" loop calls ``set_time`` after each step and leaves as soon as the wall minute
        changes; the next wake-up (at once, the target minute has passed) carries on from
        ``virtualTime``. So the seventh busy catch-up minute starts in the next real minute.
        Run instants are the UTC minutes in which each run starts.
        """
        key = (a, b)
        got = self._sim_cache.get(key)
        if got is not None:
            return got
        ok = self.matcher.wall_ok
        wild = self.spec.is_wildcard
        out: list[int] = []
        # offsets inside the window change only at its transitions: no per-second zone lookup
        changes = [(t.at, t.after) for t in self.zone.transitions(a * 60 - 59, b * 60)]
        off = self.zone.offset_at((a - 1) * 60)
        first_day, last_day = ((a - 1) * 60 + off) // 86400 - 1, self._wall(b) // _DAY + 1
        if any(self.matcher.day_ok(d) for d in range(first_day, last_day + 1)):
            # the offset in force at the start of each UTC minute, as everywhere in the model
            # (a pre-1972 change at an odd second takes effect at the next minute); seconds
            # only move forward, so one pass over the window's changes
            nxt, nch = 0, len(changes)
            # the window starts in steady state: minute a - 1 has been run (timeDiff == 1)
            vt = running = ((a - 1) * 60 + off) // 60
            now, end = a * 60, b * 60
            while now < end:
                while nxt < nch and changes[nxt][0] <= now - now % 60:
                    off = changes[nxt][1]
                    nxt += 1
                clock = (now + off) // 60  # set_time(): clockTime
                if clock == running:
                    now = (now // 60 + 1) * 60  # cron_sleep(timeRunning + 1)
                    continue
                running = clock
                woke = now
                diff = running - vt
                if diff == 1 or diff > _LARGE or diff < -_LARGE:
                    # normal minute, or a clock correction: "jump virtual time, run everything"
                    vt = running
                    if ok(vt):
                        out.append(now // 60)
                elif diff > 5:
                    # "DST begins": wildcard jobs for the current minute, then the fixed-time
                    # jobs of each skipped minute, while the wall minute stays the same.
                    queued = wild and ok(running)
                    while True:
                        if queued:
                            out.append(now // 60)
                            now += 10
                        vt += 1
                        queued = not wild and ok(vt)
                        while nxt < nch and changes[nxt][0] <= now - now % 60:
                            off = changes[nxt][1]
                            nxt += 1
                        if not (vt < running and (now + off) // 60 == running):  # set_time()
                            break
                    if queued:
                        out.append(now // 60)
                elif diff > 0:
                    # "woke up late": every job for each missed minute, no clock check
                    queued = False
                    while True:
                        if queued:
                            out.append(now // 60)
                            now += 10
                        vt += 1
                        queued = ok(vt)
                        if vt >= running:
                            break
                    if queued:
                        out.append(now // 60)
                elif wild and ok(running):
                    # "DST ends": only wildcard jobs; virtualTime waits for the clock to catch up
                    out.append(now // 60)
                if now == woke:
                    now += 60  # nothing slept: the clock reads timeRunning until the next minute
        result = tuple(out)
        self._sim_cache[key] = result
        return result

    def _negative_ranges(self, u0: int, u1: int) -> list[tuple[int, int]]:
        """Real minutes in which the daemon's zone is in cron.c's negative branch."""
        dz = self._daemon_zone
        if dz is None:
            return []
        out = []
        for tr in dz.transitions((u0 - _DAY) * 60, (u1 + _DAY) * 60):
            delta = (tr.after // 60) - (tr.before // 60)
            if -_LARGE - 1 <= delta < 0:
                t = -(-tr.at // 60)  # the first minute under the new offset
                a, b = t, t - delta
                if b > u0 and a < u1:
                    out.append((a, b))
        return out
