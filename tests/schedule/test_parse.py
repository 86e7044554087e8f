"""Parser tables: sets, flags, warnings and rejections per dialect (cron-semantics.md 1.3-1.5)."""

from __future__ import annotations

import pytest
from owlclaw_runtime.schedule import CronSyntaxError, parse

ALL_DOW = set(range(7))
ALL_DOM = set(range(1, 32))

# expression | dialect | field | expected set
SETS = [
    ("5-5 * * * *", "debian", "minute", {5}),
    ("0 0 3-3/10 * *", "cronie", "dom", {3}),
    ("0 0 * * 7", "debian", "dow", {0}),
    ("0 0 * * 7-7", "cronie", "dow", {0}),
    ("0 0 * * 1-7/2", "debian", "dow", {1, 3, 5, 0}),
    ("0 0 * * fri-sun", "debian", "dow", set()),
    ("0 0 * * fri-sun", "cronie", "dow", set()),
    ("0 0 * * fri-sun", "cronie-head", "dow", {5, 6, 0}),
    ("0 5-3 * * *", "cronie", "hour", set()),
    ("*/60 * * * *", "cronie", "minute", {0}),
    ("0 */24 * * *", "debian", "hour", {0}),
    ("08 * * * *", "cronie", "minute", {8}),
    ("0 0 * JAN,mAr *", "cronie", "month", {1, 3}),
    ("0 0 * * MON-fri", "debian", "dow", {1, 2, 3, 4, 5}),
    ("1#2 * * * *", "debian", "minute", {1}),
    ("1-2-3 * * * *", "debian", "minute", {1, 2}),
    ("*x * * * *", "debian", "minute", set(range(60))),
    ("5/15 * * * *", "busybox", "minute", {5}),
    ("0 6 * * 7", "busybox", "dow", ALL_DOW),
    ("0 6 * * 5-7", "busybox", "dow", ALL_DOW),
    ("0 0 */2 * *", "busybox", "dom", set(range(2, 31, 2))),
    ("0 0 */2 * *", "debian", "dom", set(range(1, 32, 2))),
    ("0 22-2 * * *", "busybox", "hour", {22, 23, 0, 1, 2}),
    ("0 0 * * monday", "busybox", "dow", {1}),
    ("@weekly", "debian", "dow", {0}),
    ("@monthly", "cronie", "dom", {1}),
    ("@yearly", "busybox", "month", {1}),
]


@pytest.mark.parametrize(
    ("expr", "dialect", "field", "expected"), SETS, ids=[f"{r[1]}:{r[0]}" for r in SETS]
)
def test_parser_sets_match_the_daemon(
    expr: str, dialect: str, field: str, expected: set[int]
) -> None:
    assert set(getattr(parse(expr, dialect), field)) == expected


# expression | dialect | (min_star, hr_star, dom_star, dow_star)
FLAGS = [
    ("0 0 */2 * 1", "debian", (False, False, True, False)),
    ("*/15 * * * *", "cronie", (True, True, True, True)),
    ("0 0 1,* * 1", "cronie", (False, False, False, False)),
    ("0 0 * * */2", "debian", (False, False, True, True)),
    ("@weekly", "debian", (False, False, True, False)),
    ("@monthly", "cronie", (False, False, False, True)),
    ("@yearly", "debian", (False, False, False, True)),
    ("@annually", "cronie-1.5", (False, False, False, True)),
    ("@hourly", "cronie", (False, True, False, False)),
    ("@daily", "debian", (False, False, False, False)),
    # busybox has no flags: "star" means the table is full (FixDayDow)
    ("0 0 1-31 * *", "busybox", (False, False, False, True)),
    ("0 0 * * 0-6", "busybox", (False, False, True, True)),
]


@pytest.mark.parametrize(("expr", "dialect", "flags"), FLAGS, ids=[f"{r[1]}:{r[0]}" for r in FLAGS])
def test_star_flags_follow_the_first_character_rule(expr: str, dialect: str, flags: tuple) -> None:
    spec = parse(expr, dialect)
    assert (spec.min_star, spec.hr_star, spec.dom_star, spec.dow_star) == flags


# expression | dialect | field | column
REJECTED = [
    ("5/15 * * * *", "debian", "minute", 2),
    ("5/15 * * * *", "cronie", "minute", 2),
    ("0 0 * * 1/2", "cronie", "dow", 10),
    ("0 0 * * Sunday", "debian", "dow", 9),
    ("0 0 ? * 1", "cronie", "dom", 5),
    ("0 0 L * *", "debian", "dom", 5),
    ("0 0 15W * *", "cronie", "dom", 5),
    ("0 0 * * 1#2", "cronie", "dow", 10),
    ("60 * * * *", "debian", "minute", 1),
    ("0 24 * * *", "cronie", "hour", 3),
    ("0 0 0 * *", "debian", "dom", 5),
    ("0 0 * 13 *", "cronie", "month", 7),
    ("0 0 * * 8", "debian", "dow", 9),
    ("*/0 * * * *", "debian", "minute", 3),
    ("*/0 * * * *", "cronie", "minute", 3),
    ("0 5-3 * * *", "cronie-1.5", "hour", 3),
    ("*/60 * * * *", "cronie-1.5", "minute", 1),
    ("1,,2 * * * *", "cronie", "minute", 3),
    ("0 ١ * * *", "cronie", "hour", 3),
    ("0 ١ * * *", "debian", "hour", 3),
    ("1x * * * *", "cronie", "minute", 1),
]


@pytest.mark.parametrize(
    ("expr", "dialect", "field", "column"), REJECTED, ids=[f"{r[1]}:{r[0]}" for r in REJECTED]
)
def test_rejections_name_field_token_and_column(
    expr: str, dialect: str, field: str, column: int
) -> None:
    with pytest.raises(CronSyntaxError) as info:
        parse(expr, dialect)
    assert info.value.field == field
    assert info.value.column == column
    assert info.value.token
    assert info.value.token in expr


@pytest.mark.parametrize("dialect", ["debian", "cronie", "cronie-1.5", "cronie-head", "busybox"])
@pytest.mark.parametrize("macro", ["@MONTHLY", "@Daily", "@every", "@reboot2"])
def test_macros_are_case_sensitive(dialect: str, macro: str) -> None:
    with pytest.raises(CronSyntaxError):
        parse(macro, dialect)


def test_reboot_is_flagged_and_never_fires() -> None:
    spec = parse("@reboot", "cronie")
    assert spec.reboot and spec.macro == "@reboot" and spec.never_fires


def test_debian_junk_is_accepted_and_flagged() -> None:
    spec = parse("1#2 * * * *", "debian")
    assert spec.minute == {1}
    assert any("#2" in w for w in spec.warnings)
    with pytest.raises(CronSyntaxError):
        parse("1#2 * * * *", "cronie")


def test_busybox_keeps_partial_tables_with_a_warning() -> None:
    spec = parse("0 6 * * 7", "busybox")
    assert spec.dow == ALL_DOW
    assert any("parse error" in w for w in spec.warnings)
    # '?' sets nothing: the job never fires, but busybox still installs it
    assert parse("0 0 ? * *", "busybox").never_fires


def test_cronie_random_ranges_are_marked() -> None:
    spec = parse("~ 3 * * *", "cronie")
    assert spec.randomized and spec.minute == set(range(60))
    with pytest.raises(CronSyntaxError):
        parse("~ 3 * * *", "debian")


def test_whitespace_variants_parse_alike() -> None:
    base = parse("0 5 * * 1", "debian")
    for text in ["  0\t5  *\t*   1", "\t0 5 * * 1\t"]:
        other = parse(text, "debian")
        assert (other.minute, other.hour, other.dom, other.month, other.dow) == (
            base.minute,
            base.hour,
            base.dom,
            base.month,
            base.dow,
        )


@pytest.mark.parametrize(
    ("expr", "never"),
    [
        ("0 0 31 2 *", True),
        ("0 0 30 2 *", True),
        ("0 0 29 2 *", False),
        ("0 0 29 2 1", False),
        ("0 5-3 * * *", True),
        ("0 0 31 4,6 *", True),
        ("0 0 31 2 1", False),
    ],
)
def test_never_fires(expr: str, never: bool) -> None:
    assert parse(expr, "debian").never_fires is never


def test_wrong_field_count_and_unknown_dialect() -> None:
    with pytest.raises(CronSyntaxError) as info:
        parse("0 0 * *", "debian")
    assert info.value.field == "dow"
    with pytest.raises(CronSyntaxError):
        parse("0 0 * * * *", "debian")
    with pytest.raises(CronSyntaxError):
        parse("0 0 * * *", "fcron")
    with pytest.raises(CronSyntaxError):
        parse("", "debian")


def test_debian_checks_both_ends_of_a_range() -> None:
    # Debian's sane-values check: 50-70/30 would only ever set 50, but 70 is outside the field.
    for expr in ("50-70/30 * * * *", "70-3 * * * *", "5-64/30 * * * *"):
        with pytest.raises(CronSyntaxError):
            parse(expr, "debian")
    assert parse("50-70/30 * * * *", "cronie").minute == {50}  # cronie checks visited values only
