"""Rows <-> records for the SQL ledger: what an execution or trigger state becomes in its
table (redacted, bounded, with its counting flags) and back."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from owlclaw_runtime.ledger import schema as s
from owlclaw_runtime.ledger.base import TriggerState
from owlclaw_runtime.redact import redact
from owlclaw_runtime.triggers.models import CronExecution, ExecutionStatus

OUTPUT_TAIL_LIMIT = 65536  # characters of job output kept per execution (the tail)
TRACEBACK_LIMIT = 65536
ERROR_MESSAGE_LIMIT = 16384


def _tail(text: str | None, limit: int) -> str | None:
    """Redacted, bounded tail. Redact a slightly larger window first so a secret straddling
    the cut is hidden before the cut is made."""
    if text is None:
        return None
    return redact(text[-2 * limit :])[-limit:]


def _head(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    return redact(text[: 2 * limit])[:limit]


def status_value(value: ExecutionStatus | str) -> str:
    return ExecutionStatus(value).value


def execution_row(e: CronExecution, now: datetime, app_name: str) -> dict[str, Any]:
    status = status_value(e.status)
    return {
        "tenant_id": e.tenant_id,
        "app_name": app_name,
        "execution_id": e.execution_id,
        "event_name": e.event_name,
        "status": status,
        "trigger_type": e.trigger_type,
        "scheduled_at": e.scheduled_at,
        "triggered_at": e.triggered_at,
        "started_at": e.started_at,
        "completed_at": e.completed_at,
        "duration_seconds": e.duration_seconds,
        "decision_mode": e.decision_mode,
        "migration_weight": float(e.migration_weight),
        "backend": e.backend,
        "agent_run_id": e.agent_run_id,
        "llm_calls": int(e.llm_calls),
        "tokens_in": int(e.tokens_in),
        "tokens_out": int(e.tokens_out),
        "cost_usd": float(e.cost_usd),
        "governance_checks": dict(e.governance_checks or {}),
        "skip_reason": e.skip_reason,
        "error_message": _head(e.error_message, ERROR_MESSAGE_LIMIT),
        "error_traceback": _tail(e.error_traceback, TRACEBACK_LIMIT),
        "retry_count": int(e.retry_count),
        "exit_code": e.exit_code,
        "output_tail": _tail(e.output_tail, OUTPUT_TAIL_LIMIT),
        "context": dict(e.context or {}),
        "recorded_at": now,
        "counted": status in s.COUNTED_STATUSES,
        "succeeded": status in s.SUCCESS_STATUSES,
    }


_EXECUTION_FIELDS = (
    "event_name",
    "execution_id",
    "tenant_id",
    "trigger_type",
    "scheduled_at",
    "triggered_at",
    "started_at",
    "completed_at",
    "duration_seconds",
    "decision_mode",
    "migration_weight",
    "backend",
    "agent_run_id",
    "llm_calls",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "governance_checks",
    "skip_reason",
    "error_message",
    "error_traceback",
    "retry_count",
    "exit_code",
    "output_tail",
    "context",
)


def execution_from_row(row: Mapping[Any, Any]) -> CronExecution:
    values = {name: row[name] for name in _EXECUTION_FIELDS}
    return CronExecution(status=ExecutionStatus(row["status"]), **values)


def trigger_state_from_row(row: Mapping[Any, Any]) -> TriggerState:
    weight = row["migration_weight"]
    return TriggerState(
        event_name=row["event_name"],
        tenant_id=row["tenant_id"],
        paused=bool(row["paused"]),
        migration_weight=None if weight is None or math.isnan(weight) else float(weight),
        shadow=None if row["shadow"] is None else bool(row["shadow"]),
        last_fired_at=row["last_fired_at"],
        updated_at=row["updated_at"],
    )
