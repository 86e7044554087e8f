"""Records of a parsed crontab: one :class:`CrontabLine` per line, with its exact byte span.

The invariant every consumer relies on (cutover and rollback edit lines byte for byte):
``b"".join(line.raw for line in f.lines) == data``. A busybox line continued with a trailing
backslash is one logical line covering several physical lines (``number``..``end_number``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from owlmigrate.crontab.header import content_sha256, install_header


class LineKind(enum.StrEnum):
    """What the daemon makes of a line."""

    JOB = "job"
    ENV = "env"
    COMMENT = "comment"
    BLANK = "blank"
    DISABLED_JOB = "disabled_job"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class AnacronEntry:
    """The fields of an anacrontab job line (``period delay job-id command``)."""

    period: str
    delay: int
    job_id: str


@dataclass(slots=True)
class CrontabLine:
    """One (logical) line of a crontab file.

    ``start``/``end`` are byte offsets into the file (end exclusive, newline included) and
    ``raw`` the bytes between them. For JOB and DISABLED_JOB lines ``schedule`` holds the time
    fields (single-space joined) or the macro, ``command`` the command after cron's ``%``
    processing, ``command_raw`` the command as written and ``stdin`` what cron feeds the job (or
    None). ``env`` is the environment the daemon has accumulated when it reaches the line (for an
    ENV line, including the line's own assignment). ``error`` says why an INVALID line is refused.
    """

    number: int
    start: int
    end: int
    raw: bytes
    kind: LineKind
    end_number: int = 0
    schedule: str | None = None
    user: str | None = None
    command: str | None = None
    command_raw: str | None = None
    stdin: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    name: str | None = None
    value: str | None = None
    error: str | None = None
    warnings: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    spec: Any = None
    anacron: AnacronEntry | None = None

    def __post_init__(self) -> None:
        if not self.end_number:
            self.end_number = self.number

    @property
    def text(self) -> str:
        """The line decoded as cron sees it (bytes that are not UTF-8 kept as surrogates)."""
        return self.raw.decode("utf-8", "surrogateescape")

    @property
    def is_job(self) -> bool:
        """True for lines that describe a job, enabled or commented out."""
        return self.kind in (LineKind.JOB, LineKind.DISABLED_JOB)


@dataclass(slots=True)
class CrontabFile:
    """A parsed crontab: every line classified, plus whether the daemon loads the file at all.

    ``runs`` is False (with a ``reason``) when the daemon would ignore the whole file (Debian on
    any bad line or a missing final newline). ``errors`` lists ``(line, message)`` for every line
    the daemon refuses or reads in a surprising way.
    """

    path: str
    dialect: str
    system: bool
    data: bytes
    lines: list[CrontabLine]
    runs: bool = True
    reason: str | None = None
    errors: list[tuple[int | None, str]] = field(default_factory=list)
    format: str = "crontab"

    @property
    def sha256(self) -> str:
        """SHA-256 of the file's content (its bytes without ``crontab(1)``'s install header,
        which changes on every install), so later edits can check the file is unchanged."""
        return content_sha256(self.data)

    @property
    def header_len(self) -> int:
        """Bytes of ``crontab(1)``'s install header at the top (0 when there is none): byte spans
        in plans and manifests count from the end of it."""
        return len(install_header(self.data))

    @property
    def jobs(self) -> list[CrontabLine]:
        """The job lines the daemon runs (when the file runs at all)."""
        return [ln for ln in self.lines if ln.kind is LineKind.JOB]

    def line(self, number: int) -> CrontabLine:
        """The logical line that covers physical line ``number`` (1-based)."""
        for ln in self.lines:
            if ln.number <= number <= ln.end_number:
                return ln
        raise KeyError(number)
