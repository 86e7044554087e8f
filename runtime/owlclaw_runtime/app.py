"""``OwlClawApp``: the object a generated (or hand-written) app module creates.

It keeps OwlClaw's public shape (``app.cron(...)``, ``app.cron_registry``, ``start``/``stop``/
``run``) and fixes what reference/owlclaw.md section 3.9 found: ``fallback=None`` really means
agent-only (OwlClaw silently used the decorated function), ``start()`` refuses to run a trigger
that would pick the agent when no agent is configured, ``start()`` really starts firing (the
embedded scheduler by default, no Hatchet needed), and ``stop()`` waits for in-flight runs
*before* anything is closed, with every record already committed.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
import random as _random
import signal
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from owlclaw_runtime.agent.base import AgentRuntime
from owlclaw_runtime.agent.loading import load_agent
from owlclaw_runtime.errors import ConfigurationError
from owlclaw_runtime.ledger.base import LedgerStore
from owlclaw_runtime.observability.hooks import RuntimeObserver
from owlclaw_runtime.pipeline import DueRun, Pipeline, effective_state
from owlclaw_runtime.retry import default_sleep
from owlclaw_runtime.schedulers.base import SchedulerBackend
from owlclaw_runtime.triggers.models import CronExecution
from owlclaw_runtime.triggers.registry import CronTriggerRegistry

log = logging.getLogger("owlclaw_runtime.app")

AGENT_ENV = "OWLCLAW_AGENT"  # "module:attr" of the agent when the app names none
F = TypeVar("F", bound=Callable[..., Any])


class _Default:
    def __repr__(self) -> str:
        return "<the decorated function>"


_DECORATED = _Default()


def _utc_now() -> datetime:
    return datetime.now(UTC)


class OwlClawApp:
    """An app holding cron triggers, a ledger, an optional agent and observers.

    Args:
        name: the app name, one per host: its rows in a shared ledger are keyed by it.
        ledger: a :class:`LedgerStore`, a database URL, or None for ``OWLCLAW_LEDGER_URL`` /
            the SQLite file ``owlclaw-ledger.db`` in ``app_dir``. Opened on first use, bound to
            ``name`` (this app's rows only); a store passed in is used with the app it is bound
            to (``open_store(..., app_name=name)`` or ``SqlLedgerStore.for_app(name)``).
        agent: an :class:`AgentRuntime`, a ``"module:attr"`` import path, or None (then
            ``$OWLCLAW_AGENT`` when set, so a generated app gets its agent from configuration,
            e.g. ``owlclaw_runtime.agent.openai:agent_from_env``).
        tenant_id: the tenant every record belongs to.
        observers: :class:`RuntimeObserver` instances (metrics, logs, notifications).
        max_concurrent: executions in flight at once in this worker (global slots).
        seed: seeds the agent-or-fallback draw, for reproducible tests.
        clock: returns the current time, timezone-aware (tests inject a fake clock).
        app_dir: the app's directory (default ledger location); set by ``load_app``.
        sleep: awaited for retry delays (tests inject a recorder).
        state_ttl_seconds: how old the cached ledger trigger state (weight, shadow, pause) may
            get before a run re-reads it.
    """

    def __init__(
        self,
        name: str,
        *,
        ledger: LedgerStore | str | None = None,
        agent: AgentRuntime | str | None = None,
        tenant_id: str = "default",
        observers: Iterable[RuntimeObserver] = (),
        max_concurrent: int = 10,
        seed: int | None = None,
        clock: Callable[[], datetime] | None = None,
        app_dir: str | Path | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        state_ttl_seconds: float = 2.0,
    ) -> None:
        if not name or not name.strip():
            raise ConfigurationError("app name must not be empty", field="name")
        if max_concurrent < 1:
            raise ConfigurationError(
                f"max_concurrent must be >= 1, got {max_concurrent}", field="max_concurrent"
            )
        self.name = name
        self.tenant_id = tenant_id
        self.max_concurrent = max_concurrent
        self.observers: list[RuntimeObserver] = list(observers)
        self.app_dir: Path | None = Path(app_dir) if app_dir is not None else None
        self.sleep = sleep or default_sleep
        self._clock = clock or _utc_now
        self._rng = _random.Random(seed)
        self._ledger_spec = ledger
        self._ledger: LedgerStore | None = ledger if isinstance(ledger, LedgerStore) else None
        self._owns_ledger = False
        self._agent_spec = agent if agent is not None else (os.environ.get(AGENT_ENV) or None)
        self._agent: AgentRuntime | None = None
        self._agent_loaded = False
        self._backend: SchedulerBackend | None = None
        self._stop_event: asyncio.Event | None = None
        self.cron_registry = CronTriggerRegistry(self)
        self.pipeline = Pipeline(self, state_ttl_seconds=state_ttl_seconds)

    def __repr__(self) -> str:
        return f"OwlClawApp({self.name!r}, triggers={len(self.cron_registry)})"

    # -- collaborators (lazy, so a generated module imports fast and load_app can set app_dir)
    @property
    def ledger(self) -> LedgerStore:
        """The ledger store, opened on first use."""
        if self._ledger is None:
            from owlclaw_runtime.ledger import open_store

            url = self._ledger_spec if isinstance(self._ledger_spec, str) else None
            # Bound to this app: apps of many hosts share one database, each its own rows.
            self._ledger = open_store(url, app_dir=self.app_dir or Path.cwd(), app_name=self.name)
            self._owns_ledger = True
        return self._ledger

    @property
    def agent(self) -> AgentRuntime | None:
        """The agent runtime, imported on first use when configured by path. An agent with a
        ``bind(app)`` method (``OpenAIAgent``) is bound to this app on load, so it can offer the
        trigger's legacy job as a tool and find the app's ``skills/`` directory."""
        if not self._agent_loaded:
            self._agent = load_agent(self._agent_spec)
            self._agent_loaded = True
            bind = getattr(self._agent, "bind", None)
            if callable(bind):
                bind(self)
        return self._agent

    @agent.setter
    def agent(self, value: AgentRuntime | str | None) -> None:
        self._agent_spec = value
        self._agent_loaded = False

    @property
    def backend(self) -> SchedulerBackend | None:
        """The started scheduler backend, or None."""
        return self._backend

    @property
    def backend_name(self) -> str:
        """Recorded in every execution: the backend's name, or ``inline`` without one."""
        return self._backend.name if self._backend is not None else "inline"

    def now(self) -> datetime:
        """The current time from the injected clock, as an aware UTC datetime."""
        value = self._clock()
        if value.tzinfo is None:
            raise ConfigurationError(
                "the clock must return timezone-aware datetimes", field="clock"
            )
        return value.astimezone(UTC)

    def random(self) -> float:
        """The draw for the agent-or-fallback decision (seedable)."""
        return self._rng.random()

    def add_observer(self, observer: RuntimeObserver) -> None:
        self.observers.append(observer)

    # -- registration ----------------------------------------------------------------------
    def cron(
        self,
        expression: str,
        *,
        event_name: str | None = None,
        focus: str | list[str] | None = None,
        description: str | None = None,
        fallback: Callable[..., Any] | _Default | None = _DECORATED,
        **config: Any,
    ) -> Callable[[F], F]:
        """Register the decorated function as a cron trigger.

        The name defaults to the function name and the description to its docstring. The
        fallback defaults to the decorated function (sync or async); ``fallback=None`` makes
        the trigger agent-only. Other keywords are :class:`CronTriggerConfig` fields
        (``timezone``, ``dialect``, ``semantics``, ``migration_weight``, governance, retries);
        an unknown one raises :class:`ConfigurationError` naming it.

        Example::

            @app.cron("30 2 * * *", timezone="Europe/London", migration_weight=0.0)
            async def backup_db(context: dict) -> None:
                '''Nightly database backup.'''
                await LEGACY.arun()
        """

        def decorator(fn: F) -> F:
            name = event_name or getattr(fn, "__name__", None)
            if not name:
                raise ConfigurationError(
                    "event_name is required for callables without __name__", field="event_name"
                )
            doc = description if description is not None else inspect.getdoc(fn)
            handler = fn if isinstance(fallback, _Default) else fallback
            self.cron_registry.register(
                name,
                expression,
                focus=focus,
                fallback_handler=handler,
                description=doc or None,
                **config,
            )
            if inspect.iscoroutinefunction(fn):

                @functools.wraps(fn)
                async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                    return await fn(*args, **kwargs)

                wrapper: Any = async_wrapper
            else:

                @functools.wraps(fn)
                def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                    return fn(*args, **kwargs)

                wrapper = sync_wrapper
            wrapper.event_name = name
            return wrapper  # type: ignore[no-any-return]

        return decorator

    # -- running -----------------------------------------------------------------------------
    async def dispatch(
        self,
        event_name: str,
        *,
        scheduled_at: datetime,
        runs: int = 1,
        trigger_type: str = "cron",
        context: dict[str, Any] | None = None,
        raise_on_failure: bool = False,
        execution_id: str | None = None,
        retry_count: int = 0,
    ) -> list[CronExecution]:
        """Run the pipeline for ``runs`` due executions of a trigger (see :mod:`.pipeline`)."""
        return await self.pipeline.dispatch(
            event_name,
            scheduled_at=scheduled_at,
            runs=runs,
            trigger_type=trigger_type,
            context=context,
            raise_on_failure=raise_on_failure,
            execution_id=execution_id,
            retry_count=retry_count,
        )

    def start_due(self, due: Sequence[DueRun]) -> list[asyncio.Future[list[CronExecution]]]:
        """Start one wake-up's runs together; one future per item, done with what
        :meth:`dispatch` would have returned (see :meth:`.pipeline.Pipeline.start_due`)."""
        return self.pipeline.start_due(due)

    def prepare_due(self, due: Sequence[DueRun]) -> None:
        """Build the records of the runs expected at a coming wake-up ahead of time (see
        :meth:`.pipeline.Pipeline.prepare_due`)."""
        self.pipeline.prepare_due(due)

    def check_ready(self) -> None:
        """Refuse to start what cannot run: a trigger whose effective weight is above 0 (or
        that has no fallback) while no agent is configured."""
        if self.agent is not None:
            return
        states = {s.event_name: s for s in self.ledger.all_trigger_states(tenant_id=self.tenant_id)}
        needs_agent = []
        for config in self.cron_registry.list_triggers():
            weight = effective_state(config, states.get(config.event_name)).migration_weight
            if config.fallback_handler is None:
                needs_agent.append(f"{config.event_name} (no fallback)")
            elif weight > 0:
                needs_agent.append(f"{config.event_name} (migration_weight {weight:g})")
        if needs_agent:
            raise ConfigurationError(
                "no agent is configured, but these triggers would run the agent: "
                + ", ".join(needs_agent)
                + "; pass agent='module:attr' to OwlClawApp or set their migration_weight to 0",
                field="agent",
            )

    async def start(self, backend: str | SchedulerBackend = "local") -> SchedulerBackend:
        """Validate, then start firing with ``backend`` (``"local"``, ``"hatchet"`` or an
        instance). Returns the running backend."""
        if self._backend is not None:
            raise RuntimeError(f"app {self.name!r} is already started ({self._backend.name})")
        await asyncio.to_thread(self.check_ready)
        instance = self._create_backend(backend) if isinstance(backend, str) else backend
        self._backend = instance
        try:
            await instance.start()
        except BaseException:
            self._backend = None
            raise
        log.info(
            "app %s started on %s with %d triggers",
            self.name,
            instance.name,
            len(self.cron_registry),
        )
        return instance

    def _create_backend(self, name: str) -> SchedulerBackend:
        try:
            from owlclaw_runtime.schedulers import create_backend
        except ImportError as exc:
            raise ConfigurationError(
                f"scheduler backend {name!r} is not available: "
                "owlclaw_runtime.schedulers.create_backend is missing",
                field="backend",
                token=name,
            ) from exc
        return create_backend(name, self)

    async def stop(self) -> None:
        """Stop firing, then wait for in-flight runs; every record is committed on return."""
        backend, self._backend = self._backend, None
        if backend is not None:
            await backend.stop()
        await self.pipeline.drain()
        log.info("app %s stopped", self.name)

    def request_stop(self) -> None:
        """Ask a running :meth:`run` / :meth:`serve` to stop (safe from any thread)."""
        event = self._stop_event
        if event is None:
            return
        loop = self.pipeline._loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(event.set)
        else:
            event.set()

    async def serve(self, backend: str | SchedulerBackend = "local") -> None:
        """Start, run until SIGINT/SIGTERM or :meth:`request_stop`, then stop gracefully."""
        self._stop_event = asyncio.Event()
        loop = asyncio.get_running_loop()
        self.pipeline._bind_loop()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._stop_event.set)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread, or a platform without signal support
        try:
            await self.start(backend)
            await self._stop_event.wait()
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            await self.stop()
            self._stop_event = None

    def run(self, backend: str | SchedulerBackend = "local") -> None:
        """Blocking: serve until SIGINT or SIGTERM, then stop gracefully and close the ledger."""
        try:
            asyncio.run(self.serve(backend))
        finally:
            self.close()

    def close(self) -> None:
        """Release the pipeline's threads and close the ledger if this app opened it."""
        self.pipeline.close()
        if self._ledger is not None and self._owns_ledger:
            self._ledger.close()
            self._ledger = None
            self._owns_ledger = False
