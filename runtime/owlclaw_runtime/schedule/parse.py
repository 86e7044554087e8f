"""Dialect-exact cron expression parser.

Each branch transcribes the daemon's own parser, so the sets, flags and accept/reject decisions
are the daemon's, quirks included:

* cronie 1.6.0-1.7.2 (``cronie``): the ``get_range`` state machine of ``src/entry.c``;
  ``N/step`` is an error, reversed ranges give an empty set, a step wider than the range only
  warns. ``cronie-head`` adds commit d037042's ``X-0`` -> ``X-7`` rewrite. ``cronie-1.5``
  transcribes the older ``get_range``/``get_number`` (reversed ranges and ``*/60`` are errors).
* Debian cron 3.0pl1-162 (``debian``): Vixie's ``get_list``/``get_range``/``get_number`` plus
  the "Step specified without range" patch; ``get_list`` ends with ``Skip_Nonblanks`` so junk
  after a term is silently dropped (``1#2`` reads as ``1``). We reproduce and flag it.
* busybox crond (``busybox``): ``ParseField`` and ``FixDayDow`` of ``miscutils/crond.c``. Busybox
  logs "parse error" but keeps the half-built table, so those inputs are accepted with a warning.

Only ASCII digits are numbers (the daemons use ``isdigit``/``isalnum`` in the C locale).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from owlclaw_runtime.schedule.spec import (
    FIELD_TITLES,
    FIELDS,
    CronSpec,
    CronSyntaxError,
    canonical_dialect,
)

_ASCII_DIGITS = frozenset("0123456789")
_ASCII_ALNUM = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_BLANKS = " \t"
_INT_MAX = 2**31 - 1
_LONG_MAX = 2**63 - 1  # strtol's result on LP64 Linux saturates here (ERANGE)
_LONG_MIN = -(2**63)
# get_number collects at most MAX_TEMPSTR - 1 characters into ``temp`` ("if (++len >=
# MAX_TEMPSTR) goto bad"): 100 in Vixie 3.0pl1 (Debian's cron.h), 131072 in cronie's macros.h.
_MAX_TEMPSTR = {"debian": 100, "cronie": 131072, "cronie-head": 131072, "cronie-1.5": 131072}

MONTH_NAMES: tuple[str, ...] = tuple(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
)
# Vixie's DowNames has "Sun" twice (index 0 and 7); strcasecmp picks the first.
DOW_NAMES: tuple[str, ...] = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")

# (low, high, names) per field, as FIRST_*/LAST_* in cron.h.
_BOUNDS: dict[str, tuple[int, int, Sequence[str] | None]] = {
    "minute": (0, 59, None),
    "hour": (0, 23, None),
    "dom": (1, 31, None),
    "month": (1, 12, MONTH_NAMES),
    "dow": (0, 7, DOW_NAMES),
}

# Macro expansions (cronie/Debian load_entry): sets plus the flags the daemon sets.
_ALL = {name: frozenset(range(lo, hi + 1)) for name, (lo, hi, _n) in _BOUNDS.items()}
_MACROS: dict[str, tuple[dict[str, frozenset[int]], tuple[str, ...]]] = {
    "yearly": (
        {
            "minute": frozenset({0}),
            "hour": frozenset({0}),
            "dom": frozenset({1}),
            "month": frozenset({1}),
            "dow": _ALL["dow"],
        },
        ("dow_star",),
    ),
    "monthly": (
        {
            "minute": frozenset({0}),
            "hour": frozenset({0}),
            "dom": frozenset({1}),
            "month": _ALL["month"],
            "dow": _ALL["dow"],
        },
        ("dow_star",),
    ),
    "weekly": (
        {
            "minute": frozenset({0}),
            "hour": frozenset({0}),
            "dom": _ALL["dom"],
            "month": _ALL["month"],
            "dow": frozenset({0}),
        },
        ("dom_star",),
    ),
    "daily": (
        {
            "minute": frozenset({0}),
            "hour": frozenset({0}),
            "dom": _ALL["dom"],
            "month": _ALL["month"],
            "dow": _ALL["dow"],
        },
        (),
    ),
    "hourly": (
        {
            "minute": frozenset({0}),
            "hour": _ALL["hour"],
            "dom": _ALL["dom"],
            "month": _ALL["month"],
            "dow": _ALL["dow"],
        },
        ("hr_star",),
    ),
}
_MACROS["annually"] = _MACROS["yearly"]
_MACROS["midnight"] = _MACROS["daily"]

# busybox SpecAry: hour, day, month, weekday tokens (minute is "0" for all).
_BUSYBOX_SPECIALS: dict[str, tuple[str, str, str, str]] = {
    "yearly": ("0", "1", "1", "*"),
    "annually": ("0", "1", "1", "*"),
    "monthly": ("0", "1", "*", "*"),
    "weekly": ("0", "*", "*", "0"),
    "daily": ("0", "*", "*", "*"),
    "midnight": ("0", "*", "*", "*"),
    "hourly": ("*", "*", "*", "*"),
}

_EOF = None


class _FieldError(Exception):
    """Internal: a field was rejected; ``offset`` is the 0-based position inside the field."""

    def __init__(self, reason: str, offset: int, term: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset
        self.term = term


def _term_at(text: str, pos: int) -> str:
    """The list element (between commas) of ``text`` that contains ``pos``."""
    start = text.rfind(",", 0, max(pos, 0)) + 1
    end = text.find(",", pos)
    end = len(text) if end < 0 else end
    return text[start:end].strip() or text


def _tokens(expr: str) -> list[tuple[str, int]]:
    """Split on runs of blanks (cron's Skip_Blanks), keeping each token's 0-based column."""
    return [(m.group(0), m.start()) for m in re.finditer(r"[^ \t]+", expr)]


def parse(expr: str, dialect: str = "debian") -> CronSpec:
    """Parse ``expr`` (five time fields or an ``@macro``) exactly as ``dialect``'s daemon would.

    Raises :class:`CronSyntaxError` (with ``field``, ``token`` and 1-based ``column``) when that
    daemon rejects the expression; accepted-but-quirky input is reported in ``warnings``.
    """
    name = canonical_dialect(dialect)
    if not isinstance(expr, str):
        raise CronSyntaxError("cron expression must be a string", token=repr(expr))
    if "\n" in expr or "\r" in expr or "\0" in expr:
        raise CronSyntaxError("cron expression must be a single line", token=expr)
    tokens = _tokens(expr)
    if not tokens:
        raise CronSyntaxError("empty cron expression", field="minute", token="", column=1)
    first, col = tokens[0]
    if first.startswith("@"):
        if len(tokens) > 1:
            extra, ecol = tokens[1]
            raise CronSyntaxError(
                f"unexpected {extra!r} after {first}: an expression is a macro or five fields",
                token=extra,
                column=ecol + 1,
            )
        if name == "busybox":
            return _busybox_macro(expr, first, col)
        return _vixie_macro(expr, name, first, col)
    if len(tokens) != 5:
        where = tokens[5] if len(tokens) > 5 else tokens[-1]
        raise CronSyntaxError(
            f"expected 5 time fields, found {len(tokens)}",
            field=FIELDS[len(tokens)] if len(tokens) < 5 else None,
            token=where[0],
            column=where[1] + 1,
        )
    if name == "busybox":
        return _busybox_fields(expr, [t for t, _c in tokens], [c for _t, c in tokens])
    return _vixie_fields(expr, name, tokens)


def _reboot_spec(expr: str, dialect: str) -> CronSpec:
    """``@reboot``: no time sets, no star flags; the job runs once when the daemon starts."""
    empty: frozenset[int] = frozenset()
    return CronSpec(
        expression=expr,
        dialect=dialect,
        minute=empty,
        hour=empty,
        dom=empty,
        month=empty,
        dow=empty,
        min_star=False,
        hr_star=False,
        dom_star=False,
        dow_star=False,
        macro="@reboot",
        reboot=True,
    )


# --------------------------------------------------------------------------- vixie family


def _vixie_macro(expr: str, dialect: str, word: str, col: int) -> CronSpec:
    # cronie/Debian: get_string up to a blank, then strcmp: case-sensitive.
    key = word[1:]
    if key == "reboot":
        return _reboot_spec(expr, dialect)
    if key not in _MACROS:
        hint = (
            " (macros are case-sensitive)"
            if key.lower() in _MACROS or key.lower() == "reboot"
            else ""
        )
        raise CronSyntaxError(
            f"bad time specifier {word!r}{hint}", field=None, token=word, column=col + 1
        )
    sets, flags = _MACROS[key]
    return CronSpec(
        expression=expr,
        dialect=dialect,
        minute=sets["minute"],
        hour=sets["hour"],
        dom=sets["dom"],
        month=sets["month"],
        dow=_fold_sunday(sets["dow"]),
        min_star="min_star" in flags,
        hr_star="hr_star" in flags,
        dom_star="dom_star" in flags,
        dow_star="dow_star" in flags,
        macro=word,
    )


def _fold_sunday(dow: frozenset[int] | set[int]) -> frozenset[int]:
    # "make sundays equivalent": bit 7 and bit 0 are the same day.
    out = set(dow)
    if 7 in out:
        out.discard(7)
        out.add(0)
    return frozenset(out)


def _vixie_fields(expr: str, dialect: str, tokens: list[tuple[str, int]]) -> CronSpec:
    parser = {
        "debian": _debian_list,
        "cronie": _cronie16_list,
        "cronie-head": _cronie16_list,
        "cronie-1.5": _cronie15_list,
    }[dialect]
    sets: dict[str, frozenset[int]] = {}
    warnings: list[str] = []
    randomized = False
    for fname, (text, col) in zip(FIELDS, tokens, strict=True):
        low, high, names = _BOUNDS[fname]
        try:
            bits, notes, rnd = parser(text, low, high, names, dialect)
        except _FieldError as err:
            raise CronSyntaxError(
                f"bad {FIELD_TITLES[fname]}: {err.reason} in {text!r}",
                field=fname,
                token=err.term,
                # a number missing at the end of the field points at its last character
                column=col + min(err.offset, len(text) - 1) + 1,
            ) from None
        randomized = randomized or rnd
        warnings.extend(f"{FIELD_TITLES[fname]} {text!r}: {note}" for note in notes)
        warnings.extend(
            f"{FIELD_TITLES[fname]} {text!r}: {digits[:24]}{'...' if len(digits) > 24 else ''} "
            f"is read as {c_int(digits)} (the daemon's strtol/atoi result stored in an int)"
            for digits in re.findall(r"[0-9]+", text)
            if _magnitude(digits) > _INT_MAX
        )
        sets[fname] = frozenset(bits)
    dow = _fold_sunday(sets["dow"])
    spec = CronSpec(
        expression=expr,
        dialect=dialect,
        minute=sets["minute"],
        hour=sets["hour"],
        dom=sets["dom"],
        month=sets["month"],
        dow=dow,
        # load_entry: "if (ch == '*') e->flags |= MIN_STAR" -- the field's first character only.
        min_star=tokens[0][0].startswith("*"),
        hr_star=tokens[1][0].startswith("*"),
        dom_star=tokens[2][0].startswith("*"),
        dow_star=tokens[4][0].startswith("*"),
        warnings=tuple(warnings),
        randomized=randomized,
    )
    return spec


def _wrap32(value: int) -> int:
    """A C ``int`` assignment of a wider value: gcc keeps the low 32 bits (two's complement)."""
    return ((value + 2**31) % 2**32) - 2**31


def _magnitude(digits: str) -> int:
    """The value of a run of ASCII digits, capped at 2**63 (never builds a huge int)."""
    significant = digits.lstrip("0")
    if len(significant) > 19:
        return 2**63
    return min(int(significant or "0"), 2**63)


def _strtol_digits(digits: str) -> int:
    """``strtol`` of a run of ASCII digits: saturates at LONG_MAX."""
    return min(_magnitude(digits), _LONG_MAX)


def c_int(digits: str) -> int:
    """What the daemons store for a run of digits: cronie's ``(int) strtol(temp, ..., 10)`` and
    Vixie's ``atoi(temp)`` (glibc: ``(int) strtol``): saturate at LONG_MAX, keep 32 bits.

    So ``4294967296`` is 0, ``4294967297`` is 1, ``2147483648`` is -2147483648 and anything of
    20 digits or more is -1 (LONG_MAX's low 32 bits).
    """
    return _wrap32(_strtol_digits(digits))


def _check_len(word: str, pos: int, term: str, dialect: str) -> None:
    limit = _MAX_TEMPSTR[dialect]
    if len(word) >= limit:
        raise _FieldError(
            f"a term of {len(word)} characters is longer than the daemon's buffer "
            f"(MAX_TEMPSTR {limit})",
            pos,
            term,
        )


def _set_range(
    bits: set[int], lo: int, hi: int, step: int, low: int, high: int, pos: int, term: str
) -> None:
    # for (i = num1; i <= num2; i += num3) if (set_element(...) == EOF) return EOF;
    # Only visited values are checked, and ``i`` is a C int: a huge step wraps it negative,
    # which set_element then rejects (cronie ``59-59/2147483600``).
    i = lo
    while i <= hi:
        if i < low or i > high:
            raise _FieldError(f"{i} is out of range {low}-{high}", pos, term)
        bits.add(i)
        i = _wrap32(i + step)


def _cronie16_list(
    text: str, low: int, high: int, names: Sequence[str] | None, dialect: str
) -> tuple[set[int], list[str], bool]:
    """cronie 1.6.0-1.7.2 (and HEAD) ``get_list``/``get_range``/``get_number``."""
    s = text + " "  # the blank that ends the field in a crontab line
    bits: set[int] = set()
    notes: list[str] = []
    randomized = False
    pos = 0
    while True:
        pos, ch, rnd = _cronie16_range(s, pos, low, high, names, dialect, bits, notes)
        randomized = randomized or rnd
        if ch != ",":
            return bits, notes, randomized


def _cronie_number(
    s: str, pos: int, low: int, names: Sequence[str] | None
) -> tuple[int, int] | None:
    # get_number: collect isalnum characters; strtol must eat all of them, else try names.
    end = pos
    while end < len(s) and s[end] in _ASCII_ALNUM:
        end += 1
    word = s[pos:end]
    if not word:
        return None
    _check_len(word, pos, word, "cronie")
    if all(c in _ASCII_DIGITS for c in word):
        return c_int(word), end
    if names is not None:
        lowered = word.lower()
        for i, cand in enumerate(names):
            if cand == lowered:
                return i + low, end
    return None


def _cronie16_range(
    s: str,
    pos: int,
    low: int,
    high: int,
    names: Sequence[str] | None,
    dialect: str,
    bits: set[int],
    notes: list[str],
) -> tuple[int, str, bool]:
    start = pos
    term = _term_at(s.rstrip(), pos)
    step = 1
    lo = hi = 0
    state = "START"
    randomized = False
    ch = ""
    while state != "FINISH":
        if pos >= len(s):
            raise _FieldError("unexpected end of field", pos, term)
        ch = s[pos]
        pos += 1
        if state == "START":
            if ch == "*":
                lo, hi, state = low, high, "AST"
                continue
            if ch == "~":
                lo, state = low, "RANDOM"
                continue
            pos -= 1
            got = _cronie_number(s, pos, low, names)
            if got is None:
                raise _FieldError(_bad_word(s, pos, names), pos, term)
            lo, pos = got
            state = "NUM1"
        elif state == "AST":
            if ch == "/":
                state = "STEP"
            elif ch in " \t\n,":
                state = "FINISH"
            else:
                raise _FieldError(f"unexpected {ch!r} after '*'", pos - 1, term)
        elif state == "STEP":
            pos -= 1
            got = _cronie_number(s, pos, 0, None)
            if got is None or got[0] == 0:
                raise _FieldError("step must be a positive number", pos, term)
            step, pos = got
            state = "TERMS"
        elif state == "TERMS":
            if ch in " \t\n,":
                state = "FINISH"
            else:
                raise _FieldError(f"unexpected {ch!r} after the step", pos - 1, term)
        elif state == "NUM1":
            if ch == "-":
                state = "RANGE"
            elif ch == "~":
                state = "RANDOM"
            elif ch in " \t\n,":
                hi, state = lo, "FINISH"
            elif ch == "/":
                raise _FieldError(
                    "a step needs a range or '*' (cronie rejects N/step)", pos - 1, term
                )
            else:
                raise _FieldError(f"unexpected {ch!r} after a number", pos - 1, term)
        elif state == "RANGE":
            pos -= 1
            got = _cronie_number(s, pos, low, names)
            if got is None:
                raise _FieldError(_bad_word(s, pos, names), pos, term)
            hi, pos = got
            state = "RANGE_NUM2"
        elif state == "RANGE_NUM2":
            if ch == "/":
                state = "STEP"
                continue
            if dialect == "cronie-head" and lo > hi and hi == 0:
                # cronie commit d037042 (after 1.7.2): "X-0" means "X-7" (fri-sun), in every field.
                hi = 7
                notes.append("cronie HEAD reads a range ending in 0 as ending in 7")
            if ch in " \t\n,":
                state = "FINISH"
            else:
                raise _FieldError(f"unexpected {ch!r} after a range", pos - 1, term)
        elif state == "RANDOM":
            if ch in " \t\n,":
                hi = high
                state = "FINISH"
            else:
                pos -= 1
                got = _cronie_number(s, pos, low, names)
                if got is None:
                    raise _FieldError(_bad_word(s, pos, names), pos, term)
                hi, pos = got
                state = "TERMS"
            if lo > hi:
                raise _FieldError("random range is reversed", start, term)
            randomized = True
            notes.append(f"'~' picks one random value in {lo}-{hi} each time crond loads the file")
    if step > 1 and step > hi - lo:
        notes.append(f"step {step} is wider than the range; only {lo} is set")
    if lo > hi and not randomized:
        notes.append(f"reversed range {lo}-{hi} sets nothing")
    _set_range(bits, lo, hi, step, low, high, start, term)
    return pos, ch, randomized


def _bad_word(s: str, pos: int, names: Sequence[str] | None) -> str:
    end = pos
    while end < len(s) and s[end] not in " \t,-/~":
        end += 1
    word = s[pos:end]
    if not word:
        return "a number is missing"
    if any(not c.isascii() for c in word):
        return f"{word!r} is not a number (only ASCII digits count)"
    if names is not None:
        return f"{word!r} is not a number or a three-letter name"
    return f"{word!r} is not a number"


def _cronie15_list(
    text: str, low: int, high: int, names: Sequence[str] | None, dialect: str
) -> tuple[set[int], list[str], bool]:
    """cronie <= 1.5.7 ``get_list``/``get_range``/``get_number`` (Vixie with terminator sets)."""
    s = text + " "
    bits: set[int] = set()
    notes: list[str] = []
    pos = 0
    while True:
        pos, ch = _cronie15_range(s, pos, low, high, names, bits, notes)
        if ch == ",":
            pos += 1
            continue
        rest = s[pos:].strip()
        if rest:
            # get_list: Skip_Nonblanks -- junk after "*" is dropped silently.
            notes.append(f"junk {rest!r} after a term is ignored")
        return bits, notes, False


def _cronie15_number(
    s: str, pos: int, low: int, names: Sequence[str] | None, terms: str, term: str
) -> tuple[int, int]:
    end = pos
    while end < len(s) and s[end] in _ASCII_DIGITS:
        end += 1
    if end > pos:
        _check_len(s[pos:end], pos, term, "cronie-1.5")
        if s[end] not in terms:
            raise _FieldError(f"unexpected {s[end]!r} after a number", end, term)
        return c_int(s[pos:end]), end
    if names is not None:
        while end < len(s) and s[end].isascii() and s[end].isalpha():
            end += 1
        _check_len(s[pos:end], pos, term, "cronie-1.5")
        word = s[pos:end].lower()
        if word and s[end] in terms:
            for i, cand in enumerate(names):
                if cand == word:
                    return i + low, end
    raise _FieldError(_bad_word(s, pos, names), pos, term)


def _cronie15_range(
    s: str,
    pos: int,
    low: int,
    high: int,
    names: Sequence[str] | None,
    bits: set[int],
    notes: list[str],
) -> tuple[int, str]:
    start = pos
    term = _term_at(s.rstrip(), pos)
    if s[pos] == "*":
        lo, hi = low, high
        pos += 1
    else:
        lo, pos = _cronie15_number(s, pos, low, names, ",- \t\n", term)
        if s[pos] != "-":
            _set_range(bits, lo, lo, 1, low, high, start, term)
            return pos, s[pos]
        pos += 1
        hi, pos = _cronie15_number(s, pos, low, names, "/, \t\n", term)
        if lo > hi:
            raise _FieldError(f"reversed range {lo}-{hi} (cronie <= 1.5 rejects it)", start, term)
    step = 1
    if s[pos] == "/":
        pos += 1
        step_at = pos
        step, pos = _cronie15_number(s, pos, 0, None, ", \t\n", term)
        if step == 0:
            raise _FieldError("step must be a positive number", step_at, term)
    if hi < low or hi > high:
        raise _FieldError(f"{hi} is out of range {low}-{high}", start, term)
    if step > high:
        raise _FieldError(
            f"step {step} is larger than {high} (cronie <= 1.5 rejects it)", start, term
        )
    _set_range(bits, lo, hi, step, low, high, start, term)
    return pos, s[pos]


def _debian_list(
    text: str, low: int, high: int, names: Sequence[str] | None, dialect: str
) -> tuple[set[int], list[str], bool]:
    """Debian cron 3.0pl1 ``get_list``: ranges separated by ',', then Skip_Nonblanks."""
    s = text + " "
    bits: set[int] = set()
    notes: list[str] = []
    pos = 0
    while True:
        pos = _debian_range(s, pos, low, high, names, bits)
        if s[pos] == ",":
            pos += 1
            continue
        rest = s[pos:].strip()
        if rest:
            # Skip_Nonblanks(ch, file): Debian silently drops whatever follows a term.
            notes.append(f"Debian ignores {rest!r} after the term (the rest of the field is junk)")
        return bits, notes, False


def _debian_number(
    s: str, pos: int, low: int, names: Sequence[str] | None, term: str
) -> tuple[int, int]:
    # get_number: collect isalnum; names first (strcasecmp), then all-digits atoi.
    end = pos
    while end < len(s) and s[end] in _ASCII_ALNUM:
        end += 1
    word = s[pos:end]
    if not word:
        raise _FieldError(_bad_word(s, pos, names), pos, term)
    _check_len(word, pos, term, "debian")
    if names is not None:
        lowered = word.lower()
        for i, cand in enumerate(names):
            if cand == lowered:
                return i + low, end
    if all(c in _ASCII_DIGITS for c in word):
        return c_int(word), end
    raise _FieldError(_bad_word(s, pos, names), pos, term)


def _debian_range(
    s: str, pos: int, low: int, high: int, names: Sequence[str] | None, bits: set[int]
) -> int:
    start = pos
    term = _term_at(s.rstrip(), pos)
    if s[pos] == "*":
        lo, hi = low, high
        pos += 1
    else:
        lo, pos = _debian_number(s, pos, low, names, term)
        if s[pos] != "-":
            if s[pos] == "/":
                # Debian patch: "Unsupported syntax: Step specified without range".
                raise _FieldError("step specified without range (N/step)", pos, term)
            _set_range(bits, lo, lo, 1, low, high, start, term)
            return pos
        pos += 1
        hi, pos = _debian_number(s, pos, low, names, term)
    step = 1
    if s[pos] == "/":
        pos += 1
        step_at = pos
        step, pos = _debian_number(s, pos, 0, None, term)
        if step <= 0:
            raise _FieldError("step must be a positive number", step_at, term)
    # Debian's "Explicitly check for sane values" (e.g. 5-64/30): both ends of a range must be
    # inside the field even when the step would never reach the second one.
    for end in (lo, hi):
        if end < low or end > high:
            raise _FieldError(f"{end} is out of range {low}-{high}", start, term)
    _set_range(bits, lo, hi, step, low, high, start, term)
    return pos


# --------------------------------------------------------------------------- busybox


def _busybox_macro(expr: str, word: str, col: int) -> CronSpec:
    key = word[1:]
    if key == "reboot":
        return _reboot_spec(expr, "busybox")
    if key not in _BUSYBOX_SPECIALS:
        # load_crontab: "continue; /* bad line (unrecognized '@foo') */" -- the line is dropped.
        raise CronSyntaxError(
            f"unrecognized special {word!r} (busybox drops the line; specials are case-sensitive)",
            token=word,
            column=col + 1,
        )
    hour, day, month, weekday = _BUSYBOX_SPECIALS[key]
    spec = _busybox_fields(expr, ["0", hour, day, month, weekday], [col] * 5)
    return CronSpec(**{**spec.__dict__, "macro": word})


_C_SPACE = " \t\n\v\f\r"


def _c_strtol(s: str, pos: int) -> tuple[int, int]:
    """``strtol(s+pos, &end, 10)`` on LP64 Linux: leading isspace and a sign are taken, the
    result saturates at LONG_MIN/LONG_MAX; no digits means no conversion (``end = nptr``)."""
    end = pos
    while end < len(s) and s[end] in _C_SPACE:
        end += 1
    sign = 1
    if end < len(s) and s[end] in "+-":
        sign = -1 if s[end] == "-" else 1
        end += 1
    digits_start = end
    while end < len(s) and s[end] in _ASCII_DIGITS:
        end += 1
    if end == digits_start:
        return 0, pos
    magnitude = _magnitude(s[digits_start:end])
    if sign < 0:
        return max(-magnitude, _LONG_MIN), end
    return min(magnitude, _LONG_MAX), end


def _busybox_field(
    text: str, modvalue: int, off: int, names: str | None
) -> tuple[list[bool], str | None]:
    """Transcription of busybox ``ParseField``; returns the table and the logged error, if any."""
    ary = [False] * modvalue
    s = text + "\0"
    ptr = 0
    n1 = -1
    n2 = -1
    while True:
        skip = 0
        if s[ptr] == "*":
            n1, n2 = 0, modvalue - 1
            skip = 1
            ptr += 1
        elif s[ptr] in _ASCII_DIGITS:
            # "n1 = strtol(ptr, &endp, 10) + off": a long stored in an int keeps 32 bits.
            value, ptr = _c_strtol(s, ptr)
            if n1 < 0:
                n1 = _wrap32(value + off)
            else:
                n2 = _wrap32(value + off)
            skip = 1
        elif names is not None:
            for i in range(0, len(names), 3):
                if s[ptr : ptr + 3].lower() == names[i : i + 3]:
                    ptr += 3
                    if n1 < 0:
                        n1 = i // 3
                    else:
                        n2 = i // 3
                    skip = 1
                    break
        if skip == 0:
            return ary, f"parse error at {text!r}"
        if s[ptr] == "-" and n2 < 0:
            ptr += 1
            continue
        if n2 < 0:
            n2 = n1
        if s[ptr] == "/":
            # "skip = strtol(ptr + 1, &endp, 10)": a missing number is 0, so only the first
            # value is set; a negative step never counts down to the next one either.
            step, ptr = _c_strtol(s, ptr + 1)
            skip = _wrap32(step)
        # fill array; busybox uses a failsafe of 1024 steps to stop an endless loop.
        s0 = 1
        failsafe = 1024
        n1 -= 1
        while True:
            n1 = _c_mod(n1 + 1, modvalue)
            s0 -= 1
            if s0 == 0:
                index = _c_mod(n1, modvalue)
                if index < 0:
                    raise _FieldError(
                        f"busybox writes outside its table for {text!r} (undefined behaviour)",
                        0,
                        text,
                    )
                ary[index] = True
                s0 = skip
            failsafe -= 1
            if failsafe == 0:
                return ary, f"parse error at {text!r} (busybox gave up after 1024 steps)"
            if n1 == n2:
                break
        if s[ptr] != ",":
            break
        ptr += 1
        n1 = n2 = -1
    if s[ptr] != "\0":
        return ary, f"parse error at {text!r}"
    return ary, None


def _c_mod(a: int, b: int) -> int:
    """C's ``%`` (truncates toward zero), which busybox's fill loop relies on."""
    r = abs(a) % b
    return -r if a < 0 else r


_BB_DOW = "sunmontuewedthufrisat"
_BB_MON = "janfebmaraprmayjunjulaugsepoctnovdec"


def _busybox_fields(expr: str, tokens: list[str], cols: list[int]) -> CronSpec:
    layout = (
        ("minute", 60, 0, None),
        ("hour", 24, 0, None),
        ("dom", 32, 0, None),
        ("month", 12, -1, _BB_MON),
        ("dow", 7, 0, _BB_DOW),
    )
    tables: dict[str, list[bool]] = {}
    warnings: list[str] = []
    for (fname, mod, off, names), text, col in zip(layout, tokens, cols, strict=True):
        try:
            ary, error = _busybox_field(text, mod, off, names)
        except _FieldError as err:
            raise CronSyntaxError(
                f"bad {FIELD_TITLES[fname]}: {err.reason}", field=fname, token=text, column=col + 1
            ) from None
        if error is not None:
            warnings.append(
                f"{FIELD_TITLES[fname]} {text!r}: busybox logs '{error}' and keeps the partial "
                f"table {_show(ary, fname)}"
            )
        tables[fname] = ary
    minute = frozenset(i for i, v in enumerate(tables["minute"]) if v)
    hour = frozenset(i for i, v in enumerate(tables["hour"]) if v)
    dom = frozenset(i for i, v in enumerate(tables["dom"]) if v and i >= 1)
    month = frozenset(i + 1 for i, v in enumerate(tables["month"]) if v)
    dow = frozenset(i for i, v in enumerate(tables["dow"]) if v)
    for fname, text in zip(FIELDS, tokens, strict=True):
        warnings.extend(
            f"{FIELD_TITLES[fname]} {text!r}: {digits[:24]}{'...' if len(digits) > 24 else ''} "
            f"is read as {c_int(digits)} (strtol's long stored in an int)"
            for digits in re.findall(r"[0-9]+", text)
            if _magnitude(digits) > _INT_MAX
        )
        if re.search(r"(^|,)[0-9]+/", text):
            warnings.append(f"{FIELD_TITLES[fname]} {text!r}: busybox reads N/step as just N")
    if tokens[2].startswith("*/"):
        warnings.append(
            f"day-of-month {tokens[2]!r}: busybox fills from index 0, so the days are "
            f"{sorted(dom)} (Vixie cron starts at 1)"
        )
    return CronSpec(
        expression=expr,
        dialect="busybox",
        minute=minute,
        hour=hour,
        dom=dom,
        month=month,
        dow=dow,
        min_star=tokens[0].startswith("*"),
        hr_star=tokens[1].startswith("*"),
        # FixDayDow: a table is "used" when any entry is clear; used fields OR, a full one
        # is cleared. The Vixie formula with "star = table full" gives the same day match.
        dom_star=all(tables["dom"]),
        dow_star=all(tables["dow"]),
        warnings=tuple(warnings),
    )


def _show(ary: list[bool], fname: str) -> str:
    values = [i for i, v in enumerate(ary) if v]
    if fname == "month":
        values = [v + 1 for v in values]
    if fname == "dom":
        values = [v for v in values if v >= 1]
    return "{" + ",".join(str(v) for v in values) + "}" if values else "{} (never matches)"
