"""An adapter for OwlClaw's own ``AgentRuntime`` (``owlclaw.agent.runtime.runtime``).

OwlClaw's ``trigger_event`` returns plain dicts (reference/owlclaw.md section 3.3):

- ``{"status": "completed", "run_id", "iterations", "final_response", "tool_calls_total", ...}``
- ``{"status": "skipped", "run_id", "reason": "agent_paused" | "heartbeat_no_events"}``
- ``{"status": "failed", "run_id", "error": "run timed out after …s"}``

OwlClaw's cron path ignored ``status`` and recorded every one of them as a success, and took
``tool_calls_total`` for the LLM call count (section 3.9 items 3 and 6). Here each dict becomes
an :class:`AgentResult`: ``failed`` (and any unknown status, a non-dict, or a raised error) is a
failure, ``skipped`` stays skipped, ``iterations`` (one LLM call each) is the call count, and
tokens and cost are kept when the runtime reports them.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Mapping
from typing import Any

from owlclaw_runtime.agent.base import AgentResult
from owlclaw_runtime.errors import ConfigurationError
from owlclaw_runtime.redact import redact

OWLCLAW_RUNTIME_MODULE = "owlclaw.agent.runtime.runtime"

_TOKENS_IN_KEYS = ("tokens_in", "llm_tokens_input", "prompt_tokens", "input_tokens")
_TOKENS_OUT_KEYS = ("tokens_out", "llm_tokens_output", "completion_tokens", "output_tokens")
_COST_KEYS = ("cost_usd", "estimated_cost", "cost")
_LLM_CALL_KEYS = ("llm_calls", "iterations")
_OUTPUT_KEYS = ("final_response", "output", "response")


def owlclaw_available() -> bool:
    """Whether the ``owlclaw`` package can be imported here."""
    try:
        importlib.import_module(OWLCLAW_RUNTIME_MODULE)
    except ImportError:
        return False
    return True


def _first_number(result: Mapping[str, Any], keys: tuple[str, ...]) -> float:
    for key in keys:
        value = result.get(key)
        if isinstance(value, bool) or value is None:
            continue
        try:
            return float(value)
        except (TypeError, ValueError):
            continue
    return 0.0


def normalise_result(result: Any, *, run_id: str | None = None) -> AgentResult:
    """Turn whatever an agent runtime returned into an :class:`AgentResult`.

    ``completed`` (or ``success``) is completed, ``skipped`` is skipped, everything else is
    failed, including a result that is not a mapping at all."""
    if isinstance(result, AgentResult):
        return result
    fallback_id = run_id or uuid.uuid4().hex
    if not isinstance(result, Mapping):
        return AgentResult(
            run_id=fallback_id,
            status="failed",
            error=f"agent runtime returned {type(result).__name__}, not a result dict",
        )
    raw_status = str(result.get("status", "")).strip().lower()
    error: str | None = None
    if raw_status in ("completed", "success", "succeeded"):
        status = "completed"
    elif raw_status == "skipped":
        status = "skipped"
        error = str(result.get("reason") or "skipped by the agent runtime")
    else:
        status = "failed"
        error = str(
            result.get("error")
            or result.get("reason")
            or f"agent status {raw_status or 'missing'!r}"
        )
    output = next((result[k] for k in _OUTPUT_KEYS if result.get(k) is not None), None)
    known = {"status", "run_id", "error", *_OUTPUT_KEYS}
    details = {k: v for k, v in result.items() if k not in known}
    return AgentResult(
        run_id=str(result.get("run_id") or fallback_id),
        status=status,  # type: ignore[arg-type]
        llm_calls=int(_first_number(result, _LLM_CALL_KEYS)),
        tokens_in=int(_first_number(result, _TOKENS_IN_KEYS)),
        tokens_out=int(_first_number(result, _TOKENS_OUT_KEYS)),
        cost_usd=_first_number(result, _COST_KEYS),
        output=redact(str(output)) if output is not None else None,
        error=redact(error) if error is not None else None,
        details=details,
    )


class OwlClawAgentAdapter:
    """Wraps an OwlClaw ``AgentRuntime`` (or anything with the same ``trigger_event``) so the
    pipeline gets :class:`AgentResult` values. Errors the runtime raises (``ValueError`` for bad
    arguments, ``RuntimeError`` before ``setup()``, provider errors) become failed results, so
    the trigger's fallback strategy applies."""

    def __init__(self, runtime: Any) -> None:
        if not callable(getattr(runtime, "trigger_event", None)):
            raise ConfigurationError(
                f"{type(runtime).__name__} has no trigger_event(): not an agent runtime",
                field="agent",
            )
        self.runtime = runtime

    def __repr__(self) -> str:
        return f"OwlClawAgentAdapter({type(self.runtime).__name__})"

    @classmethod
    def from_app_dir(cls, agent_id: str, app_dir: str, **kwargs: Any) -> OwlClawAgentAdapter:
        """Build OwlClaw's ``AgentRuntime(agent_id, app_dir, **kwargs)``; the caller awaits
        :meth:`setup` before the first run. Raises ``ConfigurationError`` when the ``owlclaw``
        package is not installed."""
        try:
            module = importlib.import_module(OWLCLAW_RUNTIME_MODULE)
        except ImportError as exc:
            raise ConfigurationError(
                "the owlclaw package is not installed; use OpenAIAgent or `pip install owlclaw`",
                field="agent",
            ) from exc
        return cls(module.AgentRuntime(agent_id, app_dir, **kwargs))

    async def setup(self) -> None:
        """Forward to the runtime's ``setup()`` when it has one (OwlClaw requires it)."""
        setup = getattr(self.runtime, "setup", None)
        if callable(setup):
            await setup()

    async def trigger_event(
        self,
        event_name: str,
        *,
        focus: str | list[str] | None = None,
        payload: dict[str, Any] | None = None,
        tenant_id: str = "default",
    ) -> AgentResult:
        """Run the wrapped runtime and normalise its answer. OwlClaw takes one focus string,
        so a list of foci is passed as its first entry."""
        one_focus = focus[0] if isinstance(focus, list) and focus else focus
        if isinstance(one_focus, list):
            one_focus = None
        try:
            result = await self.runtime.trigger_event(
                event_name, focus=one_focus, payload=dict(payload or {}), tenant_id=tenant_id
            )
        except Exception as exc:
            return AgentResult(
                run_id=uuid.uuid4().hex,
                status="failed",
                error=redact(f"{type(exc).__name__}: {exc}"),
            )
        return normalise_result(result)
