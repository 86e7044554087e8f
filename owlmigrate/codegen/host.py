"""Read the real job text back from the host tree.

The plan is redacted (``owlclaw_runtime.redact``: tokens, passwords and keys become ``***``), so
it cannot be what the fallback runs. For every job generate reads the line at ``source`` +
``span``, checks the file against the scan's ``source_sha256`` (ignoring owlmigrate's own
cutover markers: only those the app's journal vouches for, see :mod:`owlmigrate.markers`; a
comment that merely looks like one stays a comment), and parses it again with the same
dialect to recover the exact command, stdin and environment. The ``run-parts`` line of a
periodic directory is found the same way by number. Only the generated module gets these
texts; the README and skills keep the redacted ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from owlmigrate.crontab import CrontabLine, parse_crontab
from owlmigrate.crontab.header import content_sha256
from owlmigrate.markers import AppRecord, ours, without


@dataclass(frozen=True)
class RealLine:
    """A job line's exact text and where it is."""

    command: str
    stdin: str | None
    env: dict[str, str]
    start: int
    end: int
    sha256: str


@dataclass
class HostLines:
    """Real texts per plan job id, per runner line ``(source, line)``, and jobs whose source
    changed since the scan (with the reason)."""

    jobs: dict[str, RealLine] = field(default_factory=dict)
    runners: dict[tuple[str, int], RealLine] = field(default_factory=dict)
    stale: dict[str, str] = field(default_factory=dict)


def _real(line: CrontabLine, digest: str, header: int) -> RealLine:
    # spans count from the end of crontab(1)'s install header (owlmigrate.crontab.header)
    return RealLine(
        command=line.command or "",
        stdin=line.stdin,
        env=dict(line.env),
        start=line.start - header,
        end=line.end - header,
        sha256=digest,
    )


def read_host_lines(plan: Mapping[str, Any], *, app: AppRecord | None = None) -> HostLines:
    """Parse every source the plan's jobs come from (or whose lines run a periodic directory),
    with the markers ``app`` vouches for removed (the lines as they were before cutover)."""
    host = plan.get("host", {}) or {}
    root = host.get("root")
    sources = {str(s.get("path")): s for s in plan.get("sources", []) or []}
    out = HostLines()
    parsed: dict[str, tuple[list[CrontabLine], str, str, int] | None] = {}

    def load(rel: str, dialect: str) -> tuple[list[CrontabLine], str, str, int] | None:
        if rel in parsed:
            return parsed[rel]
        source = sources.get(rel, {})
        path = Path(root) / rel if root else Path(rel)
        try:
            data = path.read_bytes()
        except OSError:
            parsed[rel] = None
            return None
        # our own cutover markers are not a change; anything else shaped like one is
        original = without(data, [m.name for m in ours(data, rel, app)])
        system = source.get("system_format")
        if system is None:
            system = source.get("kind") == "system"
        try:
            f = parse_crontab(
                original,
                path=rel,
                dialect=str(source.get("dialect") or dialect),
                system=bool(system),
                user=source.get("user"),
            )
        except ValueError:
            parsed[rel] = None
            return None
        parsed[rel] = (f.lines, content_sha256(original), content_sha256(data), f.header_len)
        return parsed[rel]

    for raw in plan.get("jobs", []) or []:
        rel = str(raw.get("source") or "")
        dialect = str(raw.get("dialect") or host.get("dialect") or "debian")
        runner = raw.get("runner")
        if isinstance(runner, Mapping) and runner.get("source") and runner.get("line"):
            key = (str(runner["source"]), int(runner["line"]))
            loaded = load(key[0], dialect)
            if loaded is not None and key not in out.runners:
                for line in loaded[0]:
                    if line.number == key[1] and line.command is not None:
                        out.runners[key] = _real(line, loaded[1], loaded[3])
        span = raw.get("span")
        if not rel or not span or raw.get("kind") not in (None, "cron"):
            continue
        loaded = load(rel, dialect)
        if loaded is None:
            out.stale[str(raw["id"])] = (
                f"its source {rel} cannot be read (generate runs the real line; the plan's text "
                "is redacted)"
            )
            continue
        lines, digest, marked_digest, header = loaded
        # A plan scanned after a cutover hashed the file with our markers in it; markers are
        # prefixes, so line numbers are the same in both and the line is found by number. Spans
        # and hashes in the manifest are always those of the marker-free file.
        if raw.get("source_sha256") and raw["source_sha256"] not in (digest, marked_digest):
            out.stale[str(raw["id"])] = f"{rel} changed since the scan (rescan, then generate)"
            continue
        number = raw.get("line")
        for line in lines:
            found = line.number == number if number else line.start - header == int(span[0])
            if found and line.command is not None:
                out.jobs[str(raw["id"])] = _real(line, digest, header)
                break
    return out
