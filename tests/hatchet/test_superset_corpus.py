"""Every UTC superset expression the time model generates for real crontabs (the shared corpus
and the examples), in several zones, is accepted by the running engine's validator."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from owlclaw_runtime.errors import OwlClawError
from owlclaw_runtime.schedule import Schedule

from owlmigrate.crontab import LineKind, parse_crontab

pytestmark = pytest.mark.hatchet

ZONES = ["UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kathmandu"]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "legacy_crontabs"


def _schedules(paths: list[Path]) -> set[str]:
    found: set[str] = set()
    for path in paths:
        for system in (False, True):
            try:
                parsed = parse_crontab(
                    path.read_bytes(), path=str(path), dialect="debian", system=system
                )
            except OwlClawError:
                continue
            for line in parsed.lines:
                if line.kind == LineKind.JOB and line.schedule and line.schedule != "@reboot":
                    found.add(line.schedule)
    return found


def test_every_generated_superset_expression_is_accepted(corpus_files: list[Path]) -> None:
    if not os.environ.get("HATCHET_CLIENT_TOKEN"):
        pytest.skip(
            "HATCHET_CLIENT_TOKEN is not set: start the engine with `make hatchet-up` and "
            "`set -a; . .hatchet/env; set +a` (make test does both)"
        )
    from owlclaw_runtime.schedulers.hatchet import make_client

    examples = [p for p in EXAMPLES.rglob("*") if p.is_file() and p.suffix not in (".md", ".json")]
    schedules = _schedules([*corpus_files, *examples])
    assert len(schedules) > 50
    expressions: set[str] = set()
    for schedule in schedules:
        for zone in ZONES:
            try:
                model = Schedule(schedule, dialect="debian", timezone=zone)
            except OwlClawError:
                continue  # not a Debian expression (another dialect's syntax)
            expressions.update(model.utc_superset())
    assert len(expressions) > 100
    client = make_client()
    admin = client._client.admin
    prefix = f"superset-{uuid.uuid4().hex[:8]}"
    ordered = sorted(expressions)
    refused: list[tuple[str, str]] = []
    created: list[str] = []

    async def noop(input, ctx):  # type: ignore[no-untyped-def]  # never runs
        return None

    try:
        # one task per expression: a refusal names exactly the expression the engine rejects
        for index, expression in enumerate(ordered):
            task = client.task(name=f"{prefix}-{index}", on_crons=[expression])(noop)
            try:
                admin.put_workflow(task.to_proto())
                created.append(task.name)
            except Exception as exc:
                refused.append((expression, str(exc)[:200]))
    finally:
        names = set(created)
        for row in client.workflows.list(limit=1000).rows or []:
            if row.name in names:
                client.workflows.delete(row.metadata.id)
    assert refused == []
    assert len(created) == len(ordered)
