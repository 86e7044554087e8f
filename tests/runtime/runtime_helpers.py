"""Test doubles for the runtime tests: a controllable clock, a sleep recorder, a scripted agent
(the LLM provider is the one thing that cannot run here), an observer that records calls and a
backend that records pause/resume (E's real backends have their own suite)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from owlclaw_runtime.agent.base import AgentResult
from owlclaw_runtime.observability.hooks import RuntimeObserver
from owlclaw_runtime.schedulers.base import SchedulerBackend
from owlclaw_runtime.triggers.models import CronExecution, CronTriggerConfig


class Clock:
    """A settable UTC clock."""

    def __init__(self, start: datetime | None = None) -> None:
        self.value = start or datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.value

    def advance(self, **kwargs: float) -> datetime:
        self.value += timedelta(**kwargs)
        return self.value

    def set(self, value: datetime) -> None:
        self.value = value


class SleepRecorder:
    """Records retry delays instead of sleeping; optionally advances a clock."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.delays: list[float] = []
        self.clock = clock

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.clock is not None:
            self.clock.advance(seconds=seconds)
        await asyncio.sleep(0)


@dataclass
class ScriptedAgent:
    """An agent whose results are scripted: each item is an AgentResult, a dict, an exception
    to raise, or a float (seconds to sleep, then succeed)."""

    script: list[Any] = field(default_factory=list)
    default: Any = None
    calls: list[dict[str, Any]] = field(default_factory=list)

    async def trigger_event(
        self,
        event_name: str,
        *,
        focus: str | list[str] | None = None,
        payload: dict[str, Any] | None = None,
        tenant_id: str = "default",
    ) -> AgentResult | dict[str, Any]:
        self.calls.append(
            {"event_name": event_name, "focus": focus, "payload": payload, "tenant_id": tenant_id}
        )
        item = self.script.pop(0) if self.script else self.default
        if item is None:
            return AgentResult(run_id=f"run-{len(self.calls)}", status="completed")
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, float):
            await asyncio.sleep(item)
            return AgentResult(run_id=f"run-{len(self.calls)}", status="completed")
        return item


class RecordingObserver(RuntimeObserver):
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def trigger_registered(self, config: CronTriggerConfig) -> None:
        self.calls.append(("registered", config.event_name))

    def trigger_fired(self, config: CronTriggerConfig, scheduled_at: datetime, runs: int) -> None:
        self.calls.append(("fired", (config.event_name, scheduled_at, runs)))

    def execution_started(self, config: CronTriggerConfig, execution: CronExecution) -> None:
        self.calls.append(("started", execution.execution_id))

    def execution_finished(
        self, config: CronTriggerConfig, execution: CronExecution, consecutive_failures: int
    ) -> None:
        self.calls.append(("finished", (execution.status.value, consecutive_failures)))

    def breaker_changed(self, config: CronTriggerConfig, state: str, previous: str) -> None:
        self.calls.append(("breaker", (previous, state)))

    def active_changed(self, active: int) -> None:
        self.calls.append(("active", active))

    def names(self, kind: str) -> list[Any]:
        return [value for name, value in self.calls if name == kind]


class ExplodingObserver(RuntimeObserver):
    def execution_finished(self, *args: Any) -> None:
        raise RuntimeError("observer bug")

    def trigger_fired(self, *args: Any) -> None:
        raise RuntimeError("observer bug")


class RecordingBackend(SchedulerBackend):
    """Records what the app asks of its backend; manual runs are dispatched inline."""

    name = "recording"

    def __init__(self, app: Any) -> None:
        self.app = app
        self.actions: list[tuple[str, str]] = []
        self.started = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False

    async def pause(self, event_name: str) -> None:
        self.actions.append(("pause", event_name))

    async def resume(self, event_name: str) -> None:
        self.actions.append(("resume", event_name))

    async def trigger_now(self, event_name: str, context: dict[str, Any]) -> str:
        self.actions.append(("trigger_now", event_name))
        (execution,) = await self.app.dispatch(
            event_name, scheduled_at=self.app.now(), trigger_type="manual", context=context
        )
        return execution.execution_id

    async def health(self) -> dict[str, Any]:
        return {"ok": self.started}


def new_app(store: Any, **kwargs: Any) -> tuple[Any, Clock, SleepRecorder]:
    """An OwlClawApp on ``store`` with a fake clock and a recorded sleep."""
    from owlclaw_runtime.app import OwlClawApp

    clock = kwargs.pop("clock", None) or Clock()
    sleep = SleepRecorder(clock)
    kwargs.setdefault("seed", 7)
    app = OwlClawApp("test-app", ledger=store, clock=clock, sleep=sleep, **kwargs)
    return app, clock, sleep
