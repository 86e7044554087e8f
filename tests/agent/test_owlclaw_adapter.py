"""OwlClaw's ``AgentRuntime`` dict results normalised into ``AgentResult``.

OwlClaw itself is not installable here, so a stand-in with its exact ``trigger_event``
signature and result dicts (reference/owlclaw.md section 3.3) plays the runtime."""

from __future__ import annotations

import importlib.util
import sys
import types
from typing import Any

import pytest
from owlclaw_runtime.agent.base import AgentResult, AgentRuntime
from owlclaw_runtime.agent.owlclaw_adapter import (
    OwlClawAgentAdapter,
    normalise_result,
    owlclaw_available,
)
from owlclaw_runtime.errors import ConfigurationError


class StandInRuntime:
    """Same signature and result shapes as owlclaw.agent.runtime.runtime.AgentRuntime."""

    def __init__(self, result: Any = None, error: Exception | None = None) -> None:
        self.result = result
        self.error = error
        self.calls: list[dict[str, Any]] = []
        self.is_initialized = False

    async def setup(self) -> None:
        self.is_initialized = True

    async def trigger_event(
        self,
        event_name: str,
        *,
        focus: str | None = None,
        payload: dict[str, Any] | None = None,
        tenant_id: str = "default",
    ) -> dict[str, Any]:
        self.calls.append(
            {"event_name": event_name, "focus": focus, "payload": payload, "tenant_id": tenant_id}
        )
        if self.error is not None:
            raise self.error
        return self.result


@pytest.mark.parametrize(
    ("raw", "status", "error", "llm_calls"),
    [
        pytest.param(
            {
                "status": "completed",
                "run_id": "r1",
                "iterations": 3,
                "final_response": "done",
                "tool_calls_total": 5,
            },
            "completed",
            None,
            3,
            id="completed",
        ),
        pytest.param(
            {"status": "skipped", "run_id": "r2", "reason": "agent_paused"},
            "skipped",
            "agent_paused",
            0,
            id="skipped-paused",
        ),
        pytest.param(
            {"status": "failed", "run_id": "r3", "error": "run timed out after 300.0s"},
            "failed",
            "run timed out after 300.0s",
            0,
            id="failed-timeout",
        ),
        pytest.param(
            {"status": "weird", "run_id": "r4"}, "failed", "agent status 'weird'", 0, id="unknown"
        ),
        pytest.param({"run_id": "r5"}, "failed", "agent status 'missing'", 0, id="no-status"),
    ],
)
def test_dict_results_are_normalised(
    raw: dict[str, Any], status: str, error: str | None, llm_calls: int
) -> None:
    result = normalise_result(raw)
    assert result.run_id == raw["run_id"]
    assert result.status == status
    assert result.error == error
    assert result.llm_calls == llm_calls


def test_tool_calls_are_not_taken_for_llm_calls_and_usage_is_kept() -> None:
    result = normalise_result(
        {
            "status": "completed",
            "run_id": "r",
            "iterations": 2,
            "tool_calls_total": 9,
            "llm_tokens_input": 1200,
            "llm_tokens_output": 80,
            "estimated_cost": "0.0031",
            "final_response": "ok PGPASSWORD=hunter2",
        }
    )
    assert (result.llm_calls, result.tokens_in, result.tokens_out) == (2, 1200, 80)
    assert result.cost_usd == pytest.approx(0.0031)
    assert result.output == "ok PGPASSWORD=***"
    assert result.details["tool_calls_total"] == 9


def test_a_non_dict_result_is_a_failure() -> None:
    result = normalise_result("done", run_id="x")
    assert (result.status, result.run_id) == ("failed", "x")
    assert result.error == "agent runtime returned str, not a result dict"
    same = AgentResult(run_id="a", status="completed")
    assert normalise_result(same) is same


async def test_the_adapter_passes_event_focus_payload_and_tenant() -> None:
    runtime = StandInRuntime({"status": "completed", "run_id": "r", "iterations": 1})
    adapter = OwlClawAgentAdapter(runtime)
    assert isinstance(adapter, AgentRuntime)
    await adapter.setup()
    assert runtime.is_initialized
    payload = {"trigger_type": "cron", "scheduled_at": "2026-11-27T02:30:00Z"}
    result = await adapter.trigger_event(
        "backup_db", focus=["backups", "db"], payload=payload, tenant_id="acme"
    )
    assert result.status == "completed"
    assert runtime.calls == [
        {"event_name": "backup_db", "focus": "backups", "payload": payload, "tenant_id": "acme"}
    ]
    assert runtime.calls[0]["payload"] is not payload  # OwlClaw mutates its payload


async def test_a_raised_error_becomes_a_failed_result() -> None:
    adapter = OwlClawAgentAdapter(
        StandInRuntime(error=RuntimeError("AgentRuntime.setup() must be called before run()"))
    )
    result = await adapter.trigger_event("job")
    assert result.status == "failed"
    assert result.error == "RuntimeError: AgentRuntime.setup() must be called before run()"


def test_a_runtime_without_trigger_event_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="not an agent runtime"):
        OwlClawAgentAdapter(object())


def test_from_app_dir_needs_the_owlclaw_package(monkeypatch: pytest.MonkeyPatch) -> None:
    installed = importlib.util.find_spec("owlclaw") is not None
    assert owlclaw_available() is installed
    if not installed:
        with pytest.raises(ConfigurationError, match="owlclaw package is not installed"):
            OwlClawAgentAdapter.from_app_dir("app", "/tmp")
    # with a module at OwlClaw's import path, the adapter builds AgentRuntime(agent_id, app_dir)
    built: list[tuple[str, str, dict[str, Any]]] = []

    class AgentRuntimeClass(StandInRuntime):
        def __init__(self, agent_id: str, app_dir: str, **kwargs: Any) -> None:
            super().__init__({"status": "completed", "run_id": "r"})
            built.append((agent_id, app_dir, kwargs))

    for name in ("owlclaw", "owlclaw.agent", "owlclaw.agent.runtime"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    module = types.ModuleType("owlclaw.agent.runtime.runtime")
    module.AgentRuntime = AgentRuntimeClass  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "owlclaw.agent.runtime.runtime", module)
    assert owlclaw_available()
    adapter = OwlClawAgentAdapter.from_app_dir("web", "/srv/app", model="gpt-4o-mini")
    assert isinstance(adapter.runtime, AgentRuntimeClass)
    assert built == [("web", "/srv/app", {"model": "gpt-4o-mini"})]
