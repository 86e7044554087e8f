"""The execution pipeline every scheduler backend calls (``OwlClawApp.dispatch``):

gate → governance → decision → agent or fallback → retries → ledger → observers → breaker.

What it does differently from OwlClaw's ``_run_cron`` (reference/owlclaw.md section 3.9):
- an agent result with status ``failed`` is a failure, ``skipped`` is skipped (bug 3);
- failures are retried with backoff here, or re-raised for Hatchet to retry (bug 4);
- a missing fallback never turns a failure into a skip; ``always`` really runs both (bug 5);
- ``max_duration`` is the timeout; cost, decision mode, governance checks, scheduled and
  triggered times, weight and retry count are persisted (bug 6);
- every execution is written as ``running`` when it starts and again when it ends; the final row
  is committed before the run is reported finished, so nothing is dropped (gap 14). Rows go
  through one writer task per loop that hands everything queued to the ledger's group commit
  (``record_executions``): 1,000 runs starting together cost a few transactions, not 1,000;
- the effective weight, shadow and pause come from the ledger's trigger state (re-read every
  ``state_ttl_seconds``), so ``owlmigrate step`` reaches running workers without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
import logging
import time
import traceback
import uuid
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from owlclaw_runtime.agent.base import AgentResult
from owlclaw_runtime.agent.loading import normalize_agent_result
from owlclaw_runtime.breaker import CircuitBreaker
from owlclaw_runtime.concurrency import PrioritySemaphore, SlotHold, TriggerSlots
from owlclaw_runtime.governance import CronGovernance
from owlclaw_runtime.ledger.base import LedgerError, TriggerState
from owlclaw_runtime.redact import redact
from owlclaw_runtime.retry import NonRetryableError, RetryStrategy
from owlclaw_runtime.rowwriter import RowWriter
from owlclaw_runtime.triggers.models import CronExecution, CronTriggerConfig, ExecutionStatus

if TYPE_CHECKING:
    from owlclaw_runtime.app import OwlClawApp

log = logging.getLogger("owlclaw_runtime.pipeline")
_T = TypeVar("_T")
#: threads for ledger calls (SQLite serialises writers; a few threads keep reads flowing)
LEDGER_THREADS = 6

_TRACEBACK_LIMIT = 8000
_COUNTED = [s.value for s in ExecutionStatus if s.counts_as_execution]
_OUTPUT_TAIL_LIMIT = 4000


class AgentRunFailed(Exception):
    """The agent reported a failed run (a result with status ``failed``)."""

    def __init__(self, result: AgentResult) -> None:
        super().__init__(result.error or "agent run failed")
        self.result = result


class CostLimitExceeded(NonRetryableError):
    """An agent run cost more than the trigger's ``max_cost_per_run``."""


class ExecutionTimeout(Exception):
    """A call ran longer than the trigger's ``max_duration``."""


class PipelineRunFailed(Exception):
    """Raised by ``dispatch(..., raise_on_failure=True)`` after every due run was recorded, so an
    engine with its own retries (Hatchet) sees the failure. ``executions`` are the records."""

    def __init__(self, message: str, executions: list[CronExecution]) -> None:
        super().__init__(message)
        self.executions = executions


class _AgentSkipped(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class EffectiveState:
    """A trigger's configuration with the ledger's durable overrides applied."""

    paused: bool
    migration_weight: float
    shadow: bool


def effective_state(config: CronTriggerConfig, state: TriggerState | None) -> EffectiveState:
    """Merge the configured values with a ledger override (``None`` fields keep the config)."""
    if state is None:
        return EffectiveState(not config.enabled, config.migration_weight, config.shadow)
    return EffectiveState(
        paused=state.paused or not config.enabled,
        migration_weight=(
            config.migration_weight if state.migration_weight is None else state.migration_weight
        ),
        shadow=config.shadow if state.shadow is None else state.shadow,
    )


#: (wants context, is async) per fallback: inspect.signature costs ~50 us, a run's whole start
#: budget with 1,000 runs due together. Weak keys: a fallback dropped with its trigger goes too.
_CALL_SHAPES: weakref.WeakKeyDictionary[Any, tuple[bool, bool]] = weakref.WeakKeyDictionary()


def _call_shape(fn: Callable[..., Any]) -> tuple[bool, bool]:
    try:
        return _CALL_SHAPES[fn]
    except (KeyError, TypeError):  # TypeError: unhashable or not weakly referenceable
        pass
    shape = (_wants_context(fn), _is_async(fn))
    with contextlib.suppress(TypeError):
        _CALL_SHAPES[fn] = shape
    return shape


def _wants_context(fn: Callable[..., Any]) -> bool:
    """A fallback taking a positional parameter receives the context; one taking none does not."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    return any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
        for p in sig.parameters.values()
    )


def _is_async(fn: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004 - callable objects with async __call__
    return inspect.iscoroutinefunction(call)


def _jsonable(value: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(value, default=str))
    return loaded


def _jsonable_value(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("scheduled_at must be timezone-aware")
    return value.astimezone(UTC)


def _iso(value: datetime) -> str:
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


class Pipeline:
    """One app's pipeline; owns the concurrency controllers and the state cache."""

    def __init__(self, app: OwlClawApp, *, state_ttl_seconds: float = 2.0) -> None:
        self._app = app
        self._ttl = state_ttl_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._states: dict[str, TriggerState] = {}
        self._states_read_at: float | None = None
        self._inflight = 0
        self._running = 0  # executions past every gate and running now
        self._warned_no_agent: set[str] = set()
        self._ledger_pool: ThreadPoolExecutor | None = None
        self._job_pool: ThreadPoolExecutor | None = None
        #: waits between attempts to write a terminal row while the database fails
        self.commit_retry_delays: tuple[float, ...] = (0.2, 1.0, 3.0)
        self._governance: CronGovernance | None = None
        #: wait for the ``running`` row's commit before the job starts (crash evidence for a
        #: job that had only just started, at the price of a commit on every start; see
        #: docs/runtime.md). Off: the row is queued and committed while the job starts.
        self.running_row_before_start = False

    # -- wiring -------------------------------------------------------------------------
    async def _db(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
        """Run a (synchronous, thread-safe) ledger call off the event loop, so firing and other
        runs never wait on the database.

        The ledger has threads of its own: on the shared default pool, a few long synchronous
        jobs would take every thread and no run could record anything. (Measured: several
        threads beat a single one about threefold on SQLite with 1,000 runs in flight.)"""
        if self._ledger_pool is None:
            self._ledger_pool = ThreadPoolExecutor(
                max_workers=LEDGER_THREADS, thread_name_prefix="owlclaw-ledger"
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._ledger_pool, functools.partial(fn, *args, **kwargs))

    async def _in_job_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a synchronous fallback in a thread of its own pool, sized ``max_concurrent`` so
        that as many sync jobs can run at once as the global limit allows."""
        if self._job_pool is None:
            self._job_pool = ThreadPoolExecutor(
                max_workers=self._app.max_concurrent, thread_name_prefix="owlclaw-job"
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._job_pool, functools.partial(fn, *args))

    def close(self) -> None:
        """Release the pipeline's threads (a later run creates them again). A synchronous job
        still running after its timeout is not waited for: threads cannot be killed."""
        ledger_pool, self._ledger_pool = self._ledger_pool, None
        job_pool, self._job_pool = self._job_pool, None
        if ledger_pool is not None:
            ledger_pool.shutdown(wait=True)
        if job_pool is not None:
            job_pool.shutdown(wait=False, cancel_futures=True)

    def _submit(self, execution: CronExecution) -> asyncio.Future[None]:
        """Queue the row for this loop's writer (:class:`RowWriter`); the future is done once
        it is committed."""
        self._bind_loop()
        return self._rows.submit(execution)

    async def _record(self, execution: CronExecution) -> None:
        """Commit the row (through the group-committing writer) before returning."""
        await asyncio.shield(self._submit(execution))

    async def _write_batch(self, rows: list[CronExecution]) -> None:
        await self._db(self._app.ledger.record_executions, rows)

    async def _commit(self, execution: CronExecution) -> None:
        """Write a run's terminal row, retrying a failing database a few times: the job has
        run, so its record must not be lost to a brief outage (OwlClaw dropped records). The
        last error is raised if the database stays down."""
        for delay in (*self.commit_retry_delays, None):
            try:
                await self._record(execution)
                return
            except LedgerError as exc:
                if delay is None:
                    log.error(
                        "%s: could not record execution %s: %s",
                        execution.event_name,
                        execution.execution_id,
                        exc,
                    )
                    raise
                log.warning(
                    "%s: recording execution %s failed (%s); retrying in %.1fs",
                    execution.event_name,
                    execution.execution_id,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)

    @property
    def governance(self) -> CronGovernance:
        if self._governance is None:
            breaker = CircuitBreaker(
                self._app.ledger, tenant_id=self._app.tenant_id, cache_seconds=self._ttl
            )
            self._governance = CronGovernance(
                self._app.ledger, breaker, tenant_id=self._app.tenant_id
            )
        return self._governance

    @property
    def breaker(self) -> CircuitBreaker:
        return self.governance.breaker

    @property
    def global_slots(self) -> PrioritySemaphore:
        """The worker-wide ``max_concurrent`` slots of the running loop (in use, waiting)."""
        self._bind_loop()
        return self._global

    @property
    def inflight(self) -> int:
        """Dispatched runs not finished yet (waiting for a slot included)."""
        return self._inflight

    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # asyncio primitives belong to one loop; a new loop (a new asyncio.run) gets new ones.
            self._loop = loop
            self._global = PrioritySemaphore(self._app.max_concurrent)
            self._slots = TriggerSlots()
            self._refreshing: asyncio.Task[None] | None = None
            self._idle = asyncio.Event()
            self._idle.set()
            self._rows = RowWriter(loop, self._write_batch)

    async def drain(self) -> None:
        """Wait until every dispatched run has finished (and been committed)."""
        if self._loop is None or self._loop is not asyncio.get_running_loop():
            return
        await self._idle.wait()

    def invalidate_state(self, state: TriggerState | None = None) -> None:
        """Forget cached trigger state (or replace one entry), e.g. after pause or resume."""
        if state is None:
            self._states_read_at = None
        else:
            self._states[state.event_name] = state

    async def effective(self, config: CronTriggerConfig) -> EffectiveState:
        """The trigger's effective pause/weight/shadow, from a cache at most ``ttl`` old."""
        self._bind_loop()
        if self._states_read_at is None or time.monotonic() - self._states_read_at >= self._ttl:
            await self._refresh_overrides()
        return effective_state(config, self._states.get(config.event_name))

    async def prefetch(self, within: float) -> None:
        """Re-read the trigger and breaker states now unless the cache will still be fresh in
        ``within`` seconds. The local scheduler calls it just before a wake-up, so the runs it
        hands out find a fresh cache and start without waiting for a query."""
        self._bind_loop()
        if self._ttl <= within:
            return  # a cache that short would be stale again by the wake-up
        read_at = self._states_read_at
        if read_at is None or time.monotonic() + within - read_at >= self._ttl:
            await self._refresh_overrides()

    async def _refresh_overrides(self) -> None:
        """One read shared by every run that needs it; they all resume together when it is done
        (an asyncio.Lock would wake them one per loop iteration: 1,000 runs due at once queued
        behind each other)."""
        assert self._loop is not None
        if self._refreshing is None:
            self._refreshing = self._loop.create_task(self._read_and_keep_overrides())
        await asyncio.shield(self._refreshing)

    async def _read_and_keep_overrides(self) -> None:
        try:
            read_started = time.monotonic()
            states = await self._db(self._read_overrides, read_started)
            self._states = {s.event_name: s for s in states}
            self._states_read_at = read_started
        finally:
            self._refreshing = None

    def _read_overrides(self, read_started: float) -> list[TriggerState]:
        """Every trigger state of the tenant, and every breaker state primed into the breaker's
        cache: two queries per ``state_ttl_seconds`` instead of a breaker query per run."""
        ledger, tenant = self._app.ledger, self._app.tenant_id
        states = ledger.all_trigger_states(tenant_id=tenant)
        configs = self._app.cron_registry.list_triggers()
        names = [c.event_name for c in configs]
        self.breaker.prime(ledger.breakers(names, tenant_id=tenant), read_started)
        for config in configs:  # off the loop: learn how each fallback is called (cached)
            if config.fallback_handler is not None:
                _call_shape(config.fallback_handler)
        return states

    # -- dispatch ------------------------------------------------------------------------
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
        """Run ``runs`` due executions of one trigger for ``scheduled_at``, one after another.

        ``raise_on_failure`` (Hatchet backend): no retries here; once every run is recorded,
        :class:`PipelineRunFailed` is raised if any failed so that the engine retries, and
        ``retry_count`` (the engine's attempt number) is persisted."""
        config = self._app.cron_registry.require(event_name)
        if runs < 0:
            raise ValueError("runs must be >= 0")
        scheduled = _utc(scheduled_at)
        self._bind_loop()
        self.notify("trigger_fired", config, scheduled, runs)
        results: list[CronExecution] = []
        for index in range(runs):
            results.append(
                await self._run_one(
                    config,
                    scheduled,
                    index=index,
                    runs=runs,
                    trigger_type=trigger_type,
                    context=context,
                    raise_on_failure=raise_on_failure,
                    execution_id=execution_id if index == 0 else None,
                    retry_count=retry_count,
                )
            )
        failed = [e for e in results if e.status == ExecutionStatus.FAILED]
        if raise_on_failure and failed:
            raise PipelineRunFailed(
                f"{event_name}: {len(failed)} of {runs} run(s) failed: {failed[0].error_message}",
                results,
            )
        return results

    async def _run_one(
        self,
        config: CronTriggerConfig,
        scheduled: datetime,
        *,
        index: int,
        runs: int,
        trigger_type: str,
        context: dict[str, Any] | None,
        raise_on_failure: bool,
        execution_id: str | None,
        retry_count: int,
    ) -> CronExecution:
        app = self._app
        self._inflight += 1
        self._idle.clear()
        try:
            now = app.now()
            execution = CronExecution(
                event_name=config.event_name,
                execution_id=execution_id or uuid.uuid4().hex,
                tenant_id=app.tenant_id,
                trigger_type=trigger_type,
                scheduled_at=scheduled,
                triggered_at=now,
                backend=app.backend_name,
                retry_count=retry_count,
            )
            # Only values that may not be JSON go through the JSON round trip (it costs more
            # than the rest of a run's start when 1,000 runs start at once).
            focus = config.focus
            if focus is not None and not isinstance(focus, str):
                focus = _jsonable_value(focus)
            execution.context = {
                **(_jsonable(dict(context)) if context else {}),
                "trigger_type": trigger_type,
                "event_name": config.event_name,
                "cron_expression": config.expression,
                "timezone": config.timezone,
                "focus": focus,
                "scheduled_at": _iso(scheduled),
                "triggered_at": _iso(now),
                "execution_id": execution.execution_id,
                "run_index": index,
                "runs": runs,
            }
            state = await self.effective(config)
            execution.migration_weight = state.migration_weight
            # Gate: a paused trigger runs nothing; a shadow trigger records that it would have
            # fired and runs nothing (the legacy crontab still does the work). A manual run is
            # an explicit operator request, so shadow does not stop it (pause does).
            if state.paused:
                return await self._skip(config, execution, "paused")
            if state.shadow and trigger_type != "manual":
                return await self._skip(config, execution, "shadow")
            if not await self._slots.acquire(
                config.event_name, config.max_concurrency, config.overlap_policy
            ):
                execution.governance_checks["concurrency"] = {
                    "passed": False,
                    "running": self._slots.running(config.event_name),
                    "limit": config.max_concurrency,
                    "policy": config.overlap_policy,
                }
                return await self._skip(config, execution, "overlap")
            try:
                return await self._governed(config, execution, state, raise_on_failure)
            finally:
                await self._slots.release(config.event_name)
        finally:
            self._inflight -= 1
            if self._inflight == 0:
                self._idle.set()

    async def _governed(
        self,
        config: CronTriggerConfig,
        execution: CronExecution,
        state: EffectiveState,
        raise_on_failure: bool,
    ) -> CronExecution:
        now = execution.triggered_at or self._app.now()
        # No query can change the decision of a trigger without cooldown or daily limits whose
        # closed breaker is cached: decide inline, without a thread hop or a round trip.
        gov = self.governance.check_cached(config, now, trigger_type=execution.trigger_type)
        if gov is None:
            gov = await self._db(
                self.governance.check, config, now, trigger_type=execution.trigger_type
            )
        if gov.breaker_transition is not None:
            previous, new = gov.breaker_transition
            self.notify("breaker_changed", config, new, previous)
        execution.governance_checks.update(gov.checks)
        if config.max_concurrency > 0:
            execution.governance_checks["concurrency"] = {
                "passed": True,
                "running": self._slots.running(config.event_name),
                "limit": config.max_concurrency,
                "policy": config.overlap_policy,
            }
        if not gov.allowed:
            return await self._skip(config, execution, gov.skip_reason or "governance")
        slot = SlotHold(self._global, config.priority)
        try:
            await slot.acquire()
            return await self._execute(
                config, execution, state, gov.breaker_trial, raise_on_failure, slot
            )
        except BaseException:
            if gov.breaker_trial:
                self.breaker.abandon_trial(config.event_name)
            raise
        finally:
            slot.release()

    async def _skip(
        self, config: CronTriggerConfig, execution: CronExecution, reason: str
    ) -> CronExecution:
        execution.status = ExecutionStatus.SKIPPED
        execution.skip_reason = reason
        execution.completed_at = execution.triggered_at
        execution.duration_seconds = 0.0
        await self._commit(execution)
        self.notify("execution_finished", config, execution, 0)
        return execution

    # -- execution -----------------------------------------------------------------------
    async def _execute(
        self,
        config: CronTriggerConfig,
        execution: CronExecution,
        state: EffectiveState,
        trial: bool,
        raise_on_failure: bool,
        slot: SlotHold,
    ) -> CronExecution:
        app = self._app
        agent = app.agent
        has_fallback = config.fallback_handler is not None
        draw = app.random()
        if agent is None:
            use_agent = False
            if state.migration_weight > 0 and config.event_name not in self._warned_no_agent:
                # start() refuses this; it happens when `owlmigrate step` raises the weight of
                # a worker started without an agent. The fallback keeps doing the job.
                self._warned_no_agent.add(config.event_name)
                log.warning(
                    "%s: migration_weight is %g but no agent is configured; running the fallback",
                    config.event_name,
                    state.migration_weight,
                )
        elif not has_fallback:
            use_agent = True  # agent-only trigger (fallback=None): nothing else could run
        else:
            use_agent = draw < state.migration_weight
        execution.decision_mode = "agent" if use_agent else "fallback"
        execution.governance_checks["decision"] = {
            "mode": execution.decision_mode,
            "weight": state.migration_weight,
            "draw": round(draw, 6),
            "agent_configured": agent is not None,
            "fallback_configured": has_fallback,
        }
        if use_agent:
            await self._add_previous_run(config, execution)
        execution.status = ExecutionStatus.RUNNING
        execution.started_at = app.now()
        # The running row is queued and the job starts at once: waiting for its commit would
        # delay every start by a commit (1,000 runs due together queued 1,000 of them). The
        # writer commits rows in order, and the final row waits for this one below, so the
        # ledger never goes back from a final state to running. A crash before this commit
        # loses only the running evidence of a job that had just started (docs/runtime.md).
        running_row = self._submit(execution)
        if self.running_row_before_start:
            await asyncio.shield(running_row)  # a failing ledger: the job does not start
        self.notify("execution_started", config, execution)
        self._running += 1
        self.notify("active_changed", self._running)

        started = time.perf_counter()
        try:
            await self._retry_loop(config, execution, use_agent, raise_on_failure, slot)
        except asyncio.CancelledError:
            # The worker is being torn down mid-run: never leave a "running" row behind.
            execution.status = ExecutionStatus.FAILED
            execution.error_message = "cancelled before the run finished (worker stopping)"
            execution.completed_at = app.now()
            execution.duration_seconds = time.perf_counter() - started
            await asyncio.shield(self._settle_running(running_row))
            await asyncio.shield(self._commit(execution))
            raise
        finally:
            self._running -= 1
            self.notify("active_changed", self._running)
        execution.completed_at = app.now()
        execution.duration_seconds = time.perf_counter() - started
        await self._settle_running(running_row)
        await self._commit(execution)

        counted = execution.status.counts_as_execution
        consecutive = 0
        if execution.status == ExecutionStatus.FAILED:
            outcomes = await self._db(
                app.ledger.recent_outcomes, config.event_name, 100, tenant_id=app.tenant_id
            )
            for ok in outcomes:
                if ok:
                    break
                consecutive += 1
        self.notify("execution_finished", config, execution, consecutive)
        if counted:
            transition = await self._db(
                self.breaker.record,
                config,
                execution.status.is_success,
                app.now(),
                trial=trial,
            )
            if transition is not None:
                self.notify("breaker_changed", config, transition[1], transition[0])
        elif trial:
            self.breaker.abandon_trial(config.event_name)
        return execution

    @staticmethod
    async def _settle_running(running_row: asyncio.Future[None]) -> None:
        """Wait for the run's ``running`` row before its final row is written. If it could not
        be written, the run is not failed for that: the final row (retried in ``_commit``) is
        the record that matters."""
        try:
            await asyncio.shield(running_row)
        except LedgerError as exc:
            log.warning("the running row could not be recorded (%s); recording the outcome", exc)

    async def _retry_loop(
        self,
        config: CronTriggerConfig,
        execution: CronExecution,
        use_agent: bool,
        raise_on_failure: bool,
        slot: SlotHold,
    ) -> None:
        """Attempt, and on failure retry with backoff until the strategy says stop. The global
        slot is given back during the backoff, so a failing job waiting minutes to retry does
        not hold up other triggers (its per-trigger slot is kept: no overlap with itself)."""
        app = self._app
        strategy = RetryStrategy.for_trigger(config)
        retries = 0
        while True:
            try:
                execution.status = await self._attempt(config, execution, use_agent)
                return
            except _AgentSkipped as skipped:
                execution.status = ExecutionStatus.SKIPPED
                execution.skip_reason = f"agent_skipped: {skipped.reason}"
                return
            except Exception as exc:
                self._set_failure(execution, exc)
                if raise_on_failure or not strategy.should_retry(exc, retries):
                    execution.status = ExecutionStatus.FAILED
                    return
                delay = strategy.calculate_delay(retries)
                retries += 1
                execution.retry_count += 1
                log.info(
                    "retrying %s in %.1fs (retry %d of %d): %s",
                    config.event_name,
                    delay,
                    retries,
                    strategy.max_retries,
                    execution.error_message,
                )
                await self._record(execution)
                slot.release()
                await app.sleep(delay)
                await slot.acquire()

    async def _add_previous_run(self, config: CronTriggerConfig, execution: CronExecution) -> None:
        """OwlClaw FR-4: the agent sees how the previous run ended."""
        rows = await self._db(
            self._app.ledger.history,
            config.event_name,
            tenant_id=self._app.tenant_id,
            limit=1,
            statuses=_COUNTED,
        )
        if rows:
            prev = rows[0]
            execution.context["previous_run"] = {
                "execution_id": prev.execution_id,
                "status": prev.status.value,
                "decision_mode": prev.decision_mode,
                "completed_at": _iso(prev.completed_at) if prev.completed_at else None,
            }

    async def _attempt(
        self, config: CronTriggerConfig, execution: CronExecution, use_agent: bool
    ) -> ExecutionStatus:
        """One try of the chosen path; raises on failure so the retry loop sees it."""
        execution.error_message = None
        execution.error_traceback = None
        has_fallback = config.fallback_handler is not None
        if not use_agent:
            if not has_fallback:
                raise RuntimeError("no agent is configured and the trigger has no fallback")
            await self._call_fallback(config, execution)
            return ExecutionStatus.FALLBACK
        try:
            result = await self._call_agent(config, execution)
        except _AgentSkipped:
            if config.fallback_strategy == "always" and has_fallback:
                await self._call_fallback(config, execution)
                return ExecutionStatus.FALLBACK
            raise
        except Exception as agent_error:
            if _legacy_job_done(agent_error):
                # The agent ran the legacy job through its tool and it succeeded before the
                # agent run failed: running the fallback now would run the job twice.
                execution.error_message = redact(
                    f"agent failed after running the legacy job: {_describe(agent_error)}"
                )
                return ExecutionStatus.FALLBACK
            if config.fallback_strategy == "never" or not has_fallback:
                raise
            log.warning(
                "%s: agent failed (%s), running the fallback", config.event_name, agent_error
            )
            try:
                await self._call_fallback(config, execution)
            except Exception as fallback_error:
                raise fallback_error from agent_error
            # The fallback did the job; keep what went wrong with the agent visible.
            execution.error_message = redact(f"agent failed: {_describe(agent_error)}")
            return ExecutionStatus.FALLBACK
        # "always" runs the fallback after the agent too, unless the agent already ran the
        # legacy job through its tool (never run a job twice).
        if (
            config.fallback_strategy == "always"
            and has_fallback
            and result.details.get("legacy_job_succeeded") is not True
        ):
            await self._call_fallback(config, execution)
        return ExecutionStatus.SUCCESS

    async def _call_agent(self, config: CronTriggerConfig, execution: CronExecution) -> AgentResult:
        agent = self._app.agent
        assert agent is not None
        call = agent.trigger_event(
            config.event_name,
            focus=config.focus,
            payload=dict(execution.context),
            tenant_id=self._app.tenant_id,
        )
        raw = await self._with_timeout(call, config)
        result = normalize_agent_result(raw)
        execution.agent_run_id = result.run_id or execution.agent_run_id
        if result.details.get("legacy_job_ran"):
            # The agent ran the legacy job (OpenAIAgent's run_legacy_job tool): keep its exit
            # code and output like a fallback's.
            self._copy_legacy_result(execution, _LegacyOutcome.from_details(result.details))
        # Every attempt costs money, retries included: accumulate.
        execution.llm_calls += result.llm_calls
        execution.tokens_in += result.tokens_in
        execution.tokens_out += result.tokens_out
        execution.cost_usd += result.cost_usd
        if result.status == "failed":
            raise AgentRunFailed(result)
        if result.status == "skipped":
            raise _AgentSkipped(result.error or "agent skipped the run")
        if config.max_cost_per_run is not None and result.cost_usd > config.max_cost_per_run:
            execution.governance_checks["cost_per_run"] = {
                "passed": False,
                "cost_usd": result.cost_usd,
                "limit_usd": config.max_cost_per_run,
            }
            raise CostLimitExceeded(
                f"agent run cost ${result.cost_usd:.4f} > max_cost_per_run "
                f"${config.max_cost_per_run:.4f}"
            )
        if config.max_cost_per_run is not None:
            execution.governance_checks["cost_per_run"] = {
                "passed": True,
                "cost_usd": result.cost_usd,
                "limit_usd": config.max_cost_per_run,
            }
        return result

    async def _call_fallback(self, config: CronTriggerConfig, execution: CronExecution) -> None:
        fn = config.fallback_handler
        assert fn is not None
        wants_context, is_async = _call_shape(fn)
        args: tuple[Any, ...] = (dict(execution.context),) if wants_context else ()
        try:
            if is_async:
                result = await self._with_timeout(fn(*args), config)
            else:
                # A sync fallback runs in a thread so the loop keeps firing other triggers. On
                # timeout the thread cannot be killed; LegacyCommand enforces its own timeout
                # on the child process.
                result = await self._with_timeout(self._in_job_thread(fn, *args), config)
                if inspect.isawaitable(result):
                    result = await self._with_timeout(result, config)
        except Exception as exc:
            self._copy_legacy_result(execution, getattr(exc, "result", None))
            raise
        self._copy_legacy_result(execution, result)

    async def _with_timeout(self, awaitable: Any, config: CronTriggerConfig) -> Any:
        if config.max_duration is None:
            return await awaitable
        try:
            return await asyncio.wait_for(awaitable, timeout=config.max_duration)
        except TimeoutError as exc:
            raise ExecutionTimeout(
                f"timed out after {config.max_duration:g}s (max_duration)"
            ) from exc

    @staticmethod
    def _copy_legacy_result(execution: CronExecution, result: Any) -> None:
        """LegacyCommand results (and LegacyJobFailed.result) carry exit code and output."""
        if result is None:
            return
        exit_code = getattr(result, "exit_code", None)
        if isinstance(exit_code, int):
            execution.exit_code = exit_code
        tail = getattr(result, "output_tail", None)
        if isinstance(tail, str):
            execution.output_tail = redact(tail)[-_OUTPUT_TAIL_LIMIT:]

    @staticmethod
    def _set_failure(execution: CronExecution, exc: BaseException) -> None:
        execution.error_message = redact(_describe(exc))
        tb = "".join(traceback.format_exception(exc))
        execution.error_traceback = redact(tb)[-_TRACEBACK_LIMIT:]

    def notify(self, method: str, *args: Any) -> None:
        """Call ``method`` on every observer; an observer that raises is logged and ignored."""
        for observer in self._app.observers:
            try:
                getattr(observer, method)(*args)
            except Exception:
                log.exception("observer %r failed in %s; ignored", observer, method)


@dataclass(frozen=True)
class _LegacyOutcome:
    exit_code: int | None
    output_tail: str | None

    @classmethod
    def from_details(cls, details: dict[str, Any]) -> _LegacyOutcome:
        code, tail = details.get("exit_code"), details.get("output_tail")
        return cls(code if isinstance(code, int) else None, tail if isinstance(tail, str) else None)


def _legacy_job_done(exc: BaseException) -> bool:
    """Whether a failed agent run had already run the legacy job successfully."""
    result = getattr(exc, "result", None)
    details = getattr(result, "details", None)
    return isinstance(details, dict) and details.get("legacy_job_succeeded") is True


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
