"""Agent side: runtime protocol, adapters, focus and skills."""

from owlclaw_runtime.agent.base import AgentResult, AgentRuntime

__all__ = ["AgentResult", "AgentRuntime"]
