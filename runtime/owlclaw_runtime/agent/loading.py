"""Load an agent runtime from configuration (an object, or a ``"module:attr"`` import path)
and normalise what it returns into an :class:`AgentResult`."""

from __future__ import annotations

import importlib
from typing import Any

from owlclaw_runtime.agent.base import AgentResult, AgentRuntime
from owlclaw_runtime.errors import ConfigurationError


def load_agent(spec: AgentRuntime | str | None) -> AgentRuntime | None:
    """Resolve ``spec`` to an object with ``async trigger_event(...)``.

    A string is ``"package.module:attr"``; when ``attr`` is a class or a factory (a callable
    without ``trigger_event``) it is called with no arguments."""
    if spec is None:
        return None
    obj: Any = spec
    if isinstance(spec, str):
        module_name, sep, attr = spec.partition(":")
        if not sep or not module_name or not attr:
            raise ConfigurationError(
                f"agent must be given as 'module:attr', got {spec!r}", field="agent", token=spec
            )
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigurationError(
                f"cannot import agent module {module_name!r}: {exc}", field="agent", token=spec
            ) from exc
        obj = module
        try:
            for part in attr.split("."):
                obj = getattr(obj, part)
        except AttributeError as exc:
            raise ConfigurationError(
                f"module {module_name!r} has no attribute {attr!r}", field="agent", token=spec
            ) from exc
        if (not hasattr(obj, "trigger_event") and callable(obj)) or isinstance(obj, type):
            obj = obj()
    if not callable(getattr(obj, "trigger_event", None)):
        raise ConfigurationError(
            f"agent {spec!r} has no trigger_event(event_name, *, focus, payload, tenant_id)",
            field="agent",
        )
    return obj  # type: ignore[no-any-return]


def normalize_agent_result(result: Any) -> AgentResult:
    """Accept an :class:`AgentResult` or OwlClaw's plain dict (``status`` completed, failed or
    skipped; ``run_id``; ``tool_calls_total``; ``error`` or ``reason``)."""
    if isinstance(result, AgentResult):
        return result
    if not isinstance(result, dict):
        raise TypeError(f"agent returned {type(result).__name__}, expected AgentResult or dict")
    status = str(result.get("status", "completed")).lower()
    if status in ("success", "succeeded", "ok"):
        status = "completed"
    if status not in ("completed", "failed", "skipped"):
        status = "failed"
    cost = result.get("cost_usd", result.get("estimated_cost", 0.0)) or 0.0
    return AgentResult(
        run_id=str(result.get("run_id") or ""),
        status=status,  # type: ignore[arg-type]
        llm_calls=int(result.get("llm_calls", result.get("tool_calls_total", 0)) or 0),
        tokens_in=int(result.get("tokens_in", 0) or 0),
        tokens_out=int(result.get("tokens_out", 0) or 0),
        cost_usd=float(cost),
        output=result.get("final_response") or result.get("output"),
        error=result.get("error") or result.get("reason"),
        details={k: v for k, v in result.items() if k not in ("status", "run_id")},
    )
