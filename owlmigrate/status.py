"""The data behind ``owlmigrate status``: per trigger, its schedule, effective state, next runs,
success rate, breaker and last runs, as plain dicts (DESIGN.md section 6). Other views (the
migration stage) extend these dicts; nothing here prints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from owlclaw_runtime.app import OwlClawApp
from owlclaw_runtime.triggers.models import CronExecution, CronTriggerConfig
from owlclaw_runtime.triggers.registry import execution_to_dict

LAST_RUN_KEYS = (
    "execution_id",
    "status",
    "decision_mode",
    "scheduled_at",
    "triggered_at",
    "duration_seconds",
    "error_message",
)


def last_run(execution: CronExecution) -> dict[str, Any]:
    """One ``last_runs`` entry."""
    data = execution_to_dict(execution)
    return {key: data[key] for key in LAST_RUN_KEYS}


def trigger_status(
    app: OwlClawApp,
    config: CronTriggerConfig,
    *,
    now: datetime | None = None,
    next_count: int = 5,
    last_count: int = 5,
) -> dict[str, Any]:
    """The status object of one trigger, with exactly the keys of DESIGN.md section 6."""
    full = app.cron_registry.get_trigger_status(config.event_name, count=next_count, now=now)
    rows = app.ledger.history(config.event_name, tenant_id=app.tenant_id, limit=last_count)
    return {
        "event_name": config.event_name,
        "enabled": full["enabled"],
        "expression": config.expression,
        "timezone": config.timezone,
        "migration_weight": full["migration_weight"],
        "next_runs": [run["utc"] for run in full["next_runs"]],
        "success_rate": full["success_rate"],
        "breaker": full["breaker"]["state"],
        "last_runs": [last_run(r) for r in rows],
    }


def build_status(
    app: OwlClawApp,
    event_name: str | None = None,
    *,
    now: datetime | None = None,
    next_count: int = 5,
    last_count: int = 5,
) -> dict[str, Any]:
    """``{"triggers": [...]}`` for every trigger, or for ``event_name`` only (raises
    ``UnknownTriggerError`` when there is no such trigger)."""
    registry = app.cron_registry
    configs = [registry.require(event_name)] if event_name else registry.list_triggers()
    data = {
        "triggers": [
            trigger_status(app, c, now=now, next_count=next_count, last_count=last_count)
            for c in configs
        ]
    }
    add_migration_stages(app, data)
    add_workers(app, data, now=now)
    return data


def add_workers(app: OwlClawApp, data: dict[str, Any], *, now: datetime | None = None) -> None:
    """For a generated app directory (like ``migration``: what the migration workflow needs),
    add ``workers`` (the app's heartbeats: host, pid, age, module fresh or stale, triggers
    served; ``owlmigrate.migration.handshake.workers``) and ``pending`` (one line per switch a
    killed command left pending, and who will settle it)."""
    if not _is_generated(app):
        return
    from owlclaw_runtime.loader import loaded_module

    from owlmigrate.migration.handshake import pending_notes, workers

    module = loaded_module(app)
    data["workers"] = workers(
        app.name,
        module.path if module is not None else None,
        app.ledger,
        now=now,
        tenant_id=app.tenant_id,
    )
    data["pending"] = pending_notes(app.ledger)


def _is_generated(app: OwlClawApp) -> bool:
    from pathlib import Path

    return app.app_dir is not None and (Path(app.app_dir) / "owlmigrate.json").is_file()


def add_migration_stages(app: OwlClawApp, data: dict[str, Any]) -> None:
    """For a generated app directory, add each trigger's ``migration`` object (stage: generated,
    cut over or legacy; weight and the steps behind it; shadow; paused) from the journal."""
    if not _is_generated(app):
        return
    from owlmigrate.migration import AppDir, stages_from

    app_dir = AppDir.load(app.app_dir)
    stages = stages_from(app_dir, app.ledger, tenant_id=app.tenant_id)
    jobs = app_dir.jobs
    for trigger in data["triggers"]:
        if trigger["event_name"] in stages:
            trigger["migration"] = stages[trigger["event_name"]]
        if "mail" in jobs.get(trigger["event_name"], {}):  # where the legacy job's mail goes
            trigger["mail"] = jobs[trigger["event_name"]]["mail"]
