"""The trigger registry (``app.cron_registry``): registration with validation, lookup, durable
pause/resume, manual runs, status and history.

Differences from OwlClaw's ``CronTriggerRegistry`` (reference/owlclaw.md sections 3.2-3.9):
- expressions are validated by the exact cron model for the trigger's dialect, not croniter;
- unknown or invalid keys raise :class:`ConfigurationError` naming the key;
- pause and resume are ``async``, durable (ledger trigger state plus a management event) and
  reach the scheduler backend;
- ``trigger_now`` works without any backend, marks the context ``manual``, passes the caller's
  context to the agent or fallback and returns the id of a real execution record;
- status and history come from the ledger (not an in-memory deque) and split agent/fallback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from owlclaw_runtime.errors import ConfigurationError, OwlClawError
from owlclaw_runtime.ledger.base import ManagementEvent, SideStats, TriggerState
from owlclaw_runtime.redact import redact
from owlclaw_runtime.triggers.models import CronExecution, CronTriggerConfig

log = logging.getLogger("owlclaw_runtime.triggers")

if TYPE_CHECKING:
    from owlclaw_runtime.app import OwlClawApp
    from owlclaw_runtime.schedule import Schedule


class UnknownTriggerError(ConfigurationError, KeyError):
    """No trigger of that name is registered."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return ConfigurationError.__str__(self)


def _fmt(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def execution_to_dict(execution: CronExecution) -> dict[str, Any]:
    """A JSON-ready view of an execution (times as UTC ``...Z`` strings, errors redacted)."""
    data = dataclasses.asdict(execution)
    data["status"] = execution.status.value
    for key in ("scheduled_at", "triggered_at", "started_at", "completed_at"):
        data[key] = _fmt(getattr(execution, key))
    for key in ("error_message", "error_traceback", "output_tail"):
        if data[key] is not None:
            data[key] = redact(data[key])
    return data


def _side(stats: SideStats) -> dict[str, Any]:
    return {
        "executions": stats.executions,
        "successes": stats.successes,
        "failures": stats.failures,
        "success_rate": stats.success_rate,
        "average_duration_seconds": stats.average_duration_seconds,
        "total_cost_usd": stats.total_cost_usd,
    }


class CronTriggerRegistry:
    """Every trigger of one app, by ``event_name``."""

    def __init__(self, app: OwlClawApp) -> None:
        self._app = app
        self._triggers: dict[str, CronTriggerConfig] = {}
        self._schedules: dict[str, Schedule] = {}

    # -- registration --------------------------------------------------------------------
    def register(
        self,
        event_name: str,
        expression: str,
        focus: str | list[str] | None = None,
        fallback_handler: Callable[..., Any] | None = None,
        **kwargs: Any,
    ) -> CronTriggerConfig:
        """Validate and add a trigger; raises :class:`ConfigurationError` naming the bad key."""
        name = event_name.strip() if isinstance(event_name, str) else event_name
        if name in self._triggers:
            raise ConfigurationError(
                f"cron trigger {name!r} is already registered", field="event_name", token=name
            )
        try:
            config = CronTriggerConfig(
                event_name=event_name,
                expression=expression,
                focus=focus,
                fallback_handler=fallback_handler,
                **kwargs,
            )
        except ValidationError as exc:
            raise _config_error(event_name, exc) from exc
        self._check_schedule(config)
        self._triggers[config.event_name] = config
        for observer in self._app.observers:
            try:
                observer.trigger_registered(config)
            except Exception:  # observation never breaks registration
                log.exception("observer failed in trigger_registered")
        return config

    def _check_schedule(self, config: CronTriggerConfig) -> None:
        for key in ("timezone", "daemon_timezone"):
            zone = getattr(config, key)
            if zone is None:
                continue
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ConfigurationError(
                    f"trigger {config.event_name!r}: unknown {key} {zone!r}", field=key, token=zone
                ) from exc
        from owlclaw_runtime.schedule import Schedule, parse

        try:
            spec = parse(config.expression, dialect=config.dialect)
            schedule = Schedule(
                config.expression,
                dialect=config.dialect,
                timezone=config.timezone,
                semantics=config.semantics,
                daemon_timezone=config.daemon_timezone,
            )
        except OwlClawError as exc:
            raise ConfigurationError(
                f"trigger {config.event_name!r}: invalid cron expression "
                f"{config.expression!r} for dialect {config.dialect}: {exc.message}",
                field="expression",
                token=exc.token,
                column=exc.column,
            ) from exc
        for warning in spec.warnings:
            log.warning("trigger %s: %s", config.event_name, warning)
        if spec.never_fires:
            # Valid for the daemon (it loads the line) but no calendar day matches: keep it, as
            # the legacy crontab did, and say so.
            log.warning(
                "trigger %s: %r never fires (no calendar day matches)",
                config.event_name,
                config.expression,
            )
        self._schedules[config.event_name] = schedule

    # -- lookup --------------------------------------------------------------------------
    def get_trigger(self, event_name: str) -> CronTriggerConfig | None:
        """The trigger's configuration, or None."""
        return self._triggers.get(event_name)

    def require(self, event_name: str) -> CronTriggerConfig:
        """The trigger's configuration; :class:`UnknownTriggerError` names the known ones."""
        config = self._triggers.get(event_name)
        if config is None:
            known = ", ".join(sorted(self._triggers)) or "none"
            raise UnknownTriggerError(
                f"no cron trigger named {event_name!r} (known: {known})",
                field="event_name",
                token=event_name,
            )
        return config

    def list_triggers(self) -> list[CronTriggerConfig]:
        """Every trigger, in registration order."""
        return list(self._triggers.values())

    def schedule(self, event_name: str) -> Schedule:
        """The exact cron model of the trigger (fires, next fire, runs due at an instant)."""
        self.require(event_name)
        return self._schedules[event_name]

    def __contains__(self, event_name: object) -> bool:
        return event_name in self._triggers

    def __len__(self) -> int:
        return len(self._triggers)

    # -- management ----------------------------------------------------------------------
    async def pause_trigger(self, event_name: str, *, actor: str | None = None) -> TriggerState:
        """Stop firing the trigger, durably: saved in the ledger (every worker sees it within
        the state TTL, and a restarted app stays paused), recorded as a management event and
        passed to the running backend."""
        return await self._set_paused(event_name, True, actor)

    async def resume_trigger(self, event_name: str, *, actor: str | None = None) -> TriggerState:
        """Undo :meth:`pause_trigger`; the schedule resumes at its next instant."""
        return await self._set_paused(event_name, False, actor)

    async def _set_paused(self, event_name: str, paused: bool, actor: str | None) -> TriggerState:
        self.require(event_name)
        app = self._app
        now = app.now()

        def write() -> TriggerState:
            ledger = app.ledger
            current = ledger.get_trigger_state(event_name, tenant_id=app.tenant_id)
            state = dataclasses.replace(current, paused=paused, updated_at=now)
            ledger.save_trigger_state(state)
            ledger.record_event(
                ManagementEvent(
                    event_name=event_name,
                    action="pause" if paused else "resume",
                    at=now,
                    tenant_id=app.tenant_id,
                    actor=actor,
                )
            )
            return state

        state = await asyncio.to_thread(write)
        app.pipeline.invalidate_state(state)
        backend = app.backend
        if backend is not None:
            if paused:
                await backend.pause(event_name)
            else:
                await backend.resume(event_name)
        return state

    async def reset_breaker(self, event_name: str) -> str:
        """Close the trigger's circuit breaker by hand; returns the state it was in."""
        config = self.require(event_name)
        pipeline = self._app.pipeline
        previous = pipeline.breaker.state(event_name, fresh=True).state
        transition = await asyncio.to_thread(pipeline.breaker.reset, event_name, self._app.now())
        if transition is not None:
            pipeline.notify("breaker_changed", config, transition[1], transition[0])
        return previous

    async def trigger_now(self, event_name: str, **context: Any) -> str:
        """Run the trigger now as a ``manual`` run and return its execution id.

        With a started backend the run is handed to it (Hatchet runs it on a worker); without
        one, the pipeline runs here and this returns when the run is committed. The keyword
        arguments reach the agent (payload) and the fallback (context) unchanged."""
        self.require(event_name)
        app = self._app
        backend = app.backend
        if backend is not None:
            execution_id = await backend.trigger_now(event_name, dict(context))
            await self._record_manual(event_name, execution_id, context)
            return execution_id
        execution_id = uuid.uuid4().hex
        await self._record_manual(event_name, execution_id, context)
        await app.dispatch(
            event_name,
            scheduled_at=app.now(),
            trigger_type="manual",
            context=context,
            execution_id=execution_id,
        )
        return execution_id

    async def _record_manual(
        self, event_name: str, execution_id: str, context: dict[str, Any]
    ) -> None:
        app = self._app
        event = ManagementEvent(
            event_name=event_name,
            action="manual_trigger",
            at=app.now(),
            tenant_id=app.tenant_id,
            details={
                "execution_id": execution_id,
                "context": {k: str(v) for k, v in context.items()},
            },
        )
        await asyncio.to_thread(app.ledger.record_event, event)

    # -- status and history ----------------------------------------------------------------
    def next_runs(
        self, event_name: str, count: int = 5, *, after: datetime | None = None
    ) -> list[datetime]:
        """The next ``count`` fire instants (UTC), from the exact model."""
        schedule = self.schedule(event_name)
        out: list[datetime] = []
        cursor = after or self._app.now()
        while len(out) < count:
            nxt = schedule.next_fire(cursor)
            if nxt is None:
                break
            out.append(nxt)
            cursor = nxt
        return out

    def get_trigger_status(
        self, event_name: str, *, count: int = 5, now: datetime | None = None
    ) -> dict[str, Any]:
        """Configuration, effective state, next runs (local and UTC), success rate and average
        duration (overall and split agent/fallback), breaker state, weight and pause."""
        config = self.require(event_name)
        app = self._app
        ledger = app.ledger
        from owlclaw_runtime.pipeline import effective_state

        state = ledger.get_trigger_state(event_name, tenant_id=app.tenant_id)
        effective = effective_state(config, state)
        stats = ledger.stats(event_name, tenant_id=app.tenant_id)
        breaker = ledger.get_breaker(event_name, tenant_id=app.tenant_id)
        zone = ZoneInfo(config.timezone)
        runs = self.next_runs(event_name, count, after=now)
        return {
            "event_name": config.event_name,
            "description": config.description,
            "expression": config.expression,
            "timezone": config.timezone,
            "dialect": config.dialect,
            "semantics": config.semantics,
            "focus": config.focus,
            "enabled": not effective.paused,
            "paused": effective.paused,
            "shadow": effective.shadow,
            "migration_weight": effective.migration_weight,
            "configured_migration_weight": config.migration_weight,
            "fallback_strategy": config.fallback_strategy,
            "has_fallback": config.fallback_handler is not None,
            "priority": config.priority,
            "next_runs": [{"utc": _fmt(r), "local": r.astimezone(zone).isoformat()} for r in runs],
            "success_rate": stats.overall.success_rate,
            "average_duration_seconds": stats.overall.average_duration_seconds,
            "executions": stats.overall.executions,
            "skipped": stats.skipped,
            "agent": _side(stats.agent),
            "fallback": _side(stats.fallback),
            "breaker": {"state": breaker.state, "opened_at": _fmt(breaker.opened_at)},
        }

    def get_execution_history(self, event_name: str, limit: int = 10) -> list[dict[str, Any]]:
        """The trigger's executions, newest first, as JSON-ready dicts (limit clamped 1..100)."""
        self.require(event_name)
        rows = self._app.ledger.history(
            event_name, tenant_id=self._app.tenant_id, limit=max(1, min(limit, 100))
        )
        return [execution_to_dict(r) for r in rows]


def _config_error(event_name: Any, exc: ValidationError) -> ConfigurationError:
    messages = []
    first_key: str | None = None
    for err in exc.errors():
        key = ".".join(str(p) for p in err.get("loc", ())) or "?"
        first_key = first_key or key
        if err.get("type") == "extra_forbidden":
            messages.append(f"unknown key {key!r}")
        else:
            messages.append(f"invalid {key!r}: {err.get('msg')}")
    return ConfigurationError(
        f"cron trigger {event_name!r}: " + "; ".join(messages), field=first_key
    )
