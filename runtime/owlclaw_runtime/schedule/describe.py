"""Human descriptions that honour the Vixie DOM/DOW rule.

cron-descriptor reads day fields textually and always ORs them, so ``0 0 */2 * 1`` would come
out as "every 2 days, or on Monday" while cron runs it on odd days *that are* Mondays. We feed it
text rebuilt from the parsed sets (one parser for everything, STYLE.md point 9) and phrase the
AND-of-two-restricted-fields case ourselves.
"""

from __future__ import annotations

from cron_descriptor import ExpressionDescriptor, Options

from owlclaw_runtime.schedule.parse import parse
from owlclaw_runtime.schedule.spec import CronSpec

_DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_ALL_DOM = frozenset(range(1, 32))
_ALL_DOW = frozenset(range(7))


def compress(values: frozenset[int] | set[int], lo: int, hi: int, steps: bool = True) -> str:
    """Compact cron text for a set: ``*``, ``*/s``, ``a-b/s``, or a list of ranges and numbers."""
    vals = sorted(values)
    if vals == list(range(lo, hi + 1)):
        return "*"
    if steps and len(vals) >= 3:
        step = vals[1] - vals[0]
        if step > 1 and vals == list(range(vals[0], vals[-1] + 1, step)):
            if vals[0] == lo and vals[-1] + step > hi:
                return f"*/{step}"
            return f"{vals[0]}-{vals[-1]}/{step}"
    parts: list[str] = []
    i = 0
    while i < len(vals):
        j = i
        while j + 1 < len(vals) and vals[j + 1] == vals[j] + 1:
            j += 1
        if j - i >= 2:
            parts.append(f"{vals[i]}-{vals[j]}")
        else:
            parts.extend(str(v) for v in vals[i : j + 1])
        i = j + 1
    return ",".join(parts)


def _weekday_phrase(dow: frozenset[int]) -> str:
    names = [_DAY_NAMES[d] for d in sorted(dow)]
    if len(names) == 1:
        return f"a {names[0]}"
    return "a " + ", ".join(names[:-1]) + " or " + names[-1]


def _cron_descriptor(text: str) -> str:
    options = Options()
    options.use_24hour_time_format = True
    options.day_of_week_start_index_zero = True
    return str(ExpressionDescriptor(text, options).get_description())


_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _listing(values: frozenset[int], lo: int, hi: int, names: tuple[str, ...] | None = None) -> str:
    text = compress(values, lo, hi, steps=False)
    if names is None or text == "*":
        return text
    return ", ".join(
        "-".join(names[int(v) - (1 if names is _MONTH_NAMES else 0)] for v in part.split("-"))
        for part in text.split(",")
    )


def plain_description(spec: CronSpec) -> str:
    """Our own wording from the sets, for when cron-descriptor fails or would be wrong."""
    if spec.reboot:
        return "At system startup (@reboot), not at a time of day"
    if spec.never_fires:
        return "Never runs (no calendar day matches every field)"
    minute = compress(spec.minute, 0, 59, steps=False)
    hour = compress(spec.hour, 0, 23, steps=False)
    parts = [
        f"At {'every minute' if minute == '*' else 'minute ' + minute} past "
        f"{'every hour' if hour == '*' else 'hour ' + hour}"
    ]
    dom_full, dow_full = spec.dom >= _ALL_DOM, spec.dow >= _ALL_DOW
    dom = f"day-of-month {compress(spec.dom, 1, 31, steps=False)}"
    dow = _listing(spec.dow, 0, 6, _DAY_NAMES) if spec.dow else ""
    if spec.day_and:
        if not dom_full and not dow_full:
            parts.append(f"on {dom} if that day is also a {dow}")
        elif not dom_full:
            parts.append(f"on {dom}")
        elif not dow_full:
            parts.append(f"on {dow}")
    elif not (dom_full or dow_full):
        sides = [side for side, values in ((dom, spec.dom), (dow, spec.dow)) if values]
        parts.append("on " + " or ".join(sides))
    if spec.month != frozenset(range(1, 13)):
        parts.append(f"in {_listing(spec.month, 1, 12, _MONTH_NAMES)}")
    return ", ".join(parts)


def describe_spec(spec: CronSpec) -> str:
    """Description of an already parsed spec; never raises for a spec the parser accepted."""
    if spec.reboot or spec.never_fires:
        return plain_description(spec)
    minute = compress(spec.minute, 0, 59)
    hour = compress(spec.hour, 0, 23)
    month = compress(spec.month, 1, 12)
    dom_full = spec.dom >= _ALL_DOM
    dow_full = spec.dow >= _ALL_DOW
    suffix = ""
    if spec.day_and:
        dom = "*" if dom_full else compress(spec.dom, 1, 31, steps=False)
        dow = "*" if dow_full else compress(spec.dow, 0, 6, steps=False)
        if dom != "*" and dow != "*":
            # Vixie AND of two restricted fields (a star-led field, e.g. "*/2", is ANDed).
            suffix = f", but only if that day is also {_weekday_phrase(spec.dow)}"
            dow = "*"
    elif dom_full or dow_full:
        # OR with a full field: every day (``0 0 1-31 * 1`` runs daily).
        dom = dow = "*"
    else:
        # OR with an empty side (``0 0 1 1 7-0``: a reversed range sets nothing) is the other
        # side alone; never_fires above has excluded both being empty.
        dom = compress(spec.dom, 1, 31, steps=False) if spec.dom else "*"
        dow = compress(spec.dow, 0, 6, steps=False) if spec.dow else "*"
    try:
        text = _cron_descriptor(f"{minute} {hour} {dom} {month} {dow}")
    except Exception:  # cron-descriptor raises its own types on odd text; we never do
        return plain_description(spec)
    if not text or not text[0].isupper():
        return plain_description(spec)
    return text + suffix


def describe(expr: str, dialect: str = "debian") -> str:
    """A human description of ``expr`` as ``dialect``'s daemon reads it (DOM/DOW rule honoured)."""
    return describe_spec(parse(expr, dialect))
