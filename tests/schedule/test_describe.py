"""Descriptions honour the Vixie DOM/DOW rule: readable ``expression | expected`` tables."""

from __future__ import annotations

import pytest
from owlclaw_runtime.schedule import CronSyntaxError, describe
from owlclaw_runtime.schedule.describe import compress

TABLE = """
0 0 */15 * 1 | At 00:00, on day 1, 16, and 31 of the month, but only if that day is also a Monday
0 0 1,15 * 1       | At 00:00, on day 1 and 15 of the month, or on Monday
0 0 1-31 * 1       | At 00:00
0 0 13 * 1,*       | At 00:00
0 0 * * */2        | At 00:00, only on Sunday, Tuesday, Thursday, and Saturday
0 0 */1 * 1        | At 00:00, only on Monday
0 0 1 * */1        | At 00:00, on day 1 of the month
30 2 * * *         | At 02:30
*/15 9-17 * * 1-5  | Every 15 minutes, between 09:00 and 17:59, Monday through Friday
0 0 * * 7          | At 00:00, only on Sunday
@weekly            | At 00:00, only on Sunday
@hourly            | Every hour
@reboot            | At system startup (@reboot), not at a time of day
0 0 31 2 *         | Never runs (no calendar day matches every field)
0 0 * * fri-sun    | Never runs (no calendar day matches every field)
"""


def _rows() -> list[tuple[str, str]]:
    rows = []
    for line in TABLE.strip().splitlines():
        expr, expected = (part.strip() for part in line.split("|", 1))
        rows.append((expr, expected))
    return rows


@pytest.mark.parametrize(("expr", "expected"), _rows(), ids=[r[0] for r in _rows()])
def test_description(expr: str, expected: str) -> None:
    assert describe(expr, "debian") == expected


def test_star_led_dom_is_anded_with_dow() -> None:
    text = describe("0 0 */2 * 1", "debian")
    assert text.startswith("At 00:00, on day 1, 3, 5,")
    assert text.endswith("29, and 31 of the month, but only if that day is also a Monday")


def test_description_follows_the_dialect() -> None:
    assert (
        describe("0 0 * * fri-sun", "cronie-head")
        == "At 00:00, only on Sunday, Friday, and Saturday"
    )
    assert describe("0 6 * * 7", "busybox") == "At 06:00"


def test_description_of_invalid_expression_raises() -> None:
    with pytest.raises(CronSyntaxError):
        describe("5/15 * * * *", "cronie")


@pytest.mark.parametrize(
    ("values", "lo", "hi", "text"),
    [
        (set(range(60)), 0, 59, "*"),
        ({0, 15, 30, 45}, 0, 59, "*/15"),
        ({5, 20, 35}, 0, 59, "5-35/15"),
        ({1, 2, 3, 7}, 0, 59, "1-3,7"),
        ({1, 2}, 0, 59, "1,2"),
    ],
)
def test_compress(values: set[int], lo: int, hi: int, text: str) -> None:
    assert compress(values, lo, hi) == text


PLAIN = """
1 2 3 4 5- | busybox | At minute 1 past hour 2, on day-of-month 3, in April
0 0 */15 * 1|debian|At minute 0 past hour 0, on day-of-month 1,16,31 if that day is also a Monday
0 0 1,15 * 1 | debian | At minute 0 past hour 0, on day-of-month 1,15 or Monday
*/20 * * jan-mar * | debian | At minute 0,20,40 past every hour, in January-March
0 0 1 1 7-0 | debian | At minute 0 past hour 0, on day-of-month 1, in January
0 0 * * sat-sun | debian | Never runs (no calendar day matches every field)
@reboot | debian | At system startup (@reboot), not at a time of day
"""


def _plain_rows() -> list[tuple[str, str, str]]:
    rows = []
    for line in PLAIN.strip().splitlines():
        expr, dialect, expected = (part.strip() for part in line.split("|", 2))
        rows.append((expr, dialect, expected))
    return rows


@pytest.mark.parametrize(
    ("expr", "dialect", "expected"), _plain_rows(), ids=[r[0] for r in _plain_rows()]
)
def test_plain_description_words_the_sets(expr: str, dialect: str, expected: str) -> None:
    # the fallback describe() uses where cron-descriptor fails or returns nothing usable
    from owlclaw_runtime.schedule import parse
    from owlclaw_runtime.schedule.describe import plain_description

    assert plain_description(parse(expr, dialect)) == expected
