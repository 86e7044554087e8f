"""Records shared by every part of the runtime: trigger configuration, executions, statuses.

The public shape follows OwlClaw's seed (``CronTriggerConfig``, ``CronExecution``,
``ExecutionStatus``); the extra fields are what exact scheduling, the legacy job and an honest
ledger need (reference/owlclaw.md section 2.1 and the bug list in section 3.9).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FallbackStrategy = Literal["on_failure", "always", "never"]
OverlapPolicy = Literal["allow", "skip", "queue"]
Semantics = Literal["daemon", "wallclock"]
Dialect = Literal["debian", "cronie", "cronie-1.5", "cronie-head", "busybox"]


class ExecutionStatus(enum.StrEnum):
    """Lifecycle of one execution. ``skipped`` never counts as a failure, a daily run or a
    cooldown start (OwlClaw's breaker latched open because it did)."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"
    FALLBACK = "fallback"

    @property
    def is_terminal(self) -> bool:
        return self in (self.SUCCESS, self.FAILED, self.SKIPPED, self.FALLBACK)

    @property
    def is_success(self) -> bool:
        """A run that did its job, by the agent (success) or by the fallback (fallback)."""
        return self in (self.SUCCESS, self.FALLBACK)

    @property
    def counts_as_execution(self) -> bool:
        """Whether the row is a real execution for breaker, daily-run and cooldown purposes."""
        return self in (self.SUCCESS, self.FAILED, self.FALLBACK)


class CronTriggerConfig(BaseModel):
    """Everything the runtime knows about one trigger. Unknown keys are refused by name."""

    model_config = ConfigDict(
        extra="forbid", arbitrary_types_allowed=True, validate_assignment=True
    )

    # identity
    event_name: str
    expression: str
    description: str | None = None
    # exact scheduling: the legacy expression is kept as written, with its zone, dialect and
    # DST semantics (DESIGN.md section 3, "exact by construction")
    timezone: str = "UTC"
    dialect: Dialect = "debian"
    semantics: Semantics = "daemon"
    daemon_timezone: str | None = None  # cronie CRON_TZ jobs: the daemon's own zone
    # agent
    focus: str | list[str] | None = None
    # fallback and progressive migration
    fallback_handler: Callable[..., Any] | None = None
    fallback_strategy: FallbackStrategy = "on_failure"
    migration_weight: float = 1.0
    shadow: bool = False  # fire and record "skipped: shadow" without running anything
    # governance
    max_cost_per_run: float | None = None
    max_daily_cost: float | None = None
    max_duration: float | None = None  # seconds; the execution timeout
    cooldown_seconds: float = 0
    max_daily_runs: int | None = None
    max_concurrency: int = 1
    overlap_policy: OverlapPolicy = "allow"
    # reliability
    retry_on_failure: bool = True
    max_retries: int = 3
    retry_delay_seconds: float = 60
    retry_backoff_factor: float = 2.0
    retry_max_delay_seconds: float = 300
    catch_up: bool = False  # run instants missed while the scheduler was down
    # breaker
    breaker_window: int = 10
    breaker_threshold: float = 0.5
    breaker_recovery_seconds: float = 300
    # metadata
    priority: int = 0
    tags: list[str] = Field(default_factory=list)
    enabled: bool = True

    @field_validator("event_name", "expression")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        return value

    @field_validator("migration_weight")
    @classmethod
    def _weight_in_range(cls, value: float) -> float:
        if isinstance(value, bool) or not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"migration_weight must be in [0, 1], got {value!r}")
        return float(value)

    @field_validator("max_concurrency", "max_retries", "breaker_window")
    @classmethod
    def _non_negative_int(cls, value: int) -> int:
        if value < 0:
            raise ValueError("must be >= 0")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CronTriggerConfig:
        if not 0.0 < self.breaker_threshold <= 1.0:
            raise ValueError("breaker_threshold must be in (0, 1]")
        return self


@dataclass
class CronExecution:
    """One execution of a trigger, persisted whole in the ledger (no field is dropped)."""

    event_name: str
    status: ExecutionStatus = ExecutionStatus.PENDING
    execution_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    tenant_id: str = "default"
    trigger_type: str = "cron"  # cron | manual | catchup | shadow
    scheduled_at: datetime | None = None  # the instant the schedule called for (UTC)
    triggered_at: datetime | None = None  # when the runtime picked it up (UTC)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_seconds: float | None = None
    decision_mode: str = "fallback"  # agent | fallback
    migration_weight: float = 0.0
    backend: str = "local"
    agent_run_id: str | None = None
    llm_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    governance_checks: dict[str, Any] = field(default_factory=dict)
    skip_reason: str | None = None
    error_message: str | None = None
    error_traceback: str | None = None
    retry_count: int = 0
    exit_code: int | None = None
    output_tail: str | None = None  # redacted, bounded
    context: dict[str, Any] = field(default_factory=dict)
