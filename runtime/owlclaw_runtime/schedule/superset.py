"""UTC superset expressions for UTC-only engines (Hatchet) and the gate that makes them exact.

Hatchet fires crons in UTC and reads expressions like robfig/cron: five fields, no macros, no
``7``, no ``L``/``W``/``#``, and ``*/N`` in a day field is *not* a star for the DOM/DOW rule. So
we never copy field text: every expression is rebuilt from the parsed sets, day fields are either
``*`` or explicit lists, and the Vixie AND of two restricted day fields (which robfig cannot say)
is relaxed to its more selective side. The gate (:meth:`Schedule.runs_due_at`) then runs each
tick 0..k times, exactly as the legacy daemon would have.

Construction, for the zone's offsets over a horizon (default 1970-2100):

* every local (hour, minute) of the job, shifted to UTC by each offset, with the day fields
  shifted by the day it lands on (``-1``/``0``/``+1``);
* every instant the daemon loop adds around an offset change (spring-forward catch-ups), with
  the UTC dates it happens on;
* grouped per UTC (hour, minute) into disjoint expressions, so no tick is fired twice.

A zone without offset changes and an expression robfig reads like cron gives back the exact
expression (no waste).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from owlclaw_runtime.schedule.describe import compress

if TYPE_CHECKING:
    from owlclaw_runtime.schedule.fires import Schedule

_ALL_DOM = frozenset(range(1, 32))
_ALL_DOW = frozenset(range(7))
_ALL_MONTHS = frozenset(range(1, 13))
HORIZON = (1970, 2100)


@dataclass(frozen=True)
class DayPred:
    """A robfig-expressible day set: months AND (dom OR dow); ``None`` sides are absent.

    Both sides absent means every day of the months.
    """

    months: frozenset[int]
    dom: frozenset[int] | None
    dow: frozenset[int] | None

    @property
    def every_day(self) -> bool:
        return self.dom is None and self.dow is None

    def union(self, other: DayPred) -> DayPred:
        months = self.months | other.months
        if self.every_day or other.every_day:
            return DayPred(months, None, None)
        dom = (self.dom or frozenset()) | (other.dom or frozenset())
        dow = (self.dow or frozenset()) | (other.dow or frozenset())
        if dom >= _ALL_DOM or dow >= _ALL_DOW:
            return DayPred(months, None, None)
        return DayPred(months, dom or None, dow or None)

    def fields(self) -> tuple[str, str, str]:
        month = compress(self.months, 1, 12, steps=False)
        if self.every_day:
            return "*", month, "*"
        dom = compress(self.dom, 1, 31, steps=False) if self.dom else "*"
        dow = compress(self.dow, 0, 6, steps=False) if self.dow else "*"
        return dom, month, dow


def _base_pred(schedule: Schedule) -> DayPred:
    spec = schedule.spec
    dom_full, dow_full = spec.dom >= _ALL_DOM, spec.dow >= _ALL_DOW
    months = frozenset(spec.month)
    if spec.day_and:
        if dom_full and dow_full:
            return DayPred(months, None, None)
        if dow_full:
            return DayPred(months, frozenset(spec.dom), None)
        if dom_full:
            return DayPred(months, None, frozenset(spec.dow))
        # Vixie AND of two restricted fields: robfig cannot AND them; keep the more selective.
        if len(spec.dom) / 31 <= len(spec.dow) / 7:
            return DayPred(months, frozenset(spec.dom), None)
        return DayPred(months, None, frozenset(spec.dow))
    if dom_full or dow_full:
        return DayPred(months, None, None)
    return DayPred(months, frozenset(spec.dom), frozenset(spec.dow))


def _shift_pred(pred: DayPred, k: int) -> DayPred:
    """Days ``U = L + k`` for every local day ``L`` in ``pred`` (a superset)."""
    if k == 0:
        return pred
    months = pred.months
    if months != _ALL_MONTHS:
        months = months | frozenset(((m - 1 + k) % 12) + 1 for m in months)
    if pred.every_day:
        return DayPred(months, None, None)
    dom = None
    if pred.dom is not None:
        if k < 0:
            dom = frozenset(d - 1 for d in pred.dom if d >= 2)
            if 1 in pred.dom:
                dom |= {28, 29, 30, 31}
        else:
            dom = frozenset(d + 1 for d in pred.dom if d <= 30)
            if any(d >= 28 for d in pred.dom):
                dom |= {1}
    dow = None if pred.dow is None else frozenset((d + k) % 7 for d in pred.dow)
    return DayPred(months, dom, dow)


def _dates_pred(dates: set[tuple[int, int]]) -> DayPred:
    return DayPred(frozenset(m for m, _d in dates), frozenset(d for _m, d in dates), None)


def utc_superset(schedule: Schedule, horizon: tuple[int, int] = HORIZON) -> list[str]:
    """Disjoint plain 5-field UTC expressions whose ticks include every exact instant."""
    spec = schedule.spec
    if schedule.spec.never_fires:
        return []
    start = int(datetime(horizon[0], 1, 1, tzinfo=UTC).timestamp())
    end = int(datetime(horizon[1], 1, 1, tzinfo=UTC).timestamp())
    changes = schedule.zone.transitions(start, end)
    offsets = {schedule.zone.offset_at(start) // 60}
    offsets.update(tr.after // 60 for tr in changes)
    base = _base_pred(schedule)
    preds: dict[int, DayPred] = {}  # UTC minute of day -> day predicate
    local_times = [h * 60 + m for h in spec.hour for m in spec.minute]
    for off in offsets:
        for t in local_times:
            k, tod = divmod(t - off, 1440)
            pred = _shift_pred(base, k)
            preds[tod] = preds[tod].union(pred) if tod in preds else pred
    # Instants the daemon loop adds around offset changes (catch-ups), with their exact dates.
    extra: dict[int, set[tuple[int, int]]] = defaultdict(set)
    # Only forward changes add instants (catch-ups at the jump); in a repeated interval the
    # daemon runs a subset of what plain matching runs, which is covered above.
    forward = [tr for tr in changes if tr.after > tr.before]
    windows = (
        [w for w in map(schedule.simulation_window, forward) if w is not None]
        if schedule.semantics == "daemon"
        else []
    )
    for a, b in windows:
        for u in schedule._simulate(a, b):
            day, tod = divmod(u, 1440)
            d = datetime.fromtimestamp(day * 86400, tz=UTC)
            extra[tod].add((d.month, d.day))
    for tod, dates in extra.items():
        pred = _dates_pred(dates)
        preds[tod] = preds[tod].union(pred) if tod in preds else pred
    # Group: per hour, minutes by predicate; then hours by (minutes, predicate).
    per_hour: dict[int, dict[DayPred, set[int]]] = defaultdict(lambda: defaultdict(set))
    for tod, pred in preds.items():
        per_hour[tod // 60][pred].add(tod % 60)
    groups: dict[tuple[frozenset[int], DayPred], set[int]] = defaultdict(set)
    for hour, by_pred in per_hour.items():
        for pred, minutes in by_pred.items():
            groups[(frozenset(minutes), pred)].add(hour)
    out = []
    for (mins, pred), hours in groups.items():
        dom, month, dow = pred.fields()
        out.append(f"{compress(mins, 0, 59)} {compress(hours, 0, 23)} {dom} {month} {dow}")
    return sorted(out, key=_sort_key)


def _sort_key(expr: str) -> tuple[int, str]:
    first_hour = expr.split()[1].split(",")[0].split("-")[0].split("/")[0]
    return (0 if first_hour == "*" else int(first_hour) + 1, expr)


@dataclass(frozen=True)
class SupersetCheck:
    """Result of checking a superset against the exact instants over a window."""

    expressions: tuple[str, ...]
    ticks: int
    fires: int
    covered: bool
    gate_exact: bool
    duplicate_ticks: int

    @property
    def ok(self) -> bool:
        return self.covered and self.gate_exact and self.duplicate_ticks == 0

    @property
    def waste_ratio(self) -> float:
        """Ticks per distinct real fire instant (1.0 means no waste)."""
        return self.ticks / self.fires if self.fires else float(self.ticks)


def tick_schedules(expressions: list[str]) -> list[Schedule]:
    """The superset expressions as UTC schedules (robfig reads them as Vixie cron does)."""
    from owlclaw_runtime.schedule.fires import Schedule

    return [Schedule(expr, dialect="debian", timezone="UTC") for expr in expressions]


def superset_ticks(
    expressions: list[str], start: datetime, end: datetime, schedules: list[Schedule] | None = None
) -> list[int]:
    """UTC minutes at which a UTC engine fires ``expressions`` in ``[start, end)`` (all ticks)."""
    ticks: list[int] = []
    for sched in schedules if schedules is not None else tick_schedules(expressions):
        ticks.extend(sched.fire_minutes(start, end))
    ticks.sort()
    return ticks


def check_superset(
    schedule: Schedule,
    start: datetime,
    end: datetime,
    expressions: list[str] | None = None,
    schedules: list[Schedule] | None = None,
) -> SupersetCheck:
    """Prove superset ⊇ exact and that the gate over the ticks reproduces the exact multiset."""
    exprs = schedule.utc_superset() if expressions is None else expressions
    exact = Counter(schedule.fire_minutes(start, end))
    ticks = superset_ticks(exprs, start, end, schedules)
    tick_counts = Counter(ticks)
    dups = sum(c - 1 for c in tick_counts.values() if c > 1)
    covered = all(u in tick_counts for u in exact)
    gated: Counter[int] = Counter()
    for u in tick_counts:
        n = schedule.runs_due_at_minute(u)
        if n:
            gated[u] = n
    return SupersetCheck(
        expressions=tuple(exprs),
        ticks=len(ticks),
        fires=len(exact),
        covered=covered,
        gate_exact=gated == exact,
        duplicate_ticks=dups,
    )
