"""The execution pipeline every scheduler backend calls (``OwlClawApp.dispatch``):

gate → governance → decision → agent or fallback (:mod:`owlclaw_runtime.attempt`) → retries →
ledger → observers → breaker.

What it does differently from OwlClaw's ``_run_cron`` (reference/owlclaw.md section 3.9):
- failures are retried with backoff here, or re-raised for Hatchet to retry (bug 4);
- cost, decision mode, governance checks, scheduled and triggered times, weight and retry count
  are persisted (bug 6);
- every execution is written as ``running`` when it starts and again when it ends; the final row
  is committed before the run is reported finished, so nothing is dropped (gap 14). Rows go
  through one writer task per loop that hands everything queued to the ledger's group commit
  (``record_executions``): 1,000 runs starting together cost a few transactions, not 1,000;
- the effective weight, shadow and pause come from the ledger's trigger state (re-read every
  ``state_ttl_seconds``), so ``owlmigrate step`` reaches running workers without a restart.

A run's start is the hot path: with 1,000 triggers due in the same minute every run waits for
the starts queued before it on the one event loop (benchmarks/trigger_latency.py), so the work
before the job's first line is kept to dictionary lookups and what the job's context needs.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from owlclaw_runtime.attempt import (
    AgentRunFailed,
    AgentSkipped,
    Attempts,
    CostLimitExceeded,
    ExecutionTimeout,
    call_shape,
    set_failure,
)
from owlclaw_runtime.breaker import CircuitBreaker
from owlclaw_runtime.concurrency import PrioritySemaphore, SlotHold, TriggerSlots
from owlclaw_runtime.execution import (
    DueRun,
    EffectiveState,
    _iso,
    _utc,
    effective_state,
    new_execution,
    new_execution_id,
)
from owlclaw_runtime.governance import CronGovernance, GovernanceResult
from owlclaw_runtime.ledger.base import LedgerError, TriggerState
from owlclaw_runtime.retry import RetryStrategy
from owlclaw_runtime.rowwriter import RowWriter
from owlclaw_runtime.triggers.models import CronExecution, CronTriggerConfig, ExecutionStatus

if TYPE_CHECKING:
    from owlclaw_runtime.app import OwlClawApp

log = logging.getLogger("owlclaw_runtime.pipeline")
_T = TypeVar("_T")
#: threads for ledger calls (SQLite serialises writers; a few threads keep reads flowing)
LEDGER_THREADS = 6

_COUNTED = [s.value for s in ExecutionStatus if s.counts_as_execution]

__all__ = [
    "AgentRunFailed",
    "CostLimitExceeded",
    "DueRun",
    "EffectiveState",
    "ExecutionTimeout",
    "Pipeline",
    "PipelineRunFailed",
    "effective_state",
    "new_execution_id",
]


class PipelineRunFailed(Exception):
    """Raised by ``dispatch(..., raise_on_failure=True)`` after every due run was recorded, so an
    engine with its own retries (Hatchet) sees the failure. ``executions`` are the records."""

    def __init__(self, message: str, executions: list[CronExecution]) -> None:
        super().__init__(message)
        self.executions = executions


class Pipeline:
    """One app's pipeline; owns the concurrency controllers and the state cache."""

    def __init__(self, app: OwlClawApp, *, state_ttl_seconds: float = 2.0) -> None:
        self._app = app
        self._ttl = state_ttl_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._states: dict[str, TriggerState] = {}
        self._states_read_at: float | None = None
        # event name -> (config, ledger state, merged): rebuilt only when either object changes
        self._effective: dict[str, tuple[CronTriggerConfig, TriggerState | None, EffectiveState]]
        self._effective = {}
        self._inflight = 0
        self._running = 0  # executions past every gate and running now
        self._ledger_pool: ThreadPoolExecutor | None = None
        self._job_pool: ThreadPoolExecutor | None = None
        #: waits between attempts to write a terminal row while the database fails
        self.commit_retry_delays: tuple[float, ...] = (0.2, 1.0, 3.0)
        self._governance: CronGovernance | None = None
        #: wait for the ``running`` row's commit before the job starts (crash evidence for a
        #: job that had only just started, at the price of a commit on every start; see
        #: docs/runtime.md). Off: the row is queued and committed while the job starts.
        self.running_row_before_start = False
        self._attempts = Attempts(app, self._in_job_thread)
        # (event name, instant, trigger type) -> (config, record built ahead): see prepare_due
        self._prepared: dict[tuple[str, datetime, str], tuple[CronTriggerConfig, CronExecution]]
        self._prepared = {}

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

    def _in_job_thread(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Start a synchronous fallback in a thread of its own pool, sized ``max_concurrent`` so
        that as many sync jobs can run at once as the global limit allows."""
        if self._job_pool is None:
            self._job_pool = ThreadPoolExecutor(
                max_workers=self._app.max_concurrent, thread_name_prefix="owlclaw-job"
            )
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._job_pool, functools.partial(fn, *args))

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
        return self._cached_effective(config)

    def _cached_effective(self, config: CronTriggerConfig) -> EffectiveState:
        """:meth:`effective` from the cache as it is (however old)."""
        name = config.event_name
        state = self._states.get(name)
        cached = self._effective.get(name)
        if cached is not None and cached[0] is config and cached[1] is state:
            return cached[2]
        merged = effective_state(config, state)
        self._effective[name] = (config, state, merged)
        return merged

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
                call_shape(config.fallback_handler)
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

    def start_due(self, due: Sequence[DueRun]) -> list[asyncio.Future[list[CronExecution]]]:
        """Start one wake-up's runs together (the embedded scheduler's hot path); one future
        per item, done with what :meth:`dispatch` would have returned.

        A single run whose admission needs no waiting (fresh cached trigger state, neither
        paused nor shadow, free per-trigger and global slots, a governance decision the cache
        answers) is admitted and decided here, in one pass that reads the clock once, and gets
        one task whose first step starts its job; the runs are announced to observers and
        their ``running`` rows queued by one callback behind those first steps. Anything else
        (several runs of one instant, a skip to record, a slot or a query to wait for) is a
        :meth:`dispatch` task. The checks, their order and the records are the same either
        way; with 1,000 runs due together, the work before each job's first line is what every
        later job waits for."""
        self._bind_loop()
        loop = self._loop
        assert loop is not None
        read_at = self._states_read_at
        fresh = read_at is not None and time.monotonic() - read_at < self._ttl
        now = self._app.now()
        now_iso = _iso(now)
        registry = self._app.cron_registry
        futures: list[asyncio.Future[list[CronExecution]]] = []
        starts: list[tuple[CronTriggerConfig, datetime, CronExecution, asyncio.Future[None]]] = []
        if self.running_row_before_start:
            fresh = False  # every job waits for its running row: the dispatch path does that
        prepared, self._prepared = self._prepared, {}
        for item in due:
            config = registry.get_trigger(item.event_name) if fresh and item.runs == 1 else None
            admitted = None if config is None else self._admit_now(config, item.trigger_type, now)
            if config is None or admitted is None:
                call = self.dispatch(
                    item.event_name,
                    scheduled_at=item.scheduled_at,
                    runs=item.runs,
                    trigger_type=item.trigger_type,
                )
                futures.append(loop.create_task(call))
                continue
            state, gov, slot = admitted
            scheduled = _utc(item.scheduled_at)
            ahead = prepared.pop((item.event_name, scheduled, item.trigger_type), None)
            if ahead is not None and ahead[0] is config:
                execution = ahead[1]
                execution.triggered_at = now
                execution.context["triggered_at"] = now_iso
            else:
                execution = new_execution(
                    self._app,
                    config,
                    scheduled,
                    now,
                    trigger_type=item.trigger_type,
                    index=0,
                    runs=1,
                    scheduled_iso=_iso(scheduled),
                    now_iso=now_iso,
                )
            execution.migration_weight = state.migration_weight
            self._note_checks(config, execution, gov)
            use_agent = self._attempts.decide(config, execution, state)
            execution.status = ExecutionStatus.RUNNING
            execution.started_at = now
            running_row: asyncio.Future[None] = loop.create_future()
            self._inflight += 1
            self._idle.clear()
            self._running += 1
            run = self._run_admitted(config, execution, use_agent, slot, running_row)
            futures.append(loop.create_task(run))
            starts.append((config, scheduled, execution, running_row))
        if starts:
            # Queued behind the first steps of the tasks above: each job has started by the
            # time its run is announced and its running row queued (docs/runtime.md).
            loop.call_soon(self._record_starts, starts)
        return futures

    def prepare_due(self, due: Sequence[DueRun]) -> None:
        """Build ahead of time the records (ids, contexts) of the single runs expected at a
        coming wake-up; the embedded scheduler calls it with the prefetch, half a second
        before. :meth:`start_due` takes a record built here for the same trigger
        configuration, instant and trigger type, sets when it was triggered, and builds any
        other itself; what it did not take is dropped."""
        registry = self._app.cron_registry
        prepared: dict[tuple[str, datetime, str], tuple[CronTriggerConfig, CronExecution]] = {}
        for item in due:
            config = registry.get_trigger(item.event_name) if item.runs == 1 else None
            if config is None:
                continue
            scheduled = _utc(item.scheduled_at)
            execution = new_execution(
                self._app,
                config,
                scheduled,
                scheduled,  # replaced at the wake-up
                trigger_type=item.trigger_type,
                index=0,
                runs=1,
                scheduled_iso=_iso(scheduled),
            )
            prepared[(item.event_name, scheduled, item.trigger_type)] = (config, execution)
        self._prepared = prepared

    def _record_starts(
        self, starts: list[tuple[CronTriggerConfig, datetime, CronExecution, asyncio.Future[None]]]
    ) -> None:
        """What ``_execute`` does before a job, done for a batch after its jobs started."""
        for config, scheduled, execution, running_row in starts:
            self.notify("trigger_fired", config, scheduled, 1)
            self._rows.submit(execution, running_row)
            self.notify("execution_started", config, execution)
        self.notify("active_changed", self._running)

    def _admit_now(
        self, config: CronTriggerConfig, trigger_type: str, now: datetime
    ) -> tuple[EffectiveState, GovernanceResult, SlotHold] | None:
        """Admit a run without waiting, taking its slots; ``None`` (nothing taken) when any
        check would wait, query or refuse: the caller then dispatches it the usual way."""
        state = self._cached_effective(config)
        if state.paused or (state.shadow and trigger_type != "manual"):
            return None
        name = config.event_name
        if not self._slots.free(name, config.max_concurrency, config.overlap_policy):
            return None
        if not self._global.free():
            return None
        gov = self.governance.check_cached(config, now, trigger_type=trigger_type)
        if gov is None or not gov.allowed or gov.breaker_trial or gov.breaker_transition:
            return None
        self._slots.take(name)
        slot = SlotHold(self._global, config.priority)
        slot.take()
        return state, gov, slot

    async def _run_admitted(
        self,
        config: CronTriggerConfig,
        execution: CronExecution,
        use_agent: bool,
        slot: SlotHold,
        running_row: asyncio.Future[None],
    ) -> list[CronExecution]:
        """The rest of a run :meth:`_admit_now` let through (never a breaker trial)."""
        try:
            try:
                return [
                    await self._run_and_record(
                        config, execution, use_agent, False, False, slot, running_row
                    )
                ]
            finally:
                slot.release()
                await self._slots.release(config.event_name)
        finally:
            self._inflight -= 1
            if self._inflight == 0:
                self._idle.set()

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
        self._inflight += 1
        self._idle.clear()
        try:
            execution = new_execution(
                self._app,
                config,
                scheduled,
                self._app.now(),
                trigger_type=trigger_type,
                index=index,
                runs=runs,
                context=context,
                execution_id=execution_id,
                retry_count=retry_count,
            )
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
        self._note_checks(config, execution, gov)
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

    def _note_checks(
        self, config: CronTriggerConfig, execution: CronExecution, gov: GovernanceResult
    ) -> None:
        """Keep what governance checked (and the per-trigger slot count) on the record."""
        execution.governance_checks.update(gov.checks)
        if config.max_concurrency > 0:
            execution.governance_checks["concurrency"] = {
                "passed": True,
                "running": self._slots.running(config.event_name),
                "limit": config.max_concurrency,
                "policy": config.overlap_policy,
            }

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
        use_agent = self._attempts.decide(config, execution, state)
        execution.status = ExecutionStatus.RUNNING
        execution.started_at = self._app.now()
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
        return await self._run_and_record(
            config, execution, use_agent, trial, raise_on_failure, slot, running_row
        )

    async def _run_and_record(
        self,
        config: CronTriggerConfig,
        execution: CronExecution,
        use_agent: bool,
        trial: bool,
        raise_on_failure: bool,
        slot: SlotHold,
        running_row: asyncio.Future[None],
    ) -> CronExecution:
        """Run the job (with retries) and record the outcome; the run is counted in
        ``_running`` and its ``running`` row is queued (or about to be, in ``running_row``)."""
        app = self._app
        started = time.perf_counter()
        try:
            if use_agent:
                await self._add_previous_run(config, execution)
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
        strategy: RetryStrategy | None = None  # built on the first failure, off the hot path
        retries = 0
        while True:
            try:
                execution.status = await self._attempts.attempt(config, execution, use_agent)
                return
            except AgentSkipped as skipped:
                execution.status = ExecutionStatus.SKIPPED
                execution.skip_reason = f"agent_skipped: {skipped.reason}"
                return
            except Exception as exc:
                set_failure(execution, exc)
                strategy = strategy or RetryStrategy.for_trigger(config)
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

    def notify(self, method: str, *args: Any) -> None:
        """Call ``method`` on every observer; an observer that raises is logged and ignored."""
        for observer in self._app.observers:
            try:
                getattr(observer, method)(*args)
            except Exception:
                log.exception("observer %r failed in %s; ignored", observer, method)
