"""Hypothesis properties of the cron model (cron-semantics.md section 6).

* the model agrees with cronsim 2.8 as sets, its known deviations filtered out;
* next_fire/prev_fire agree with enumeration;
* the UTC superset covers the exact instants and the gate reproduces the multiset;
* the parser accepts exactly what the dialect accepts.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from cronsim import CronSim
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from owlclaw_runtime.schedule import CronSyntaxError, Schedule, parse, zone
from owlclaw_runtime.schedule.superset import check_superset

from .strategies import (
    DAYS,
    MONTHS,
    expressions,
    five_fields,
    invalid_expressions,
    random_window,
    transition_window,
    zones,
)

_EQUAL_RANGE_STEP = re.compile(r"(?:^|,)(\w+)-(\w+)/")


def _cronsim_deviation(expr: str) -> bool:
    """cronsim's documented deviations (cron-semantics.md 4.3): macros, N-N/s ranges."""
    if expr.strip().startswith("@"):
        return True
    spec = parse(expr, "debian")
    if spec.never_fires or spec.warnings:
        return True  # cronsim raises on never-firing and reversed ranges
    for text in expr.split():
        for a, b in _EQUAL_RANGE_STEP.findall(text):
            if _num(a) == _num(b):
                return True
    return False


def _num(token: str) -> int:
    low = token.lower()
    if low in DAYS:
        return DAYS.index(low)
    if low in MONTHS:
        return MONTHS.index(low) + 1
    return int(token)


def _near_big_or_fresh_jump(name: str, start: datetime, end: datetime) -> bool:
    """Windows cronsim cannot model like cron: >=3h jumps (Apia 2011) and fold=1 starts."""
    z = zone(name)
    s = int(start.timestamp())
    if z.transitions(s - 5 * 3600, s + 60):
        return True
    return any(
        abs(tr.delta_minutes) >= 180
        for tr in z.transitions(s - 86400, int(end.timestamp()) + 86400)
    )


@given(
    expr=expressions(),
    name=zones(),
    window=st.one_of(random_window(), st.just(None)),
    data=st.data(),
)
@example(expr="0,30 2 * * *", name="America/New_York", window=None, data=None)
def test_model_agrees_with_cronsim(expr: str, name: str, window, data) -> None:
    assume(not _cronsim_deviation(expr))
    if window is None:
        window = (
            data.draw(transition_window(name))
            if data is not None
            else (datetime(2025, 3, 7, tzinfo=UTC), datetime(2025, 3, 11, tzinfo=UTC))
        )
    start, end = window
    assume(not _near_big_or_fresh_jump(name, start, end))
    # cronsim deviation found here: after a 30-minute forward change (Lord_Howe) its aware
    # iteration skips the first matching hour of a wildcard job (03:00 +11 on 1990-10-28).
    z = zone(name)
    odd = any(
        tr.delta_minutes % 60
        for tr in z.transitions(int(start.timestamp()) - 86400, int(end.timestamp()) + 86400)
    )
    spec = parse(expr, "debian")
    assume(not (odd and spec.is_wildcard))
    # cronsim deviation: a wildcard job whose matching hour is skipped by a forward change runs
    # at the first minute after the gap (cron runs only the wall clock's current minute).
    if spec.is_wildcard:
        for tr in z.transitions(int(start.timestamp()) - 86400, int(end.timestamp()) + 86400):
            if tr.delta_minutes > 0:
                wall = datetime.fromtimestamp(tr.at + tr.before, tz=UTC)
                skipped = {(wall + timedelta(minutes=m)).hour for m in range(tr.delta_minutes)}
                assume(not (skipped & spec.hour))
    # cronsim collapses catch-ups into the jump instant; cron paces them (sleep(10) per busy
    # minute, test_catchup_pacing.py), so from the sixth one on they and the job's next runs
    # move into later real minutes.
    if not spec.is_wildcard:
        matcher = Schedule(expr, dialect="debian", timezone=name).matcher
        for tr in z.transitions(int(start.timestamp()) - 86400, int(end.timestamp()) + 86400):
            if tr.delta_minutes > 0:
                w0 = (tr.at + tr.before) // 60
                busy = sum(matcher.wall_ok(v) for v in range(w0, w0 + tr.delta_minutes))
                assume(busy < 6)
    tz = zone(name).tz
    theirs: list[datetime] = []
    for fire in CronSim(expr, start.astimezone(tz)):
        if fire >= end or len(theirs) >= 300:
            break
        theirs.append(fire.astimezone(UTC))
    stop = theirs[-1] + timedelta(minutes=1) if len(theirs) >= 300 else end
    ours = Schedule(expr, dialect="debian", timezone=name).fires(start + timedelta(seconds=1), stop)
    assert set(ours) == set(theirs)


@given(
    expr=expressions(),
    name=zones(),
    window=random_window(),
    dialect=st.sampled_from(["debian", "cronie"]),
)
def test_next_and_prev_fire_agree_with_enumeration(
    expr: str, name: str, window, dialect: str
) -> None:
    start, _ = window
    end = start + timedelta(days=3)
    s = Schedule(expr, dialect=dialect, timezone=name)
    fires = sorted(set(s.fires(start, end)))
    walked: list[datetime] = []
    t = start - timedelta(seconds=1)
    while len(walked) < 400:
        nxt = s.next_fire(t)
        assert nxt is None or nxt > t
        if nxt is None or nxt >= end:
            break
        walked.append(nxt)
        t = nxt
    assert walked == fires[:400]
    if fires:
        assert s.prev_fire(fires[-1]) == (fires[-2] if len(fires) > 1 else s.prev_fire(fires[0]))
        assert s.prev_fire(fires[0] + timedelta(seconds=1)) == fires[0]


@given(
    expr=expressions(),
    name=zones(),
    semantics=st.sampled_from(["daemon", "wallclock"]),
    data=st.data(),
)
def test_superset_covers_and_gate_reproduces_the_multiset(
    expr: str, name: str, semantics: str, data
) -> None:
    start, end = data.draw(st.one_of(random_window(), transition_window(name)))
    end = min(end, start + timedelta(days=10))
    dialect = "cronie" if semantics == "wallclock" else "debian"
    s = Schedule(
        expr,
        dialect=dialect,
        timezone=name,
        semantics=semantics,
        daemon_timezone=data.draw(zones()) if semantics == "wallclock" else None,
    )
    check = check_superset(s, start, end)
    assert check.covered, (check.expressions, start, end)
    assert check.gate_exact
    assert check.duplicate_ticks == 0
    for text in check.expressions:
        assert not text.startswith("@")
        fields = text.split()
        assert len(fields) == 5
        assert "7" not in re.split(r"[,-]", fields[4])
        assert not fields[2].startswith("*/") and not fields[4].startswith("*/")


@given(expr=five_fields())
def test_superset_is_the_expression_itself_in_utc_when_robfig_reads_it_alike(expr: str) -> None:
    spec = parse(expr, "debian")
    assume(not spec.never_fires)
    both_restricted_and = (
        spec.day_and and spec.dom != set(range(1, 32)) and spec.dow != set(range(7))
    )
    assume(not both_restricted_and)
    exprs = Schedule(expr, timezone="UTC").utc_superset()
    start = datetime(2024, 1, 1, tzinfo=UTC)
    check = check_superset(Schedule(expr, timezone="UTC"), start, start + timedelta(days=3), exprs)
    assert check.ok and check.ticks == check.fires  # no waste


@given(
    case=invalid_expressions(),
    dialect=st.sampled_from(["debian", "cronie", "cronie-1.5", "cronie-head"]),
)
def test_rejected_expressions_are_exactly_those_the_dialect_rejects(case, dialect: str) -> None:
    expr, fname, accepted_by = case
    if dialect in accepted_by:
        try:
            parse(expr, dialect)
        except CronSyntaxError as exc:
            # cronie <= 1.5 also rejects steps wider than the field in the *other* fields
            # (``00-00/8`` in day-of-week): not the token under test
            assert dialect == "cronie-1.5" and exc.field != fname, exc
    else:
        with pytest.raises(CronSyntaxError) as info:
            parse(expr, dialect)
        if dialect != "cronie-1.5":  # 1.5 also rejects steps wider than the field (*/24)
            assert info.value.field == fname


@given(expr=expressions())
def test_valid_expressions_are_accepted_by_debian_and_cronie(expr: str) -> None:
    for dialect in ("debian", "cronie", "cronie-head", "busybox"):
        spec = parse(expr, dialect)
        assert spec.minute <= set(range(60)) and spec.dow <= set(range(7))


@given(expr=five_fields(reversed_ok=True))
def test_reversed_ranges_follow_each_dialect(expr: str) -> None:
    debian, cronie = parse(expr, "debian"), parse(expr, "cronie")
    assert (debian.minute, debian.hour, debian.dom, debian.month, debian.dow) == (
        cronie.minute,
        cronie.hour,
        cronie.dom,
        cronie.month,
        cronie.dow,
    )
    if any("reversed" in w for w in cronie.warnings):
        with pytest.raises(CronSyntaxError):
            parse(expr, "cronie-1.5")


@settings(max_examples=3)
@given(
    expr=st.sampled_from(["30 2 * * *", "0 0 29 2 1", "*/20 3 * * 0"]),
    name=st.sampled_from(["America/New_York", "Australia/Lord_Howe"]),
)
def test_long_windows_28_years(expr: str, name: str) -> None:
    s = Schedule(expr, timezone=name)
    start = datetime(2001, 1, 1, tzinfo=UTC)
    fires = s.fire_minutes(start, datetime(2029, 1, 1, tzinfo=UTC))
    # every fire is a matching wall time or a catch-up at an offset change
    for u in fires[:: max(1, len(fires) // 500)]:
        assert s.runs_due_at(datetime.fromtimestamp(u * 60, tz=UTC)) >= 1
    assert fires == sorted(fires)


@given(expr=expressions(), dialect=st.sampled_from(["debian", "cronie", "cronie-head", "busybox"]))
def test_every_valid_expression_has_a_description(expr: str, dialect: str) -> None:
    from owlclaw_runtime.schedule import describe

    text = describe(expr, dialect)
    assert text and text[0].isupper()


def test_400_year_gregorian_cycle_counts() -> None:
    start, end = datetime(2000, 1, 1, tzinfo=UTC), datetime(2400, 1, 1, tzinfo=UTC)
    # 97 leap days per 400 years
    assert len(Schedule("0 12 29 2 *", timezone="UTC").fire_minutes(start, end)) == 97
    # "*/7" in day-of-week starts with '*' (Sundays only, ANDed with the 13th): 687 Sundays
    # fall on a 13th in each 400-year cycle (Fridays: 688)
    assert len(Schedule("0 0 13 * */7", timezone="UTC").fire_minutes(start, end)) == 687
    # ORed instead (no star): every 13th plus every Sunday, counted once per day
    days = 146097
    thirteenths = 400 * 12
    sundays = days // 7
    either = Schedule("0 0 13 * 0", timezone="UTC").fire_minutes(start, end)
    assert len(either) == thirteenths + sundays - 687
    # noon in London exists exactly once every day for 400 years (DST never touches it)
    assert (
        Schedule("0 12 * * *", timezone="Europe/London").count_minutes(
            int(start.timestamp()) // 60, int(end.timestamp()) // 60
        )
        == days
    )


_JUNK = st.text(alphabet="0123456789*-,/~?#LWmonjanSUNx٣ ", min_size=1, max_size=12)


@given(fields=st.lists(_JUNK.filter(lambda t: t.strip() and " " not in t), min_size=5, max_size=5))
def test_any_text_parses_or_raises_a_typed_error(fields: list[str]) -> None:
    expr = " ".join(fields)
    for dialect in ("debian", "cronie", "cronie-1.5", "cronie-head"):
        try:
            spec = parse(expr, dialect)
        except CronSyntaxError as exc:
            assert exc.field in {"minute", "hour", "dom", "month", "dow"}
            assert exc.column is not None and 1 <= exc.column <= len(expr)
        else:
            assert spec.minute <= set(range(60)) and spec.dow <= set(range(7))
    # busybox installs every 5-field line (logging "parse error"), except where its C code
    # would write outside its tables
    try:
        spec = parse(expr, "busybox")
    except CronSyntaxError as exc:
        assert "outside its table" in exc.message or "overflows" in exc.message
    else:
        assert spec.dom <= set(range(1, 32)) and spec.month <= set(range(1, 13))
