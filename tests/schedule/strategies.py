"""Hypothesis strategies of cron-semantics.md section 6.2: valid and invalid expressions, zones,
windows (random, forced around an offset change, long)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st
from owlclaw_runtime.schedule import zone

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
BOUNDS = {
    "minute": (0, 59, None),
    "hour": (0, 23, None),
    "dom": (1, 31, None),
    "month": (1, 12, MONTHS),
    "dow": (0, 7, DAYS),
}
FIELD_ORDER = ("minute", "hour", "dom", "month", "dow")
MACROS = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]
ZONES = [
    "UTC",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/Sao_Paulo",
    "Africa/Cairo",
    "Europe/Dublin",
    "Pacific/Apia",
    "America/Caracas",
]


@st.composite
def _value(draw: st.DrawFn, field: str, lo: int | None = None) -> tuple[int, str]:
    low, high, names = BOUNDS[field]
    low = low if lo is None else lo
    n = draw(st.integers(low, high))
    if names and n - BOUNDS[field][0] < len(names) and draw(st.booleans()):
        name = names[n - BOUNDS[field][0]] if field == "dow" else names[n - 1]
        cased = "".join(c.upper() if draw(st.booleans()) else c for c in name)
        return n, cased
    text = f"{n:02d}" if draw(st.integers(0, 4)) == 0 else str(n)
    return n, text


@st.composite
def atom(draw: st.DrawFn, field: str, reversed_ok: bool = False) -> str:
    """One list element: number, name, a-b (a == b included), a-b/s, *, */s."""
    low, high, _names = BOUNDS[field]
    span = high - low
    kind = draw(st.sampled_from(["num", "num", "range", "range_step", "star", "star_step"]))
    if kind == "num":
        return draw(_value(field))[1]
    if kind == "star":
        return "*"
    if kind == "star_step":
        return f"*/{draw(st.integers(1, span + 1))}"
    a, ta = draw(_value(field))
    if reversed_ok and draw(st.integers(0, 5)) == 0:
        _b, tb = draw(_value(field))
    else:
        _b, tb = draw(_value(field, lo=a))
    text = f"{ta}-{tb}"
    if kind == "range_step":
        text += f"/{draw(st.integers(1, span + 1))}"
    return text


@st.composite
def field_text(draw: st.DrawFn, field: str, reversed_ok: bool = False) -> str:
    """A list of 1-4 atoms; sometimes with '*' in a non-leading position (``1,*``)."""
    atoms = draw(st.lists(atom(field, reversed_ok), min_size=1, max_size=4))
    if len(atoms) > 1 and draw(st.integers(0, 6)) == 0:
        atoms[-1] = "*"
    return ",".join(atoms)


@st.composite
def five_fields(draw: st.DrawFn, reversed_ok: bool = False) -> str:
    """Five valid fields joined by blank variants (tabs, runs of spaces, leading blanks)."""
    parts = [draw(field_text(f, reversed_ok)) for f in FIELD_ORDER]
    seps = [draw(st.sampled_from([" ", " ", "\t", "  ", " \t "])) for _ in range(4)]
    lead = draw(st.sampled_from(["", "", " ", "\t"]))
    return lead + "".join(p + s for p, s in zip(parts, [*seps, ""], strict=True))


def expressions(reversed_ok: bool = False) -> st.SearchStrategy[str]:
    """Valid Vixie (Debian and cronie 1.7) expressions, macros included."""
    return st.one_of(five_fields(reversed_ok), st.sampled_from(MACROS))


# (invalid token, dialects that still accept it): Debian drops junk after a complete term.
INVALID_TOKENS = [
    ("5/15", ()),
    ("?", ()),
    ("L", ()),
    ("15W", ()),
    ("5L", ()),
    ("1#2", ("debian",)),
    ("*/0", ()),
    ("0/0", ()),
    ("1-", ()),
    ("-1", ()),
    (",1", ()),
    ("1,,2", ()),
    ("1-2-3", ("debian",)),
    ("*x", ("debian", "cronie-1.5")),
    ("Sunday", ()),
    ("January", ()),
    ("1x", ()),
    ("٣", ()),
    ("99", ()),
    ("1-99", ()),
]


@st.composite
def invalid_expressions(draw: st.DrawFn) -> tuple[str, str, tuple[str, ...]]:
    """(expression, field replaced, dialects that accept it anyway)."""
    fields = [draw(field_text(f)) for f in FIELD_ORDER]
    i = draw(st.integers(0, 4))
    token, accepted = draw(st.sampled_from(INVALID_TOKENS))
    fname = FIELD_ORDER[i]
    if token in {"Sunday", "January"}:
        i = 4 if token == "Sunday" else 3
        fname = FIELD_ORDER[i]
    if token == "99" or token == "1-99":
        accepted = ()
    fields[i] = token
    return " ".join(fields), fname, accepted


def zones() -> st.SearchStrategy[str]:
    return st.sampled_from(ZONES)


@st.composite
def random_window(draw: st.DrawFn) -> tuple[datetime, datetime]:
    """A random 1-60 day window between 1990 and 2037 (minute-aligned UTC)."""
    start = draw(st.datetimes(datetime(1990, 1, 1), datetime(2037, 1, 1))).replace(
        second=0, microsecond=0, tzinfo=UTC
    )
    return start, start + timedelta(days=draw(st.integers(1, 60)))


@st.composite
def transition_window(draw: st.DrawFn, name: str) -> tuple[datetime, datetime]:
    """A window of +-2 days around a sampled offset change of ``name`` (random when none)."""
    year = draw(st.integers(1990, 2036))
    z = zone(name)
    start = int(datetime(year, 1, 1, tzinfo=UTC).timestamp())
    trs = z.transitions(start, start + 366 * 86400)
    if not trs:
        return draw(random_window())
    tr = draw(st.sampled_from(trs))
    at = datetime.fromtimestamp(tr.at, tz=UTC).replace(second=0)
    return at - timedelta(days=2), at + timedelta(days=2)
