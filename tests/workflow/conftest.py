"""Workflow fixtures: plans built from crontab bytes with the real parser, app directories."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

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
        digest = hashlib.sha256(data).hexdigest()
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
                    span=(line.start, line.end),
                )
            )
    return Plan(
        host=Host(root=str(root), dialect=dialect, timezone=timezone, systemd=False, os_name=host),
        sources=sources,
        jobs=jobs,
    )


@pytest.fixture
def make_plan(tmp_path: Path) -> Callable[..., Path]:
    """Build a plan over a fresh host root in tmp_path and write it; returns the plan path."""

    def make(files: dict[str, bytes], **kwargs: object) -> Path:
        root = tmp_path / "host"
        plan = plan_for(root, files, **kwargs)  # type: ignore[arg-type]
        target = tmp_path / "plan.json"
        plan.dump(target)
        return target

    return make


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A journal/ledger URL: a SQLite file, or a fresh PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    base: str = request.getfixturevalue("pg_url")
    schema = f"wf_{uuid.uuid4().hex[:16]}"
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(autouse=True)
def _no_switch_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests do not wait for the cutover's mid-minute window (tested on its own)."""
    monkeypatch.setenv("OWLMIGRATE_SWITCH_WINDOW", "off")
