"""The live suite's count, on its own (no daemon, no root): what it calls a miss and a double."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from .counting import LogLineError, Run, minute_label, parse_runs, table, tally

M = 29_000_000  # an epoch minute (2025-02-20)


def run(minute: int, second: int = 1, runner: str = "cron") -> Run:
    return Run((minute * 60) + second, "00:00:01", "u", "/home/u", "u", "sh", runner)


def test_a_log_line_round_trips() -> None:
    text = f"{M * 60 + 1}\t03:21:01\towlm-a\t/home/owlm-a\towlm-a\tsh\tcron\n"
    (parsed,) = parse_runs(text)
    assert parsed.minute == M
    assert (parsed.user, parsed.home, parsed.logname, parsed.parent, parsed.runner) == (
        "owlm-a",
        "/home/owlm-a",
        "owlm-a",
        "sh",
        "cron",
    )


def test_a_line_the_script_cannot_write_names_its_place() -> None:
    with pytest.raises(LogLineError, match=r"job\.log:2: not a run line"):
        parse_runs(f"{M * 60}\ta\tb\tc\td\te\tf\ngarbage\n", where="job.log")


def test_two_runs_in_a_minute_are_a_double_and_none_a_miss() -> None:
    t = tally("j", [run(M), run(M + 1), run(M + 1, 30, "worker"), run(M + 3)], M, M + 3)
    assert t.doubles == [M + 1]
    assert t.misses == [M + 2]
    assert not t.exact
    assert t.cell(M + 1) == "2cw"
    assert t.cell(M + 2) == "0"
    rows = table([t]).splitlines()
    assert rows[2].startswith(f"{minute_label(M + 1)}*")
    assert rows[1].startswith(f"{minute_label(M)} ")


def test_runs_outside_the_window_are_not_judged() -> None:
    t = tally("j", [run(M - 1), run(M), run(M + 1)], M, M)
    assert t.exact and t.runs == 1 and t.outside == 2


@given(st.lists(st.integers(0, 3), min_size=1, max_size=12))
def test_the_count_reports_exactly_the_minutes_off_one(counts: list[int]) -> None:
    runs = [run(M + i, 1 + n) for i, c in enumerate(counts) for n in range(c)]
    t = tally("j", runs, M, M + len(counts) - 1)
    assert t.misses == [M + i for i, c in enumerate(counts) if c == 0]
    assert t.doubles == [M + i for i, c in enumerate(counts) if c > 1]
    assert t.runs == sum(counts)
    assert t.exact == all(c == 1 for c in counts)
