"""Every line a daemon accepts goes through every entry point without an exception.

Lines come from each dialect's grammar (cron-semantics.md section 6.2, reversed ranges and
names included), from the forms the daemons tolerate (Debian's junk after a term, busybox's
half-parsed fields, the integer forms strtol/atoi wrap) and from plain junk. A line the
dialect's parser accepts must go through ``parse``, the fire instants (``fires``,
``next_fire``, ``prev_fire``, ``runs_due_at``), ``describe``, ``explain`` (library and the CLI
with ``--json``), the Hatchet superset and its gate, and ``verify``; a line it rejects raises
:class:`CronSyntaxError` with a field and a column inside the line.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from owlclaw_runtime.schedule import (
    CronSyntaxError,
    Schedule,
    UnsupportedScheduleError,
    describe,
    parse,
)
from owlclaw_runtime.schedule.superset import check_superset

from owlmigrate.cli import cli
from owlmigrate.commands.explain import explain_one
from owlmigrate.verify import TimeModel, compare

from .strategies import FIELD_ORDER, expressions, field_text, transition_window, zones

DIALECTS = ["debian", "cronie", "cronie-1.5", "cronie-head", "busybox"]
_BIG = ["4294967296", "4294967297", "2147483648", "99999999999", "9" * 25, "0" * 120 + "5"]
_JUNK_ALPHABET = "0123456789*-,/~?#LWmonjanSUNx٣\v"


@st.composite
def _tolerated_field(draw: st.DrawFn, name: str) -> str:
    """A field as written in the wild: valid, with junk after a term, or with huge numbers."""
    kind = draw(st.sampled_from(["valid", "valid", "junk_tail", "big", "junk"]))
    if kind == "valid":
        return draw(field_text(name, reversed_ok=True))
    if kind == "junk_tail":
        return draw(field_text(name)) + draw(st.sampled_from(["#2", "-", "-3", "x", "/", "L", "?"]))
    if kind == "big":
        big = draw(st.sampled_from(_BIG))
        return draw(st.sampled_from([big, f"*/{big}", f"1-{big}", f"0-5/{big}", f"{big}-3"]))
    return draw(st.text(alphabet=_JUNK_ALPHABET, min_size=1, max_size=10))


@st.composite
def wild_lines(draw: st.DrawFn) -> str:
    """Five fields, each valid, tolerated or junk, or one of the macros."""
    if draw(st.integers(0, 9)) == 0:
        return draw(
            st.sampled_from(["@reboot", "@hourly", "@daily", "@MONTHLY", "@weekly", "@foo"])
        )
    return " ".join(draw(_tolerated_field(name)) for name in FIELD_ORDER)


def _window(draw_data, name: str) -> tuple[datetime, datetime]:
    start, end = draw_data.draw(transition_window(name))
    return start, min(end, start + timedelta(days=3))


def _check_rejection(expr: str, exc: CronSyntaxError) -> None:
    assert exc.column is not None and 1 <= exc.column <= len(expr), (expr, exc.column)
    assert exc.token is not None
    if not expr.lstrip().startswith("@"):
        assert exc.field in FIELD_ORDER


def _through_the_model(expr: str, dialect: str, name: str, window) -> None:
    spec = parse(expr, dialect)
    text = describe(expr, dialect)
    assert text and text[0].isupper()
    start, end = window
    obj = explain_one(
        expr,
        dialect=dialect,
        timezone=name,
        daemon_timezone=None,
        semantics=None,
        start=start,
        count=5,
        until=None,
        superset=True,
    )
    assert obj["valid"] and obj["description"] == text
    try:
        s = Schedule(spec, timezone=name)
    except UnsupportedScheduleError:
        assert spec.randomized
        return
    fires = s.fires(start, end)
    assert fires == sorted(fires)
    assert all(s.runs_due_at(f) >= 1 for f in fires[:20])
    nxt = s.next_fire(start)
    assert nxt is None or nxt > start
    prev = s.prev_fire(end)
    assert prev is None or prev < end
    if spec.never_fires:
        assert fires == [] and nxt is None and s.utc_superset() == []
    check = check_superset(s, start, end)
    assert check.ok, (expr, dialect, name, check)
    semantics = "wallclock" if dialect == "busybox" else "daemon"
    model = TimeModel(expr, dialect, name, semantics, name)
    verdict = compare(model, model, start, end)
    assert verdict.status in ("equivalent", "inexpressible"), verdict.reason


@given(line=wild_lines(), dialect=st.sampled_from(DIALECTS), name=zones(), data=st.data())
def test_every_accepted_line_goes_through_every_entry_point(
    line: str, dialect: str, name: str, data
) -> None:
    try:
        parse(line, dialect)
    except CronSyntaxError as exc:
        _check_rejection(line, exc)
        obj = explain_one(
            line,
            dialect=dialect,
            timezone="UTC",
            daemon_timezone=None,
            semantics=None,
            start=datetime(2025, 1, 1, tzinfo=UTC),
            count=1,
            until=None,
        )
        assert obj["valid"] is False and obj["error"]
        return
    _through_the_model(line, dialect, name, _window(data, name))


@given(
    expr=expressions(reversed_ok=True),
    dialect=st.sampled_from(DIALECTS),
    name=zones(),
    data=st.data(),
)
def test_every_grammar_line_goes_through_every_entry_point(
    expr: str, dialect: str, name: str, data
) -> None:
    try:
        parse(expr, dialect)
    except CronSyntaxError as exc:
        # only cronie <= 1.5 rejects valid-looking Vixie lines (reversed ranges, wide steps)
        assert dialect == "cronie-1.5", (expr, dialect, exc)
        _check_rejection(expr, exc)
        return
    _through_the_model(expr, dialect, name, _window(data, name))


@given(lines=st.lists(wild_lines(), min_size=1, max_size=8), dialect=st.sampled_from(DIALECTS))
def test_explain_cli_json_batch_never_raises(lines: list[str], dialect: str) -> None:
    clean = [line.replace("\v", " ") for line in lines]
    result = CliRunner().invoke(
        cli,
        ["explain", "-", "--json", "--dialect", dialect, "--from", "2025-03-08T00:00:00Z"],
        input="".join(line + "\n" for line in clean),
        catch_exceptions=False,
    )
    assert result.exit_code in (0, 1)
    objs = [json.loads(out) for out in result.stdout.splitlines()]
    assert [o["expression"] for o in objs] == clean
    for obj in objs:
        assert obj["valid"] == (obj["error"] is None)
        if obj["valid"]:
            assert obj["description"]
    assert result.exit_code == (1 if any(not o["valid"] for o in objs) else 0)
