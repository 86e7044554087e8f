"""Golden rows from the daemons' own parsers (cronie 1.7.2, HEAD, 1.5.7; busybox crond).

The C functions were compiled out of tree (cron-semantics.md 6.1 4a: never vendored) and run on
expressions from tests/schedule/strategies.py plus junk; their sets, flags and rejections are
recorded in golden_c_parsers.tsv. On the full runs parse() agreed with them on 2,964/2,964
expressions per cronie version and on 3,215/3,215 for busybox. The rows after the
"Integer forms" comment come from the same cronie functions run one field at a time on
integer forms (numbers past INT_MAX, huge steps, long digit runs): 5,961/5,961 agreed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from owlclaw_runtime.schedule import CronSyntaxError, parse
from owlclaw_runtime.schedule.describe import compress

GOLDEN = Path(__file__).with_name("golden_c_parsers.tsv")
BOUNDS = {"minute": (0, 59), "hour": (0, 23), "dom": (1, 31), "month": (1, 12), "dow": (0, 6)}


def _rows() -> list[tuple[str, str, str]]:
    rows = []
    for line in GOLDEN.read_text().splitlines():
        if line and not line.startswith("#"):
            expr, dialect, expected = line.split("\t")
            rows.append((expr, dialect, expected))
    return rows


def _ours(expr: str, dialect: str) -> str:
    try:
        spec = parse(expr, dialect)
    except CronSyntaxError as exc:
        return f"ERR {exc.field}"
    sets = []
    for name, (lo, hi) in BOUNDS.items():
        values = getattr(spec, name)
        sets.append(compress(values, lo, hi, steps=False) if values else "-")
    if dialect == "busybox":
        logged = int(any("busybox logs" in w for w in spec.warnings))
        tail = f"stars={int(spec.dom_star)}{int(spec.dow_star)} logged={logged}"
    else:
        flags = spec.min_star | spec.hr_star << 1 | spec.dom_star << 2 | spec.dow_star << 3
        tail = f"flags={flags}"
    return "OK " + " ".join(sets) + " " + tail


ROWS = _rows()


def test_golden_file_covers_every_dialect_and_both_outcomes() -> None:
    assert {d for _e, d, _x in ROWS} == {"cronie", "cronie-head", "cronie-1.5", "busybox"}
    assert sum(x.startswith("ERR") for _e, _d, x in ROWS) > 50
    assert sum(x.startswith("OK") for _e, _d, x in ROWS) > 500


@pytest.mark.parametrize("dialect", ["cronie", "cronie-head", "cronie-1.5", "busybox"])
def test_parse_matches_the_c_parsers(dialect: str) -> None:
    mismatches = [
        (expr, expected, _ours(expr, dialect))
        for expr, d, expected in ROWS
        if d == dialect and _ours(expr, dialect) != expected
    ]
    assert mismatches == []
