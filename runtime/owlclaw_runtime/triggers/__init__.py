"""Trigger configuration, executions and the registry."""

from owlclaw_runtime.triggers.models import (
    CronExecution,
    CronTriggerConfig,
    ExecutionStatus,
)

__all__ = ["CronExecution", "CronTriggerConfig", "ExecutionStatus"]
