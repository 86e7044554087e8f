"""What describes one run before and while the pipeline runs it: the instant handed over
(:class:`DueRun`), the trigger's effective state (:class:`EffectiveState`), the run's id and its
record with the context the job sees (:func:`new_execution`), and the UTC/ISO helpers they use.

Split out of :mod:`owlclaw_runtime.pipeline`, which re-exports the public names; these are
called on every run's start (the hot path), so they stay plain functions and cached strings.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from owlclaw_runtime.ledger.base import TriggerState
from owlclaw_runtime.triggers.models import CronExecution, CronTriggerConfig

if TYPE_CHECKING:
    from owlclaw_runtime.app import OwlClawApp

__all__ = [
    "DueRun",
    "EffectiveState",
    "effective_state",
    "new_execution",
    "new_execution_id",
]


class DueRun(NamedTuple):
    """One trigger's instant handed to :meth:`Pipeline.start_due` (``runs`` from its
    multiplicity)."""

    event_name: str
    scheduled_at: datetime
    runs: int = 1
    trigger_type: str = "cron"


@dataclass(frozen=True)
class EffectiveState:
    """A trigger's configuration with the ledger's durable overrides applied."""

    paused: bool
    migration_weight: float
    shadow: bool


def effective_state(config: CronTriggerConfig, state: TriggerState | None) -> EffectiveState:
    """Merge the configured values with a ledger override (``None`` fields keep the config)."""
    if state is None:
        return EffectiveState(not config.enabled, config.migration_weight, config.shadow)
    return EffectiveState(
        paused=state.paused or not config.enabled,
        migration_weight=(
            config.migration_weight if state.migration_weight is None else state.migration_weight
        ),
        shadow=config.shadow if state.shadow is None else state.shadow,
    )


def _jsonable(value: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(value, default=str))
    return loaded


def _jsonable_value(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("scheduled_at must be timezone-aware")
    return value.astimezone(UTC)


# The context's instants are whole UTC seconds: 1,000 runs starting in the same second share
# one string instead of formatting it 2,000 times (strftime was a tenth of a run's start).
_ISO_CACHE: dict[datetime, str] = {}


def _iso(value: datetime) -> str:
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    if value.microsecond:
        value = value.replace(microsecond=0)
    text = _ISO_CACHE.get(value)
    if text is None:
        if len(_ISO_CACHE) >= 64:
            _ISO_CACHE.clear()
        text = _ISO_CACHE[value] = value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return text


# uuid4().hex without uuid.UUID's checks and conversions (a run's id is made on the hot path):
# 122 random bits with the version (4) and variant (RFC 4122) bits set, as uuid4 does.
_UUID4_KEEP = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def new_execution_id() -> str:
    """A new execution id: a random UUID (version 4) as 32 hex digits, like ``uuid4().hex``."""
    number = int.from_bytes(os.urandom(16), "big") & _UUID4_KEEP | _UUID4_SET
    return f"{number:032x}"


def new_execution(
    app: OwlClawApp,
    config: CronTriggerConfig,
    scheduled: datetime,
    now: datetime,
    *,
    trigger_type: str,
    index: int,
    runs: int,
    context: dict[str, Any] | None = None,
    execution_id: str | None = None,
    retry_count: int = 0,
    scheduled_iso: str | None = None,
    now_iso: str | None = None,
) -> CronExecution:
    """The run's record and its context (``*_iso``: the instants as the context shows
    them, when the caller has them already)."""
    execution = CronExecution(
        event_name=config.event_name,
        execution_id=execution_id or new_execution_id(),
        tenant_id=app.tenant_id,
        trigger_type=trigger_type,
        scheduled_at=scheduled,
        triggered_at=now,
        backend=app.backend_name,
        retry_count=retry_count,
    )
    # Only values that may not be JSON go through the JSON round trip (it costs more
    # than the rest of a run's start when 1,000 runs start at once).
    focus = config.focus
    if focus is not None and not isinstance(focus, str):
        focus = _jsonable_value(focus)
    execution.context = {
        **(_jsonable(dict(context)) if context else {}),
        "trigger_type": trigger_type,
        "event_name": config.event_name,
        "cron_expression": config.expression,
        "timezone": config.timezone,
        "focus": focus,
        "scheduled_at": scheduled_iso or _iso(scheduled),
        "triggered_at": now_iso or _iso(now),
        "execution_id": execution.execution_id,
        "run_index": index,
        "runs": runs,
    }
    return execution
