"""The parsed form of a cron time specification: five field sets plus the daemon's star flags.

A :class:`CronSpec` is exactly what a daemon's parser leaves in memory (cronie/Debian
``entry->minute`` ... ``entry->dow`` bitsets and the ``MIN_STAR``/``HR_STAR``/``DOM_STAR``/
``DOW_STAR`` flags), so every later step (matching, DST handling, superset, description) works
from the daemon's own reading and never from the text.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass

from owlclaw_runtime.errors import OwlClawError

#: Dialects the parser reproduces. ``cronie`` is cronie 1.6.0-1.7.2 (1.7 behaviour, the default
#: for cronie hosts), ``cronie-1.5`` is cronie <= 1.5.7 (RHEL 8/9), ``cronie-head`` is upstream
#: after 1.7.2 (``X-0`` ranges read as ``X-7``), ``debian`` is Debian cron 3.0pl1-162.
DIALECTS: tuple[str, ...] = (
    "debian",
    "cronie",
    "cronie-1.5",
    "cronie-1.7",
    "cronie-head",
    "busybox",
)

#: Aliases folded onto the canonical dialect names.
DIALECT_ALIASES: dict[str, str] = {"cronie-1.7": "cronie", "vixie": "debian"}

FIELDS: tuple[str, ...] = ("minute", "hour", "dom", "month", "dow")
FIELD_TITLES: dict[str, str] = {
    "minute": "minute",
    "hour": "hour",
    "dom": "day-of-month",
    "month": "month",
    "dow": "day-of-week",
}
MACROS: tuple[str, ...] = (
    "@reboot",
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
)


def canonical_dialect(dialect: str) -> str:
    """Return the canonical dialect name, or raise :class:`CronSyntaxError` for an unknown one."""
    name = DIALECT_ALIASES.get(dialect, dialect)
    if name not in DIALECTS:
        raise CronSyntaxError(
            f"unknown cron dialect {dialect!r}; expected one of {', '.join(DIALECTS)}",
            token=dialect,
        )
    return name


class CronSyntaxError(OwlClawError):
    """The dialect's daemon would reject this expression; names the field, token and column."""


class UnsupportedScheduleError(OwlClawError):
    """The expression is valid but has no fixed instants (``@reboot``, cronie ``~`` ranges)."""


@dataclass(frozen=True)
class CronSpec:
    """A parsed cron time specification, as the dialect's daemon holds it in memory.

    ``dow`` uses 0-6 with Sunday 0 (the daemons' bit 7 is folded onto 0). For busybox, which has
    no star flags, ``dom_star``/``dow_star`` say whether the field's table is full (busybox
    ``FixDayDow``); the Vixie formula over them gives busybox's day match exactly.
    """

    expression: str
    dialect: str
    minute: frozenset[int]
    hour: frozenset[int]
    dom: frozenset[int]
    month: frozenset[int]
    dow: frozenset[int]
    min_star: bool
    hr_star: bool
    dom_star: bool
    dow_star: bool
    macro: str | None = None
    reboot: bool = False
    warnings: tuple[str, ...] = ()
    #: cronie ``~`` terms: the value is drawn at random when crond loads the file, so the sets
    #: hold every value it may draw, not the one it did draw.
    randomized: bool = False

    @property
    def is_wildcard(self) -> bool:
        """True when cron treats the job as a wildcard job for DST (minute or hour star)."""
        return self.min_star or self.hr_star

    @property
    def day_and(self) -> bool:
        """True when DOM and DOW are ANDed (either star flag), False when they are ORed."""
        return self.dom_star or self.dow_star

    @property
    def never_fires(self) -> bool:
        """True when no calendar minute can ever match (``0 0 31 2 *``, ``5-3``, @reboot)."""
        if self.reboot or not self.minute or not self.hour or not self.month:
            return True
        for month in self.month:
            longest = 29 if month == 2 else calendar.monthrange(2001, month)[1]
            dom_ok = any(1 <= d <= longest for d in self.dom)
            if self.day_and:
                # Over the 400-year Gregorian cycle every (month, day) falls on every weekday.
                if dom_ok and self.dow:
                    return False
            elif dom_ok or self.dow:
                return False
        return True

    def fields_dict(self) -> dict[str, list[int]]:
        """The five sets as sorted lists (the ``fields`` object of ``explain --json``)."""
        return {name: sorted(getattr(self, name)) for name in FIELDS}

    def flags_dict(self) -> dict[str, bool]:
        """The four star flags (the ``flags`` object of ``explain --json``)."""
        return {
            "min_star": self.min_star,
            "hr_star": self.hr_star,
            "dom_star": self.dom_star,
            "dow_star": self.dow_star,
        }
