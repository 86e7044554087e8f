"""The agent seam. OwlClaw's ``AgentRuntime.trigger_event(event_name, *, focus, payload,
tenant_id)`` is kept; results are normalised into ``AgentResult`` so that a run whose status is
``failed`` is a failure (OwlClaw recorded it as a success)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

AgentStatus = Literal["completed", "failed", "skipped"]


@dataclass(frozen=True)
class AgentResult:
    run_id: str
    status: AgentStatus
    llm_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    output: str | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class AgentRuntime(Protocol):
    """What the pipeline calls when the decision picks the agent. Implementations raise or
    return ``status="failed"`` on failure; both are treated as a failure by the pipeline."""

    async def trigger_event(
        self,
        event_name: str,
        *,
        focus: str | list[str] | None = None,
        payload: dict[str, Any] | None = None,
        tenant_id: str = "default",
    ) -> AgentResult | dict[str, Any]: ...
