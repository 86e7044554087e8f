"""Plans built from crontab bytes with the real parser (what scan gives, minus the analysis),
for workflow tests that need exact byte spans without a whole host tree."""

from __future__ import annotations

import re
from pathlib import Path

from owlmigrate.crontab import LineKind, parse_crontab
from owlmigrate.plan import Host, Job, Plan, Source


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def plan_for(
    root: Path,
    files: dict[str, bytes],
    *,
    dialect: str = "debian",
    timezone: str = "UTC",
    host: str = "testhost",
) -> Plan:
    """Write ``files`` (path relative to ``root`` → bytes) and build the plan scan would give:
    jobs with their real byte spans from ``parse_crontab``. ``etc/crontab`` and ``etc/cron.d/*``
    are system files; anything else is a user crontab owned by its file name."""
    sources: list[Source] = []
    jobs: list[Job] = []
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        system = rel == "etc/crontab" or rel.startswith("etc/cron.d/")
        user = None if system else Path(rel).name
        parsed = parse_crontab(data, path=rel, dialect=dialect, system=system, user=user)
        digest = parsed.sha256  # without crontab(1)'s install header, as scan hashes it
        header = parsed.header_len
        sources.append(
            Source(
                path=rel,
                kind="system" if system else "user",
                user=user,
                runs=parsed.runs,
                reason=parsed.reason,
                sha256=digest,
            )
        )
        for line in parsed.lines:
            if line.kind not in (LineKind.JOB, LineKind.DISABLED_JOB):
                continue
            schedule = line.schedule or ""
            jobs.append(
                Job(
                    id=f"{_slug(rel)}_{line.number}",
                    source=rel,
                    line=line.number,
                    schedule=schedule,
                    user=line.user or user,
                    command=line.command or "",
                    stdin=line.stdin,
                    env=dict(line.env),
                    timezone=timezone,
                    daemon_timezone=timezone,
                    dialect=dialect,
                    semantics="daemon",
                    enabled=line.kind == LineKind.JOB,
                    kind="reboot" if schedule == "@reboot" else "cron",
                    source_sha256=digest,
                    span=(line.start - header, line.end - header),
                )
            )
    return Plan(
        host=Host(root=str(root), dialect=dialect, timezone=timezone, systemd=False, os_name=host),
        sources=sources,
        jobs=jobs,
    )
