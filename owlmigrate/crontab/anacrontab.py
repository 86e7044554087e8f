"""``/etc/anacrontab``, read as anacron's ``readtab.c`` reads it."""

from __future__ import annotations

import re

from owlmigrate.crontab.model import AnacronEntry, CrontabFile, CrontabLine, LineKind

# readtab.c parse_tab_line(): the three regular expressions anacron matches, in order.
_ENV = re.compile(r"^[ \t]*([^ \t=]+)[ \t]*=(.*)$")
_JOB = re.compile(r"^[ \t]*([0-9]+)[ \t]+([0-9]+)[ \t]+([^ \t/]+)[ \t]+([^ \t].*)$")
_PERIOD_JOB = re.compile(r"^[ \t]*(@[^ \t]+)[ \t]+([0-9]+)[ \t]+([^ \t/]+)[ \t]+([^ \t].*)$")
# "@monthly", "@yearly"/"@annually" are all anacron 2.3 knows besides numbers of days
# (cronie's anacron also takes @daily and @weekly).
PERIODS = {"@daily": 1, "@weekly": 7, "@monthly": 30, "@yearly": 365, "@annually": 365}


def parse_anacrontab(data: bytes, *, path: str) -> CrontabFile:
    """Classify every line of an anacrontab; job lines carry an :class:`AnacronEntry`.

    Anacron skips a line it cannot read ("Invalid syntax ... skipping this line") and runs the
    rest, so the file always runs. Assignments (``RANDOM_DELAY``, ``START_HOURS_RANGE``,
    ``MAILTO``...) accumulate like in crontabs and apply to the jobs after them.
    """
    lines: list[CrontabLine] = []
    env: dict[str, str] = {}
    pos = 0
    number = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        end = len(data) if nl < 0 else nl + 1
        number += 1
        raw = data[pos:end]
        text = raw.decode("utf-8", "surrogateescape").rstrip("\n")
        line = CrontabLine(number, pos, end, raw, LineKind.BLANK, env=env)
        lines.append(line)
        pos = end
        stripped = text.lstrip(" \t\r\f\v")
        if not stripped:
            continue
        if stripped.startswith("#"):
            line.kind = LineKind.COMMENT
            continue
        m = _ENV.match(text)
        if m:
            env = {**env, m[1]: m[2].strip(" \t\r")}
            line.kind = LineKind.ENV
            line.name, line.value, line.env = m[1], env[m[1]], env
            continue
        m = _JOB.match(text) or _PERIOD_JOB.match(text)
        if m is None:
            line.kind = LineKind.INVALID
            line.error = "invalid syntax; anacron skips this line"
            continue
        period, delay, job_id, command = m.groups()
        if period.startswith("@") and period not in PERIODS:
            line.kind = LineKind.INVALID
            line.error = f"unknown periodicity {period!r}; anacron skips this line"
            continue
        line.kind = LineKind.JOB
        line.schedule = period
        line.anacron = AnacronEntry(period=period, delay=int(delay), job_id=job_id)
        line.command = line.command_raw = command.rstrip("\r")
    f = CrontabFile(
        path=path, dialect="anacron", system=True, data=data, lines=lines, format="anacrontab"
    )
    f.errors = [(ln.number, ln.error) for ln in lines if ln.kind is LineKind.INVALID and ln.error]
    return f
