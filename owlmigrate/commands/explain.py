"""``owlmigrate explain``: how a daemon reads a cron expression and when it runs it.

A thin adapter over :mod:`owlclaw_runtime.schedule`; ``explain - --json`` is the batch mode
(one expression per stdin line, one JSON object per output line, invalid lines included).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import click
from owlclaw_runtime.errors import OwlClawError
from owlclaw_runtime.schedule import (
    DIALECTS,
    CronSyntaxError,
    Schedule,
    UnsupportedScheduleError,
    describe_spec,
    parse,
    zone,
)
from owlclaw_runtime.schedule.fires import minute_to_datetime

ISO_Z = "%Y-%m-%dT%H:%M:%SZ"

#: At most this many runs are listed (``--count``, or the runs before ``--until``).
MAX_FIRES = 10_000
#: ``--from``/``--until`` must lie in this range: the zone and calendar code works on real
#: dates, and listing forward for 400 years from the upper bound stays below year 10000.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
#: ``--until`` at most this far after ``--from`` (the Gregorian calendar repeats every 400 years).
MAX_SPAN_YEARS = 400


class ExplainLimitError(Exception):
    """A bound of ``explain`` was exceeded; the CLI turns it into a usage error (exit 2)."""


def check_window(start: datetime, until: datetime | None, count: int | None) -> None:
    """Refuse (``ExplainLimitError``) windows and counts ``explain`` will not enumerate."""
    for value, option in ((start, "--from"), (until, "--until")):
        if value is not None and not (EARLIEST <= value < LATEST):
            raise ExplainLimitError(
                f"{option} {value.isoformat()} is outside the supported range "
                f"{EARLIEST.date().isoformat()} to {LATEST.date().isoformat()}"
            )
    if count is not None and count > MAX_FIRES:
        raise ExplainLimitError(f"--count {count} is above the limit of {MAX_FIRES} runs")
    if until is not None:
        if until < start:
            raise ExplainLimitError("--until is before --from")
        if until > start.replace(year=start.year + MAX_SPAN_YEARS, month=1, day=1):
            raise ExplainLimitError(
                f"--until is more than {MAX_SPAN_YEARS} years after --from "
                "(the calendar repeats every 400 years)"
            )


def parse_instant(value: str | None, option: str) -> datetime | None:
    """``value`` (ISO 8601, ``Z`` allowed; naive means UTC) as an aware datetime, or None."""
    if value is None:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 instant", param_hint=option
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # a naive instant is taken as UTC
    return parsed


def explain_one(
    expression: str,
    *,
    dialect: str,
    timezone: str,
    daemon_timezone: str | None,
    semantics: str | None,
    start: datetime,
    count: int | None,
    until: datetime | None,
    superset: bool = False,
) -> dict[str, Any]:
    """The ``explain --json`` object for one expression (invalid expressions included)."""
    out: dict[str, Any] = {
        "expression": expression,
        "dialect": dialect,
        "valid": False,
        "error": None,
        "fields": None,
        "flags": None,
        "reboot": None,
        "description": None,
        "warnings": [],
        "fires": [],
    }
    try:
        spec = parse(expression, dialect)
    except CronSyntaxError as exc:
        where = f" (field {exc.field}, column {exc.column})" if exc.field else ""
        out["error"] = f"{exc.message}{where}"
        return out
    out.update(
        valid=True,
        fields=spec.fields_dict(),
        flags=spec.flags_dict(),
        reboot=spec.reboot,
        description=describe_spec(spec),
        warnings=list(spec.warnings),
    )
    if count == 0 or spec.never_fires:
        return out
    try:
        schedule = Schedule(
            spec, timezone=timezone, semantics=semantics, daemon_timezone=daemon_timezone
        )
    except UnsupportedScheduleError as exc:
        out["warnings"].append(exc.message)
        return out
    u0 = -(-int(start.timestamp()) // 60)
    if until is not None:
        u1 = -(-int(until.timestamp()) // 60)
        minutes = list(islice(schedule.iter_minutes(u0, u1), MAX_FIRES + 1))
        if len(minutes) > MAX_FIRES:
            raise ExplainLimitError(
                f"{expression!r} runs more than {MAX_FIRES} times before --until "
                f"(the limit); use --count or an earlier --until"
            )
    else:
        minutes = list(islice(_forever(schedule, u0), count))
    out["fires"] = [minute_to_datetime(u).strftime(ISO_Z) for u in minutes]
    if superset:
        out["utc_superset"] = schedule.utc_superset()
    return out


def _forever(schedule: Schedule, u0: int):
    chunk = 366 * 1440
    for i in range(401):
        yield from schedule.iter_minutes(u0 + i * chunk, u0 + (i + 1) * chunk)


def _render_text(obj: dict[str, Any], timezone: str) -> str:
    lines = [obj["expression"]]
    lines.append(f"  {obj['description']}")
    for name in ("minute", "hour", "dom", "month", "dow"):
        values = obj["fields"][name]
        lines.append(f"  {name + ':':<7} {','.join(map(str, values)) if values else '(none)'}")
    stars = [k for k, v in obj["flags"].items() if v]
    lines.append(f"  flags:  {', '.join(stars) if stars else '(none)'}")
    if obj["reboot"]:
        lines.append("  runs once at boot (@reboot), never at a time of day")
    for warning in obj["warnings"]:
        lines.append(f"  warning: {warning}")
    if obj.get("utc_superset") is not None:
        lines.append(
            f"  UTC superset (UTC-only engines): {'; '.join(obj['utc_superset']) or '(none)'}"
        )
    if obj["fires"]:
        tz = zone(timezone).tz
        lines.append(f"  runs (UTC, then {timezone}):")
        for fire in obj["fires"]:
            local = datetime.strptime(fire, ISO_Z).replace(tzinfo=UTC).astimezone(tz)
            lines.append(f"    {fire}  {local.strftime('%Y-%m-%d %H:%M %Z')}")
    return "\n".join(lines)


@click.command("explain")
@click.argument("expressions", nargs=-1, required=True, metavar="EXPR...")
@click.option(
    "--dialect",
    type=click.Choice(list(DIALECTS)),
    default="debian",
    show_default=True,
    help="Which daemon's parser and DST handling to reproduce (cronie = 1.7 behaviour).",
)
@click.option(
    "--timezone", "timezone", default="UTC", show_default=True, help="Zone the job runs in."
)
@click.option(
    "--daemon-timezone",
    default=None,
    help="The cron daemon's own zone for a cronie CRON_TZ job (default: --timezone).",
)
@click.option(
    "--semantics",
    type=click.Choice(["daemon", "wallclock"]),
    default=None,
    help="DST semantics: daemon (cronie/Debian main loop) or wallclock (CRON_TZ, busybox). "
    "Default: wallclock for busybox, daemon otherwise.",
)
@click.option(
    "--from", "from_", default=None, help="List runs from this ISO instant (default: now)."
)
@click.option(
    "--count",
    type=click.IntRange(min=0),
    default=None,
    help=f"How many runs (default 5; 0 parses only; at most {MAX_FIRES}).",
)
@click.option(
    "--until",
    default=None,
    help=f"List every run before this ISO instant instead (at most {MAX_FIRES} runs, "
    f"{MAX_SPAN_YEARS} years).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per expression on stdout.")
def command(
    expressions: tuple[str, ...],
    dialect: str,
    timezone: str,
    daemon_timezone: str | None,
    semantics: str | None,
    from_: str | None,
    count: int | None,
    until: str | None,
    as_json: bool,
) -> None:
    """Show how the daemon reads EXPR (sets, star flags, description) and when it runs it.

    Use EXPR "-" to read one expression per line from stdin (batch mode); with --json each
    line gives one JSON object, invalid lines included ("valid": false). Exit 1 when any
    expression is invalid.

    \b
    Example:
      owlmigrate explain "0,30 2 * * *" --timezone America/New_York --from 2025-03-08
      printf '0 0 */2 * 1\\n5/15 * * * *\\n' | owlmigrate explain - --json --count 0
    """
    if count is not None and until is not None:
        raise click.UsageError("use either --count or --until, not both")
    start = parse_instant(from_, "--from") or datetime.now(UTC)
    end = parse_instant(until, "--until")
    if count is None and end is None:
        count = 5
    try:
        check_window(start, end, count)
    except ExplainLimitError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        zone(timezone)
        if daemon_timezone is not None:
            zone(daemon_timezone)
        Schedule(
            "* * * * *",
            dialect=dialect,
            timezone=timezone,
            semantics=semantics,
            daemon_timezone=daemon_timezone,
        )
    except OwlClawError as exc:
        raise click.UsageError(exc.message) from None
    invalid = 0
    for text in _inputs(expressions):
        try:
            obj = explain_one(
                text,
                dialect=dialect,
                timezone=timezone,
                daemon_timezone=daemon_timezone,
                semantics=semantics,
                start=start,
                count=count,
                until=end,
                superset=not as_json,
            )
        except ExplainLimitError as exc:
            raise click.UsageError(str(exc)) from None
        if not obj["valid"]:
            invalid += 1
        if as_json:
            click.echo(json.dumps(obj, separators=(",", ":")))
        elif obj["valid"]:
            click.echo(_render_text(obj, timezone))
        else:
            click.echo(f"owlmigrate: {text!r}: {obj['error']}", err=True)
    if invalid:
        raise click.exceptions.Exit(1)


def _inputs(expressions: tuple[str, ...]):
    for expr in expressions:
        if expr == "-":
            for line in sys.stdin:
                yield line.rstrip("\r\n")
        else:
            yield expr
