"""Counting a job's runs minute by minute: the promise is exactly one run per job per minute.

Pure functions (no I/O but reading a log's text): each job's script appends one tab-separated
line per run (see ``JOB_SCRIPT`` in ``world.py``), and :func:`tally` compares the minutes of those
lines with the minutes the job should have run in. Zero runs in a minute is a miss (a run lost),
two or more is a double (a run twice).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

# epoch, HH:MM:SS (UTC), id -un, $HOME, $LOGNAME, the parent's comm, the runner found upwards
FIELDS = ("epoch", "clock", "user", "home", "logname", "parent", "runner")


@dataclass(frozen=True)
class Run:
    """One line of a job's log: one run."""

    epoch: int
    clock: str
    user: str
    home: str
    logname: str
    parent: str
    runner: str  # "cron", "worker" or "unknown": the first cron/python ancestor of the script

    @property
    def minute(self) -> int:
        """The run's minute as epoch minutes (seconds // 60)."""
        return self.epoch // 60


class LogLineError(ValueError):
    """A log line that the job script cannot have written."""


def parse_runs(text: str, *, where: str = "<log>") -> list[Run]:
    """Every run in a job log's text; a malformed line raises :class:`LogLineError` naming it."""
    runs = []
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split("\t")
        if len(parts) != len(FIELDS) or not parts[0].isdigit():
            raise LogLineError(f"{where}:{number}: not a run line: {line!r}")
        runs.append(Run(int(parts[0]), *parts[1:]))
    return runs


def minute_label(minute: int) -> str:
    """``HH:MM`` (UTC) of an epoch minute."""
    return time.strftime("%H:%M", time.gmtime(minute * 60))


@dataclass
class Tally:
    """One job's runs over the minutes it had to run in."""

    job: str
    first: int
    last: int
    per_minute: dict[int, list[Run]] = field(default_factory=dict)
    outside: int = 0  # runs before ``first`` or after ``last`` (not judged)

    @property
    def minutes(self) -> list[int]:
        return list(range(self.first, self.last + 1))

    @property
    def runs(self) -> int:
        return sum(len(v) for v in self.per_minute.values())

    @property
    def doubles(self) -> list[int]:
        """Minutes with more than one run."""
        return [m for m in self.minutes if len(self.per_minute.get(m, [])) > 1]

    @property
    def misses(self) -> list[int]:
        """Minutes without a run."""
        return [m for m in self.minutes if not self.per_minute.get(m)]

    @property
    def exact(self) -> bool:
        return not self.doubles and not self.misses

    def cell(self, minute: int) -> str:
        """The count in ``minute`` and who ran each run: ``1c``, ``1w``, ``2cw``, ``0``."""
        if not self.first <= minute <= self.last:
            return "."
        runs = self.per_minute.get(minute, [])
        who = "".join(sorted(r.runner[:1] for r in runs))
        return f"{len(runs)}{who}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "first_minute": minute_label(self.first),
            "last_minute": minute_label(self.last),
            "minutes": len(self.minutes),
            "runs": self.runs,
            "doubles": [minute_label(m) for m in self.doubles],
            "misses": [minute_label(m) for m in self.misses],
            "runners": dict(Counter(r.runner for v in self.per_minute.values() for r in v)),
        }


def tally(job: str, runs: Iterable[Run], first: int, last: int) -> Tally:
    """Group ``runs`` by minute over ``[first, last]`` (epoch minutes, inclusive)."""
    if last < first:
        raise ValueError(f"{job}: empty window ({first} > {last})")
    out = Tally(job, first, last)
    for run in runs:
        if first <= run.minute <= last:
            out.per_minute.setdefault(run.minute, []).append(run)
        else:
            out.outside += 1
    return out


def table(tallies: Sequence[Tally]) -> str:
    """A minute-by-job table: each cell the runs in that minute and their runners (c cron,
    w worker, u unknown); ``.`` where the job was not expected; rows with a problem starred."""
    if not tallies:
        return "(no jobs)"
    first = min(t.first for t in tallies)
    last = max(t.last for t in tallies)
    names = [t.job for t in tallies]
    widths = [max(len(n), 4) for n in names]
    header = "minute  " + "  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True))
    lines = [header]
    for minute in range(first, last + 1):
        cells = [t.cell(minute) for t in tallies]
        bad = any(c not in (".", "1c", "1w") for c in cells)
        row = "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
        lines.append(f"{minute_label(minute)}{'*' if bad else ' '}  {row}")
    return "\n".join(lines)


def summarize(tallies: Sequence[Tally]) -> dict[str, int]:
    """Minutes observed, runs counted, doubled minutes and missed minutes over ``tallies``."""
    return {
        "jobs": len(tallies),
        "minutes_observed": sum(len(t.minutes) for t in tallies),
        "runs_counted": sum(t.runs for t in tallies),
        "doubles": sum(len(t.doubles) for t in tallies),
        "misses": sum(len(t.misses) for t in tallies),
    }
