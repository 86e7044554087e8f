"""Trigger configuration, executions and the registry."""

from __future__ import annotations

from typing import Any

from owlclaw_runtime.triggers.models import (
    CronExecution,
    CronTriggerConfig,
    ExecutionStatus,
)


def __getattr__(name: str) -> Any:
    # The registry pulls in the ledger (SQLAlchemy): imported on first use only, so the
    # records above stay cheap to import (``owlmigrate explain`` imports them).
    if name in ("CronTriggerRegistry", "UnknownTriggerError"):
        from owlclaw_runtime.triggers import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'owlclaw_runtime.triggers' has no attribute {name!r}")


__all__ = [
    "CronExecution",
    "CronTriggerConfig",
    "CronTriggerRegistry",
    "ExecutionStatus",
    "UnknownTriggerError",
]
