"""The cron time model: dialect-exact parsing, matching, fire instants, superset and gate.

See docs/schedules.md for the semantics and the dialect version choices.
"""

from owlclaw_runtime.schedule.describe import describe, describe_spec
from owlclaw_runtime.schedule.fires import SEMANTICS, Schedule
from owlclaw_runtime.schedule.match import Matcher, day_matches, matches
from owlclaw_runtime.schedule.parse import parse
from owlclaw_runtime.schedule.spec import (
    DIALECTS,
    FIELDS,
    CronSpec,
    CronSyntaxError,
    UnsupportedScheduleError,
    canonical_dialect,
)
from owlclaw_runtime.schedule.zones import Transition, UnknownZoneError, ZoneTransitions, zone

__all__ = [
    "DIALECTS",
    "FIELDS",
    "SEMANTICS",
    "CronSpec",
    "CronSyntaxError",
    "Matcher",
    "Schedule",
    "Transition",
    "UnknownZoneError",
    "UnsupportedScheduleError",
    "ZoneTransitions",
    "canonical_dialect",
    "day_matches",
    "describe",
    "describe_spec",
    "matches",
    "parse",
    "zone",
]
