"""``parse_crontab``: classify every line of a crontab the way one cron daemon reads it.

Dialects: ``debian`` (Vixie cron 3.0pl1 with Debian's patches), ``cronie`` (Fedora/RHEL; also
``cronie-1.5`` and ``cronie-head``, which differ only in time fields) and ``busybox`` (crond).
Time fields are checked by :func:`owlclaw_runtime.schedule.parse`, the one parser of the
project; this module only finds the fields, the user, the command and the environment.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from owlclaw_runtime.schedule import CronSyntaxError
from owlclaw_runtime.schedule import parse as parse_schedule

from owlmigrate.crontab.command import split_percent
from owlmigrate.crontab.env import parse_busybox_env, parse_env_line
from owlmigrate.crontab.model import CrontabFile, CrontabLine, LineKind

DIALECTS = ("debian", "cronie", "cronie-1.5", "cronie-head", "busybox")

# Debian crontab(5): "the command ... must not exceed 998 characters" (MAX_COMMAND 1000, and
# get_string stops one short); Debian's MAX_TAB_LINES.
DEBIAN_MAX_COMMAND = 998
DEBIAN_MAX_LINES = 10000
# cronie MAX_COMMAND: longer commands are cut silently by get_string().
CRONIE_MAX_COMMAND = 131072
# busybox crond MAXLINES for non-root users (root: 65535); ``if (!--maxLines) break``.
BUSYBOX_MAX_LINES = 256
BUSYBOX_MAX_LINES_ROOT = 65535

# Example jobs in the headers that Debian and Ubuntu ship (crontab -e template, /etc/crontab):
# they parse as jobs but are documentation, never disabled jobs.
STOCK_EXAMPLES = frozenset(
    {
        "0 5 * * 1 tar -zcf /var/backups/home.tgz /home/",
        "* * * * * user-name command to be executed",
        "* * * * * command to be executed",
        "* * * * * user command to be executed",
        "* * * * * username command to be executed",
        "* * * * * user-name  command to be executed",
    }
)

_BLANKS = " \t"
# A commented-out job starts with a time field or a macro (cronie also allows "~" and "-").
_JOB_START = frozenset("0123456789*@~-")

# "NAME=" with nothing after it: an env line for cronie, a bad job line for Debian.
_EMPTY_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*[ \t]*=[ \t\r]*$")

# Five blank-separated fields and the blanks after them (the common case of load_entry's
# get_list calls; anything else takes the token-by-token path).
_FIVE_FIELDS = re.compile(
    r"([^ \t]+)[ \t]+([^ \t]+)[ \t]+([^ \t]+)[ \t]+([^ \t]+)[ \t]+([^ \t]+)[ \t]*"
)

_spec_cache: dict[tuple[str, str], object] = {}


def _spec(schedule: str, dialect: str) -> object:
    """Parse through owlclaw_runtime.schedule, cached: real crontabs repeat expressions."""
    key = (schedule, dialect)
    found = _spec_cache.get(key)
    if found is None:
        try:
            found = parse_schedule(schedule, dialect=dialect)
        except CronSyntaxError as exc:
            found = exc
        if len(_spec_cache) > 50000:
            _spec_cache.clear()
        _spec_cache[key] = found
    if isinstance(found, CronSyntaxError):
        raise found
    return found


def _token(s: str, i: int) -> tuple[str, int]:
    """The run of non-blanks at ``i`` and the index after the blanks that follow it."""
    n = len(s)
    j = i
    while j < n and s[j] not in _BLANKS:
        j += 1
    k = j
    while k < n and s[k] in _BLANKS:
        k += 1
    return s[i:j], k


def _job_fields(
    s: str, dialect: str, system: bool
) -> tuple[str, str | None, str, tuple[str, ...]] | str:
    """Split a Vixie-family job line (leading blanks removed, no newline) into
    ``(schedule, user, command, flags)`` as ``load_entry`` does, or return an error message."""
    flags: tuple[str, ...] = ()
    if s.startswith("-") and dialect.startswith("cronie"):
        # cronie entry.c: "check for '-' as a first character" -> do not syslog this job.
        flags = ("no_log",)
        s = s[1:]
    if s.startswith("@"):
        macro, i = _token(s, 0)
        schedule = macro
    else:
        m = _FIVE_FIELDS.match(s)
        if m is not None:
            schedule = " ".join(m.groups())
            i = m.end()
        else:
            fields: list[str] = []
            i = 0
            for _ in range(5):
                if i >= len(s):
                    return f"incomplete line: {len(fields)} of the 5 time fields and no command"
                tok, i = _token(s, i)
                fields.append(tok)
            schedule = " ".join(fields)
    user = None
    if system:
        if i >= len(s):
            return "missing user name and command"
        user, i = _token(s, i)
        if user.startswith("*"):
            return "bad user name (a sixth time field?)"
    command = s[i:]
    if not command.strip(" \t\r"):
        return "missing command"
    return schedule, user, command, flags


def parse_crontab(
    data: bytes,
    *,
    path: str,
    dialect: str,
    system: bool,
    user: str | None = None,
    users: Collection[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> CrontabFile:
    """Classify every line of ``data`` as ``dialect``'s daemon would.

    ``system`` selects the format with a user column (``/etc/crontab``, ``/etc/cron.d/*``).
    ``user`` is the owner of a user crontab (busybox limits non-root files to 255 entries;
    cronie allows the ``-`` prefix only for root). ``users`` (from ``/etc/passwd``), when
    given, lets Debian reject system files naming an unknown user as its daemon does.
    ``env`` seeds the accumulated environment (never written back).
    The lines always join back to ``data`` byte for byte.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"unknown cron dialect {dialect!r} (expected one of {DIALECTS})")
    if dialect == "busybox":
        lines = _parse_busybox(data, user=user, env=dict(env or {}))
    else:
        lines = _parse_vixie(data, dialect, system, user, users, dict(env or {}))
    f = CrontabFile(path=path, dialect=dialect, system=system, data=data, lines=lines)
    f.errors = [(ln.number, ln.error) for ln in lines if ln.kind is LineKind.INVALID and ln.error]
    if dialect == "debian":
        if len(lines) > DEBIAN_MAX_LINES:
            f.runs = False
            f.reason = (
                f"the file has {len(lines)} lines; Debian cron refuses files over "
                f"{DEBIAN_MAX_LINES} lines"
            )
        bad = next((ln for ln in lines if ln.kind is LineKind.INVALID), None)
        if bad is not None:
            f.runs = False
            f.reason = f"line {bad.number}: {bad.error}; Debian cron ignores the whole file"
    return f


def _split_physical(data: bytes) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    pos = 0
    n = len(data)
    find = data.find
    while pos < n:
        nl = find(b"\n", pos)
        end = n if nl < 0 else nl + 1
        spans.append((pos, end))
        pos = end
    return spans


def _disabled(
    body: str, dialect: str, system: bool
) -> tuple[str, str | None, str, tuple[str, ...]] | None:
    """The job fields of a comment that is a commented-out job, else None."""
    content = body.lstrip(_BLANKS).lstrip("#").lstrip(_BLANKS)
    if not content or content[0] not in _JOB_START:
        return None
    check = "cronie" if dialect == "busybox" else dialect
    fields = _job_fields(content.rstrip("\r"), check, system)
    if isinstance(fields, str):
        return None
    schedule, _user, command, _flags = fields
    if " ".join(f"{schedule} {_user or ''} {command}".split()) in STOCK_EXAMPLES or (
        " ".join(f"{schedule} {command}".split()) in STOCK_EXAMPLES
    ):
        return None
    try:
        spec = _spec(schedule, check)
    except CronSyntaxError:
        return None
    if getattr(spec, "warnings", ()):
        return None  # prose that the lenient parser happens to accept is not a job
    return fields


def _fill_job(
    line: CrontabLine,
    fields: tuple[str, str | None, str, tuple[str, ...]],
    dialect: str,
) -> None:
    schedule, user, command_raw, flags = fields
    line.schedule = schedule
    line.user = user
    line.flags = flags
    line.command_raw = command_raw
    text = command_raw
    if dialect.startswith("cronie") and text.startswith("-n") and text[2:3] in (" ", "\t"):
        # cronie (commit ce7d5bf): "-n cmd" mails only when the job fails.
        line.flags = (*line.flags, "mail_on_failure_only")
        text = text[2:].lstrip(_BLANKS)
    command, stdin, _cut = split_percent(text, dialect)
    line.command = command
    line.stdin = stdin


def _parse_vixie(
    data: bytes,
    dialect: str,
    system: bool,
    owner: str | None,
    users: Collection[str] | None,
    env: dict[str, str],
) -> list[CrontabLine]:
    lines: list[CrontabLine] = []
    append = lines.append
    for number, (start, end) in enumerate(_split_physical(data), 1):
        raw = data[start:end]
        text = raw.decode("utf-8", "surrogateescape")
        has_nl = text.endswith("\n")
        body = text[:-1] if has_nl else text
        stripped = body.lstrip(_BLANKS)
        line = CrontabLine(number, start, end, raw, LineKind.BLANK, env=env)
        append(line)
        if not stripped:
            continue
        if stripped[0] == "#":
            fields = _disabled(stripped, dialect, system)
            if fields is None:
                line.kind = LineKind.COMMENT
            else:
                line.kind = LineKind.DISABLED_JOB
                _fill_job(line, fields, dialect)
            continue
        assignment = parse_env_line(body, dialect)
        if assignment is not None:
            if not has_nl:
                line.kind = LineKind.INVALID
                line.error = _missing_newline(dialect)
                continue
            name, value = assignment
            env = {**env, name: value}
            line.kind = LineKind.ENV
            line.name, line.value, line.env = name, value, env
            if not name:
                line.warnings = ("assignment with an empty name",)
            continue
        fields_or_error = _job_fields(stripped, dialect, system)
        line.kind = LineKind.INVALID
        if isinstance(fields_or_error, str):
            line.error = fields_or_error
            if dialect == "debian" and _EMPTY_ASSIGNMENT.match(stripped):
                line.error += ' (Debian cron needs quotes for an empty value: NAME="")'
            continue
        schedule, job_user, command_raw, flags = fields_or_error
        if "no_log" in flags and not system and owner not in (None, "root"):
            line.error = "the '-' prefix is allowed only in root's and system crontabs"
            continue
        if dialect == "debian" and schedule.startswith("-"):
            line.error = "bad minute (Debian cron has no '-' prefix)"
            continue
        try:
            line.spec = _spec(schedule, dialect)
        except CronSyntaxError as exc:
            line.error = str(exc) or "bad time specification"
            continue
        if dialect == "debian" and len(command_raw) > DEBIAN_MAX_COMMAND:
            line.error = f"command longer than {DEBIAN_MAX_COMMAND} characters"
            continue
        if dialect == "debian" and system and users is not None and job_user not in users:
            line.error = f"unknown user {job_user!r} (Debian: e_username)"
            continue
        if not has_nl:
            line.error = _missing_newline(dialect)
            continue
        line.kind = LineKind.JOB
        _fill_job(line, fields_or_error, dialect)
        warnings = list(getattr(line.spec, "warnings", ()))
        if dialect.startswith("cronie") and len(command_raw) > CRONIE_MAX_COMMAND:
            warnings.append(f"cronie cuts commands after {CRONIE_MAX_COMMAND} characters")
        if body.endswith("\r"):
            warnings.append("the line ends with a carriage return, which cron passes to the shell")
        line.warnings = tuple(warnings)
    return lines


def _missing_newline(dialect: str) -> str:
    if dialect == "debian":
        return "missing newline before EOF"
    return "missing newline before EOF; cron ignores the last line"


def _parse_busybox(data: bytes, *, user: str | None, env: dict[str, str]) -> list[CrontabLine]:
    """busybox crond ``load_crontab``: ``config_read(parser, tokens, 6, 1, "# \\t",
    PARSE_NORMAL | PARSE_KEEP_COPY)``; a ``#`` anywhere ends the line, a trailing backslash
    joins the next line, fewer than 6 fields means the line is skipped silently."""
    physical = _split_physical(data)
    lines: list[CrontabLine] = []
    budget = BUSYBOX_MAX_LINES_ROOT if user in (None, "root") else BUSYBOX_MAX_LINES
    i = 0
    while i < len(physical):
        start, end = physical[i]
        first = i
        text = data[start:end].decode("utf-8", "surrogateescape")
        body = text[:-1] if text.endswith("\n") else text
        # libbb get_line_with_continuation(): "\\\n" joins the next physical line.
        while body.endswith("\\") and i + 1 < len(physical):
            i += 1
            end = physical[i][1]
            more = data[physical[i][0] : end].decode("utf-8", "surrogateescape")
            body = body[:-1] + (more[:-1] if more.endswith("\n") else more)
        i += 1
        raw = data[start:end]
        line = CrontabLine(first + 1, start, end, raw, LineKind.BLANK, end_number=i, env=env)
        lines.append(line)
        stripped = body.lstrip(_BLANKS)
        if not stripped:
            continue
        if stripped[0] == "#":
            fields = _disabled(stripped, "busybox", False)
            if fields is None:
                line.kind = LineKind.COMMENT
            else:
                line.kind = LineKind.DISABLED_JOB
                _fill_job(line, fields, "busybox")
            continue
        budget -= 1
        if budget <= 0:
            line.kind = LineKind.INVALID
            line.error = "too many lines: busybox crond stops reading this file here"
            continue
        cut = stripped.split("#", 1)[0]
        tokens = _bb_tokens(cut)
        assignment = parse_busybox_env(tokens[0]) if tokens else None
        if assignment is not None:
            name, value = assignment
            env = {**env, name: value}
            line.kind = LineKind.ENV
            line.name, line.value, line.env = name, value, env
            continue
        line.kind = LineKind.INVALID
        if tokens and tokens[0].startswith("@"):
            if len(tokens) < 2:
                line.error = "macro without a command; busybox skips the line"
                continue
            macro = tokens[0]
            # The command comes from the unmodified copy of the line, so a '#' comment after
            # an @macro job stays in its command (crond: skip_whitespace(skip_non_whitespace(..)).
            _tok, after = _token(stripped, 0)
            command = stripped[after:]
            try:
                line.spec = _spec(macro, "busybox")
            except CronSyntaxError:
                line.error = f"unknown special time {macro!r}; busybox skips the line"
                continue
            line.kind = LineKind.JOB
            _fill_job(line, (macro, None, command, ()), "busybox")
            continue
        if len(tokens) < 6:
            if "=" in tokens[0]:
                line.error = (
                    "busybox crond only honours MAILTO=, SHELL= and PATH=; "
                    "this assignment is ignored"
                )
            else:
                line.error = "fewer than 6 fields; busybox skips the line"
            continue
        schedule = " ".join(tokens[:5])
        warnings: list[str] = []
        if "#" in stripped:
            dropped = stripped.split("#", 1)[1]
            warnings.append(f"busybox ends the line at '#': {('#' + dropped).strip()!r} is dropped")
        try:
            line.spec = _spec(schedule, "busybox")
            warnings.extend(getattr(line.spec, "warnings", ()))
        except CronSyntaxError as exc:
            # crond logs "parse error" and keeps the half-built fields: the line still runs.
            warnings.append(f"busybox keeps this line despite a parse error: {exc}")
        line.kind = LineKind.JOB
        _fill_job(line, (schedule, None, tokens[5], ()), "busybox")
        if tokens[5].endswith("\r"):
            warnings.append("the line ends with a carriage return, which cron passes to the shell")
        line.warnings = tuple(warnings)
    return lines


def _bb_tokens(s: str) -> list[str]:
    """Up to 6 blank-separated tokens, the last one greedy and trimmed of blanks (PARSE_GREEDY,
    PARSE_TRIM)."""
    tokens: list[str] = []
    i = 0
    n = len(s)
    while i < n and len(tokens) < 5:
        tok, i = _token(s, i)
        tokens.append(tok)
    if i < n:
        tokens.append(s[i:].rstrip(_BLANKS))
    return tokens
