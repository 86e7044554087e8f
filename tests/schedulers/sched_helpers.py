"""Helpers for the scheduler tests: a real app on a real SQLite ledger file, a virtual clock,
and a fallback that records what it was asked to run."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from owlclaw_runtime import OwlClawApp
from owlclaw_runtime.ledger import open_store
from owlclaw_runtime.schedulers import FakeClock, LocalScheduler


def utc(text: str) -> datetime:
    """``2026-03-08T07:00`` (or with seconds) as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class Calls:
    """What the fallbacks ran: one row per run, in the order they started."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, event: str, context: dict[str, Any]) -> None:
        with self.lock:
            self.rows.append({"event": event, **context})

    def instants(self, event: str | None = None, trigger_type: str | None = None) -> list[str]:
        return sorted(
            r["scheduled_at"]
            for r in self.rows
            if (event is None or r["event"] == event)
            and (trigger_type is None or r["trigger_type"] == trigger_type)
        )


def build_app(
    url: str,
    clock: FakeClock,
    calls: Calls,
    triggers: list[tuple[str, str, dict[str, Any]]],
    *,
    tenant_id: str = "default",
) -> OwlClawApp:
    """An app whose triggers' fallbacks record their context into ``calls``."""
    app = OwlClawApp("sched-test", ledger=open_store(url), clock=clock.now, tenant_id=tenant_id)
    for name, expression, options in triggers:

        def job(context: dict[str, Any], _name: str = name) -> None:
            calls.add(_name, context)

        app.cron(expression, event_name=name, migration_weight=0.0, **options)(job)
    return app


def scheduler(app: OwlClawApp, clock: FakeClock, **options: Any) -> LocalScheduler:
    options.setdefault("max_sleep_seconds", 3600)
    # These tests walk virtual days: the leader lock is asked every 10 virtual minutes (the
    # leadership tests choose their own interval).
    options.setdefault("leader_check_seconds", 600)
    return LocalScheduler(app, clock=clock, **options)
