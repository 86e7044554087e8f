"""owlclaw_runtime: what generated apps import at run time.

It never imports the ``owlmigrate`` toolkit. Public names are re-exported here as the pieces land.
Heavier names (the app, which pulls in the SQLAlchemy ledger) are imported lazily on first
attribute access, so ``import owlclaw_runtime.schedule`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from owlclaw_runtime.triggers.models import CronExecution, CronTriggerConfig, ExecutionStatus

# public name -> module that defines it (imported on first access)
_LAZY: dict[str, str] = {
    "AgentResult": "owlclaw_runtime.agent.base",
    "AgentRuntime": "owlclaw_runtime.agent.base",
    "CircuitBreaker": "owlclaw_runtime.breaker",
    "CronGovernance": "owlclaw_runtime.governance",
    "CronMail": "owlclaw_runtime.cronmail",
    "CronTriggerRegistry": "owlclaw_runtime.triggers.registry",
    "FocusManager": "owlclaw_runtime.agent.focus",
    "LegacyCommand": "owlclaw_runtime.legacy",
    "LegacyJobFailed": "owlclaw_runtime.legacy",
    "LegacyResult": "owlclaw_runtime.legacy",
    "OwlClawApp": "owlclaw_runtime.app",
    "PipelineRunFailed": "owlclaw_runtime.pipeline",
    "RetryStrategy": "owlclaw_runtime.retry",
    "build_agent_prompt": "owlclaw_runtime.agent.focus",
    "load_app": "owlclaw_runtime.loader",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'owlclaw_runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = ["CronExecution", "CronTriggerConfig", "ExecutionStatus", *sorted(_LAZY)]
__version__ = "0.1.0"
