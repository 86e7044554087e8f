"""The observer seam: the pipeline and schedulers report what happens here, and metrics, logs
and notifications subscribe. An observer that raises is logged and ignored: observation never
breaks a run."""

from __future__ import annotations

from datetime import datetime

from owlclaw_runtime.triggers.models import CronExecution, CronTriggerConfig


class RuntimeObserver:
    """Base class with no-op methods; subclasses override what they need."""

    def trigger_registered(self, config: CronTriggerConfig) -> None:
        """A trigger was added to the registry."""

    def trigger_fired(self, config: CronTriggerConfig, scheduled_at: datetime, runs: int) -> None:
        """The scheduler decided that ``runs`` executions are due for ``scheduled_at``."""

    def execution_started(self, config: CronTriggerConfig, execution: CronExecution) -> None:
        """An execution moved to running; ``execution.triggered_at - scheduled_at`` is the delay."""

    def execution_finished(
        self, config: CronTriggerConfig, execution: CronExecution, consecutive_failures: int
    ) -> None:
        """An execution reached a terminal status (success, fallback, failed or skipped) and was
        committed to the ledger. ``consecutive_failures`` counts the failed runs in a row,
        this one included (0 when it did not fail)."""

    def breaker_changed(self, config: CronTriggerConfig, state: str, previous: str) -> None:
        """The circuit breaker moved between closed, open and half_open."""

    def active_changed(self, active: int) -> None:
        """The number of executions in flight changed."""
