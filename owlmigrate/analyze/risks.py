"""Risk findings for one job. Each has a stable ``code``; messages say what a migration must keep.

Codes: reboot, anacron, never_fires, every_minute, dst_sensitive, dom_dow_or, dom_dow_star_and,
percent_stdin, percent_cut, random_delay, user_switch, unknown_user, overlap_guard,
output_discarded, mail_on_output, noop_on_systemd, secret_in_env, secret_in_command,
relative_path, dialect_quirk, source_ignored, tz_env_ignored.

Migration codes (markers and cut-over triggers, see :func:`migration_risk`): marker_unverified,
marker_without_trigger, marker_not_ours, marker_trigger_not_live, cut_over_marker_missing,
cut_over_line_active.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from owlclaw_runtime.redact import is_secret_name, redact
from owlclaw_runtime.schedule import CronSpec, CronSyntaxError, day_matches, zone

from owlmigrate.analyze.shell import ShellAnalysis
from owlmigrate.plan import Risk

# A strftime conversion right after the cut: "date +%Y-%m-%d" cut at "%" leaves "Y-..." as stdin.
_STRFTIME_START = re.compile(r"^[aAbBcCdDeFgGhHIjklmMnNpPrRsStTuUVwWxXyYzZ+:%](?![A-Za-z])")


@dataclass(slots=True)
class JobContext:
    """What the risk rules look at."""

    dialect: str
    kind: str
    schedule: str
    spec: CronSpec | None
    command: str
    command_raw: str
    stdin: str | None
    env: dict[str, str]
    user: str | None
    users: set[str]
    timezone: str
    semantics: str
    host_systemd: bool
    shell: ShellAnalysis
    warnings: tuple[str, ...] = ()
    source_runs: bool = True
    source_reason: str | None = None
    script_details: list[dict[str, Any]] = field(default_factory=list)
    cwd_resolved: bool = True
    relative: list[str] = field(default_factory=list)
    random_delay: int | None = None
    via_anacron: bool = False


def _risk(code: str, message: str) -> Risk:
    return Risk(code=code, message=redact(message))


@lru_cache(maxsize=512)
def _dst_days(tz: str, year: int) -> tuple[tuple[datetime, datetime, bool], ...]:
    """Local wall intervals [start, end) skipped (True) or repeated (False) in ``year``."""
    try:
        zt = zone(tz)
    except CronSyntaxError:
        return ()
    start = int(datetime(year, 1, 1, tzinfo=UTC).timestamp())
    end = int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp())
    out = []
    for tr in zt.transitions(start, end):
        before = datetime.fromtimestamp(tr.at + tr.before, tz=UTC).replace(tzinfo=None)
        after = datetime.fromtimestamp(tr.at + tr.after, tz=UTC).replace(tzinfo=None)
        if after > before:
            out.append((before, after, True))
        else:
            out.append((after, before, False))
    return tuple(out)


def dst_exposure(spec: CronSpec, tz: str, years: tuple[int, ...]) -> list[tuple[datetime, bool]]:
    """Wall times of the job that fall in a skipped (True) or repeated (False) interval."""
    hits: list[tuple[datetime, bool]] = []
    for year in years:
        for lo, hi, skipped in _dst_days(tz, year):
            t = lo
            while t < hi:
                if (
                    t.hour in spec.hour
                    and t.minute in spec.minute
                    and day_matches(spec, t.year, t.month, t.day)
                ):
                    hits.append((t, skipped))
                    break
                t += timedelta(minutes=1)
    return hits


def percent_is_cut(command: str, stdin: str) -> bool:
    """Whether an unescaped ``%`` most likely cut the command by accident: the part before it
    is not a complete shell command, it directly follows ``+`` (``date +%F``), a quote or a
    word character glued to a strftime conversion, or what follows reads as a date format."""
    from owlmigrate.analyze.shell import analyze_command

    if analyze_command(command).parse_error:
        return True
    if command.endswith(("+", "'", '"', "-", "_", "/", ".", ":")):
        return True
    return bool(_STRFTIME_START.match(stdin)) and not command.endswith(" ")


def job_risks(ctx: JobContext) -> list[Risk]:
    """Every risk rule applied to one job, in a stable order."""
    out: list[Risk] = []
    spec = ctx.spec
    sh = ctx.shell
    if not ctx.source_runs:
        out.append(_risk("source_ignored", f"the daemon never runs this job: {ctx.source_reason}"))
    if spec is not None and spec.reboot:
        out.append(
            _risk(
                "reboot",
                "@reboot runs once per boot (the daemon keeps a reboot lock file); it has no "
                "calendar instants and needs a start-up hook rather than a cron trigger",
            )
        )
    runs_anacron = any(c.base == "anacron" for c in sh.main) or any(
        "anacron" in d.get("commands", ()) for d in ctx.script_details
    )
    if ctx.kind == "anacron" or ctx.via_anacron or sh.anacron_guard or runs_anacron:
        out.append(
            _risk(
                "anacron",
                "anacron runs this by timestamps and uptime (period, delay, START_HOURS_RANGE), "
                "not at clock instants; an exact cron trigger cannot reproduce it",
            )
        )
    if spec is not None and not spec.reboot and spec.never_fires:
        out.append(_risk("never_fires", f"'{ctx.schedule}' matches no calendar day: it never runs"))
    if spec is not None and not spec.reboot and len(spec.minute) == 60 and len(spec.hour) == 24:
        out.append(_risk("every_minute", "runs every minute: overlapping runs are likely"))
    if spec is not None and not spec.reboot and ctx.kind in ("cron", "periodic"):
        now = datetime.now(UTC).year
        hits = dst_exposure(spec, ctx.timezone, (now, now + 1))
        if hits:
            when, skipped = hits[0]
            if ctx.semantics == "wallclock":
                what = "never runs then" if skipped else "runs twice"
            elif spec.is_wildcard:
                what = "loses those minutes" if skipped else "runs in both passes"
            else:
                what = (
                    "runs once right after the jump (cron's catch-up)"
                    if skipped
                    else "runs only in the first pass"
                )
            kind = "skipped" if skipped else "repeated"
            out.append(
                _risk(
                    "dst_sensitive",
                    f"{ctx.timezone}: {when:%Y-%m-%d %H:%M} is {kind} by a DST change; the job "
                    f"{what} ({ctx.semantics} semantics)",
                )
            )
    if spec is not None and not spec.reboot and ctx.dialect != "anacron":
        if not spec.dom_star and not spec.dow_star and (len(spec.dom) < 31 or len(spec.dow) < 7):
            out.append(
                _risk(
                    "dom_dow_or",
                    "day-of-month and day-of-week are both restricted, so cron runs the job when "
                    "EITHER matches (not both)",
                )
            )
        elif (spec.dom_star and not spec.dow_star and len(spec.dom) < 31) or (
            spec.dow_star and not spec.dom_star and len(spec.dow) < 7
        ):
            out.append(
                _risk(
                    "dom_dow_star_and",
                    "a day field starts with '*' but is not every day (e.g. */2), so cron ANDs "
                    "day-of-month and day-of-week where POSIX would OR them",
                )
            )
    if ctx.stdin is not None:
        cut_text = ctx.command
        if percent_is_cut(cut_text, ctx.stdin):
            out.append(
                _risk(
                    "percent_cut",
                    f"an unescaped % cuts the command to {cut_text!r}; the rest becomes stdin "
                    "(write \\% for a literal percent sign)",
                )
            )
        else:
            out.append(
                _risk(
                    "percent_stdin",
                    "text after % is fed to the job on stdin (each further % is a newline)",
                )
            )
    if spec is not None and getattr(spec, "randomized", False):
        out.append(
            _risk(
                "random_delay",
                "a cronie '~' range picks a random value each time crond loads the file: the "
                "instants are not deterministic",
            )
        )
    if ctx.random_delay:
        out.append(
            _risk(
                "random_delay",
                f"started up to {ctx.random_delay} minutes late at random (RANDOM_DELAY or "
                "anacron delay): the instants are not deterministic",
            )
        )
    for tool, target in sh.user_switches:
        out.append(_risk("user_switch", f"switches user with {tool} to {target}"))
    if ctx.user and ctx.users and ctx.user not in ctx.users:
        out.append(_risk("unknown_user", f"user {ctx.user!r} is not in etc/passwd"))
    for tool, lock in sh.locks:
        where = f" on {lock}" if lock else ""
        out.append(
            _risk(
                "overlap_guard",
                f"{tool}{where} keeps runs from overlapping; the trigger must keep max "
                "concurrency 1",
            )
        )
    discarded = sh.stdout == "discarded" and sh.stderr == "discarded"
    if discarded:
        out.append(_risk("output_discarded", "all output goes to /dev/null: failures are silent"))
    mailto = ctx.env.get("MAILTO")
    # busybox mails only when MAILTO is set (cl_mailto stays NULL otherwise); Vixie cron and
    # cronie mail the owner unless MAILTO is empty.
    mails = bool(mailto) if ctx.dialect == "busybox" else mailto != ""
    if mails and (sh.stdout == "cron" or sh.stderr == "cron"):
        to = mailto if mailto else f"the owner ({ctx.user or 'root'})"
        out.append(
            _risk(
                "mail_on_output",
                f"cron mails any output to {to}; after migration the output is kept in the ledger",
            )
        )
    systemd_noop = sh.systemd_guard or any(d.get("exits_on_systemd") for d in ctx.script_details)
    if systemd_noop:
        state = "this host runs systemd, so it" if ctx.host_systemd else "on a systemd host it"
        out.append(
            _risk(
                "noop_on_systemd",
                f"the job checks /run/systemd/system and does nothing when systemd runs "
                f"({state} is a no-op; a systemd timer does the work)",
            )
        )
    secret_env = sorted(
        k for k, v in ctx.env.items() if v and (is_secret_name(k) or redact(v) != v)
    )
    if secret_env:
        out.append(
            _risk(
                "secret_in_env",
                f"secret values in the environment ({', '.join(secret_env)}) are redacted in "
                "the plan; provide them to the runtime from a secret store",
            )
        )
    if redact(ctx.command_raw) != ctx.command_raw:
        out.append(
            _risk(
                "secret_in_command",
                "the command line holds a secret (redacted here); move it to a secret store",
            )
        )
    for path in ctx.relative:
        out.append(
            _risk(
                "relative_path",
                f"{path!r} is relative: it depends on the working directory (cron starts jobs "
                "in the user's home directory)",
            )
        )
    quirks = list(ctx.warnings)
    if ctx.dialect == "debian" and "CRON_TZ" in ctx.env:
        quirks.append("Debian cron ignores CRON_TZ: the job runs in the daemon's time zone")
    cron_tz = ctx.env.get("CRON_TZ")
    if cron_tz and ctx.dialect.startswith("cronie") and ctx.timezone != cron_tz:
        quirks.append(f"CRON_TZ={cron_tz!r} is not a known zone: glibc falls back to UTC")
    if "TZ" in ctx.env and "CRON_TZ" not in ctx.env:
        quirks.append("TZ changes the job's environment only, not when cron runs it")
    for text in quirks:
        out.append(_risk("dialect_quirk", text))
    return out


MIGRATION_RISKS: dict[str, str] = {
    "marker_unverified": (
        "{where} is disabled by a marker of trigger {trigger!r}, and no app was given to vouch "
        "for it (scan --app DIR): the job is left out of this plan; if no trigger runs it, it "
        "runs nowhere"
    ),
    "marker_without_trigger": (
        "{where} is disabled by a marker of trigger {trigger!r}, which the app has no trigger "
        "for: nothing runs this job"
    ),
    "marker_not_ours": (
        "{where} looks like an owlmigrate marker, not ours ({why}): kept as a plain comment, "
        "so nothing runs it; restore it only if you know it was disabled on purpose"
    ),
    "marker_trigger_not_live": (
        "{where} is disabled by our marker, but the journal says trigger {trigger!r} is not "
        "cut over ({why}): the job runs nowhere until it is cut over again or rolled back"
    ),
    "cut_over_marker_missing": (
        "trigger {trigger!r} is cut over, but its line at {where} no longer carries the marker "
        "cutover wrote ({why}); rolling it back cannot bring the line back from the file"
    ),
    "cut_over_line_active": (
        "trigger {trigger!r} is cut over and live, yet its line at {where} is active again "
        "without a marker: the job runs twice (cron and the trigger)"
    ),
}


def migration_risk(code: str, *, where: str, trigger: str, why: str = "") -> Risk:
    """A finding about our cutover markers or a cut-over trigger (codes in MIGRATION_RISKS)."""
    return _risk(code, MIGRATION_RISKS[code].format(where=where, trigger=trigger, why=why))
