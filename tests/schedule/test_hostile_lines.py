"""Lines a daemon accepts that once crashed us, and the daemons' integer and lenient forms.

Each case cites the daemon code it reproduces (cron-semantics.md section 1.3, cronie
``src/entry.c`` ``get_range``/``get_number``, Debian's ``entry.c`` with its patches, busybox
``miscutils/crond.c`` ``ParseField``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from owlclaw_runtime.schedule import CronSyntaxError, Schedule, describe, parse
from owlclaw_runtime.schedule.parse import c_int

from owlmigrate.commands.explain import explain_one

FROM = datetime(2025, 1, 1, tzinfo=UTC)


def _explain(expr: str, dialect: str, count: int = 3) -> dict:
    return explain_one(
        expr,
        dialect=dialect,
        timezone="UTC",
        daemon_timezone=None,
        semantics=None,
        start=FROM,
        count=count,
        until=None,
        superset=True,
    )


# --------------------------------------------------------------------------- reversed ranges


@pytest.mark.parametrize("dialect", ["debian", "cronie"])
@pytest.mark.parametrize(
    "expr", ["0 0 * * sat-sun", "0 0 * * fri-mon", "0 0 * * 6-0", "0 5-3 * * *", "5-3 * * * *"]
)
def test_reversed_ranges_are_accepted_and_never_run(expr: str, dialect: str) -> None:
    spec = parse(expr, dialect)
    assert spec.never_fires
    assert describe(expr, dialect) == "Never runs (no calendar day matches every field)"
    obj = _explain(expr, dialect)
    assert obj["valid"] and obj["fires"] == []
    assert Schedule(spec, timezone="America/New_York").utc_superset() == []


@pytest.mark.parametrize("dialect", ["debian", "cronie"])
def test_an_empty_day_of_week_ors_away_and_leaves_the_day_of_month(dialect: str) -> None:
    # "7-0" sets no weekday; neither day field starts with '*', so cron ORs them
    # (find_jobs: dow || dom): the job runs on 1 January, it is not a "never" line.
    spec = parse("0 0 1 1 7-0", dialect)
    assert spec.dow == frozenset() and spec.dom == {1}
    assert not spec.never_fires
    assert describe("0 0 1 1 7-0", dialect) == "At 00:00, on day 1 of the month, only in January"
    obj = _explain("0 0 1 1 7-0", dialect, count=2)
    assert obj["fires"] == ["2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z"]


def test_cronie_15_rejects_reversed_ranges_with_a_position() -> None:
    with pytest.raises(CronSyntaxError) as info:
        parse("0 0 1 1 7-0", "cronie-1.5")
    assert (info.value.field, info.value.column) == ("dow", 9)


def test_cronie_head_reads_x_0_as_x_7() -> None:
    assert parse("0 0 1 1 7-0", "cronie-head").dow == {0}
    assert parse("0 0 * * sat-sun", "cronie-head").dow == {0, 6}


# --------------------------------------------------------------------------- busybox leniency


@pytest.mark.parametrize(
    ("expr", "minute", "dom", "month", "dow"),
    [
        # "5-": ParseField sees '-', then nothing it can read: "parse error", partial table kept
        # (dow empty); FixDayDow: both day tables are "used", so the days are ORed.
        ("1 2 3 4 5-", {1}, {3}, {4}, set()),
        # "*/": strtol reads no step (0), so only the first value is set
        ("*/ * * * *", {0}, set(range(1, 32)), set(range(1, 13)), set(range(7))),
        # a negative step never counts down to another value either
        ("*/-5 * * * *", {0}, set(range(1, 32)), set(range(1, 13)), set(range(7))),
        # N/step is just N
        ("5/15 * * * *", {5}, set(range(1, 32)), set(range(1, 13)), set(range(7))),
        # a step strtol reads as a long and busybox stores in an int (2**31 -> INT_MIN)
        ("*/2147483648 * * * *", {0}, set(range(1, 32)), set(range(1, 13)), set(range(7))),
        # 4294967296 stored in an int is 0
        ("4294967296 * * * *", {0}, set(range(1, 32)), set(range(1, 13)), set(range(7))),
        # "monday" matches "mon" on three letters and the rest is a logged parse error
        ("0 0 * * monday", {0}, set(range(1, 32)), set(range(1, 13)), {1}),
    ],
)
def test_busybox_lenient_forms(expr: str, minute, dom, month, dow) -> None:
    spec = parse(expr, "busybox")
    assert (spec.minute, spec.dom, spec.month, spec.dow) == (minute, dom, month, dow)
    text = describe(expr, "busybox")
    assert text and text[0].isupper()
    assert _explain(expr, "busybox")["valid"]


def test_busybox_5_dash_runs_on_its_day_of_month() -> None:
    fires = Schedule("1 2 3 4 5-", dialect="busybox").fires(FROM, datetime(2027, 1, 1, tzinfo=UTC))
    assert [f.isoformat() for f in fires] == [
        "2025-04-03T02:01:00+00:00",
        "2026-04-03T02:01:00+00:00",
    ]
    assert describe("1 2 3 4 5-", "busybox") == "At 02:01, on day 3 of the month, only in April"


def test_busybox_out_of_table_writes_are_refused_with_a_position() -> None:
    # month 0: n1 = 0 + off(-1) = -1, and the fill loop writes ary[-1] (undefined behaviour)
    with pytest.raises(CronSyntaxError) as info:
        parse("0 0 * 0 *", "busybox")
    assert (info.value.field, info.value.column) == ("month", 7)


# --------------------------------------------------------------------------- integer forms


@pytest.mark.parametrize(
    ("digits", "value"),
    [
        ("4294967296", 0),
        ("4294967297", 1),
        ("2147483647", 2147483647),
        ("2147483648", -2147483648),
        ("99999999999", 1215752191),
        ("9" * 19, -1),  # above LONG_MAX: strtol saturates, the int keeps 0xffffffff
        ("1" + "0" * 5000, -1),  # never builds a 5000-digit Python int
        ("0" * 300 + "7", 7),
    ],
)
def test_c_int_is_strtol_stored_in_an_int(digits: str, value: int) -> None:
    assert c_int(digits) == value


@pytest.mark.parametrize("dialect", ["debian", "cronie", "cronie-1.5", "cronie-head"])
def test_4294967296_wraps_to_zero(dialect: str) -> None:
    spec = parse("4294967296 * * * *", dialect)
    assert spec.minute == {0}
    assert any("is read as 0" in w for w in spec.warnings)


@pytest.mark.parametrize("dialect", ["debian", "cronie", "cronie-head"])
def test_a_huge_step_sets_only_the_start(dialect: str) -> None:
    # cronie >= 1.6: (int) strtol("99999999999") = 1215752191, "step size higher than possible
    # maximum" is only a warning; Debian: step > 0 passes, the loop stops after the first value.
    spec = parse("*/99999999999 * * * *", dialect)
    assert spec.minute == {0}
    assert describe("*/99999999999 * * * *", dialect) == "Every hour"


def test_cronie_15_rejects_a_step_above_the_field() -> None:
    # cronie <= 1.5.7 get_range: "if (num2 < low || num2 > high || num3 > high) return EOF"
    with pytest.raises(CronSyntaxError) as info:
        parse("*/99999999999 * * * *", "cronie-1.5")
    assert (info.value.field, info.value.column) == ("minute", 1)


@pytest.mark.parametrize(
    ("expr", "dialect", "column"),
    [
        ("*/4294967296 * * * *", "cronie", 3),  # step wraps to 0: "step != 0" fails
        ("*/4294967296 * * * *", "debian", 3),  # "step <= 0" fails
        ("*/2147483648 * * * *", "debian", 3),  # INT_MIN: "step <= 0"
        ("*/2147483648 * * * *", "cronie", 1),  # i += INT_MIN leaves the field: set_element
        ("59-59/2147483600 * * * *", "cronie", 1),  # 59 + step overflows to a negative i
        ("99999999999999999999 * * * *", "cronie", 1),  # LONG_MAX -> -1 -> set_element
        ("0 " + "0" * 100 + " * * *", "debian", 3),  # Vixie's MAX_TEMPSTR is 100
    ],
)
def test_integer_forms_the_daemon_rejects(expr: str, dialect: str, column: int) -> None:
    with pytest.raises(CronSyntaxError) as info:
        parse(expr, dialect)
    assert info.value.column == column


def test_cronie_takes_long_digit_runs_debian_does_not() -> None:
    expr = "0 " + "0" * 150 + "1 * * *"
    assert parse(expr, "cronie").hour == {1}
    with pytest.raises(CronSyntaxError):
        parse(expr, "debian")


def test_a_step_of_2_to_the_32_plus_1_is_every_minute() -> None:
    assert parse("*/4294967297 * * * *", "cronie").minute == set(range(60))
