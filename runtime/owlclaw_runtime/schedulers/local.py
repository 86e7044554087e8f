"""The embedded scheduler: fires every enabled trigger at the time model's exact instants.

What it copies from the cron daemons, and where it differs on purpose:
- Instants and their multiplicity come from :class:`owlclaw_runtime.schedule.Schedule` in the
  trigger's zone, dialect and DST semantics, so a fixed-time job skipped by a spring-forward jump
  runs right after it, and ``0,30 2 * * *`` is dispatched once with ``runs=2`` at that instant
  (Vixie cron runs both lines at 03:00 on the spring day).
- Small lateness is run: an instant that is at most ``grace_seconds`` old when the loop gets to
  it (a busy machine, a restart) still fires as a normal ``cron`` run.
- Downtime is not backfilled, like cron: instants older than the grace window are recorded as a
  ``missed`` management event and skipped. A trigger with ``catch_up=True`` runs them instead
  (oldest first, trigger type ``catchup``, at most ``max_catch_up``), as anacron would.
- The last handled instant is saved in the ledger *before* the runs are dispatched, so a crash
  can lose at most the runs in flight but never fire one twice, and a restart resumes exactly
  after it. The save is a compare-and-set (``LedgerStore.advance_last_fired``): it claims the
  wake-up's instants only if no other process claimed any of them, else nothing is dispatched.
  One write per wake-up covers every trigger due then: a scheduler watermark row
  (``TriggerState`` named ``__scheduler__/<lock name>``); each trigger's own
  ``TriggerState.last_fired_at`` follows once its runs finish. A restart resumes after the newer
  of the two. On first start a trigger's ``last_fired_at`` is set to its last instant before the
  scheduler existed (that one was the legacy daemon's), so nothing before start-up is run.
- Several processes may share one ledger: only the holder of the ledger's leader lock fires;
  the others retry every ``leader_retry_seconds`` and, once leader, resume from the ledger.
  A lock can be lost while held (a PostgreSQL session that ended, a lock file removed): the
  leader asks ``LeaderLock.held()`` every ``leader_check_seconds`` (off the event loop, only
  when no instant is due) and steps down at once when it is lost or when its claim of a batch
  fails: it stops firing, records a ``leadership_lost`` management event, reports it in
  ``health()`` and goes back to trying to lead. Between the loss and its detection the
  compare-and-set keeps a second leader from firing an instant twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from owlclaw_runtime.ledger.base import LedgerStore, ManagementEvent, TriggerState
from owlclaw_runtime.pipeline import DueRun
from owlclaw_runtime.schedulers.base import SchedulerBackend
from owlclaw_runtime.schedulers.clock import Now, Sleep, utc_now
from owlclaw_runtime.schedulers.entries import (
    _MICRO,
    _Entry,
    _Fire,
    _timing,
    iso,
    schedule_of,
    walk_stale,
)
from owlclaw_runtime.schedulers.gcpause import GcPause
from owlclaw_runtime.schedulers.leadership import Leadership, record_loss
from owlclaw_runtime.triggers.models import CronTriggerConfig

log = logging.getLogger("owlclaw_runtime.schedulers.local")

#: how long before a wake-up the pipeline's cached trigger states are refreshed (prefetch)
PREFETCH_LEAD_SECONDS = 0.5
_START_ITERATIONS = 3
WATERMARK_PREFIX = "__scheduler__/"


class LocalScheduler(SchedulerBackend):
    """The default backend: one asyncio task firing every trigger of ``app``.

    ``app`` provides ``cron_registry.list_triggers()``, ``ledger`` (a :class:`LedgerStore`),
    ``tenant_id`` and ``await dispatch(event_name, scheduled_at=, runs=, trigger_type=,
    context=, execution_id=)``. ``clock`` (an object with ``now()`` and ``async sleep(s)``,
    e.g. :class:`~owlclaw_runtime.schedulers.clock.FakeClock`) or ``now``/``sleep`` replace the
    real clock; by default "now" is ``app.now()``.
    """

    name = "local"

    def __init__(
        self,
        app: Any,
        *,
        grace_seconds: float = 60.0,
        clock: Any = None,
        now: Now | None = None,
        sleep: Sleep | None = None,
        leader_retry_seconds: float = 5.0,
        max_sleep_seconds: float = 30.0,
        state_poll_seconds: float = 10.0,
        max_catch_up: int = 1000,
        lock_name: str | None = None,
        leader_check_seconds: float = 5.0,
    ) -> None:
        self._app = app
        self.grace = timedelta(seconds=grace_seconds)
        self._now = now or getattr(clock, "now", None) or getattr(app, "now", None) or utc_now
        self._sleep = sleep or getattr(clock, "sleep", None) or asyncio.sleep
        # A FakeClock must not advance while this loop or one of its runs is busy.
        self._hold: Callable[[], Callable[[], None]] | None = getattr(clock, "hold", None)
        self._leader_retry = leader_retry_seconds
        self._max_sleep = max_sleep_seconds
        self._state_poll = state_poll_seconds
        self._max_catch_up = max_catch_up
        self._lock_name = lock_name or f"owlclaw-scheduler:{self._tenant}:{self._app_name}"
        # One ledger row (a TriggerState under a reserved name) says "every instant up to here
        # was dispatched": one write per wake-up instead of one per trigger (see _fire_batch).
        self.watermark_name = f"{WATERMARK_PREFIX}{self._lock_name}"
        self._watermark: datetime | None = None
        self._watermark_lock = threading.Lock()
        self._gc = GcPause()
        self._entries: dict[str, _Entry] = {}
        self._lead = Leadership(
            self._lock_name,
            check_seconds=leader_check_seconds,
            retry_seconds=leader_retry_seconds,
            now=self._now,
        )
        # Batches claim their instants in the order they were handed out (made per run: an
        # asyncio.Lock belongs to one event loop).
        self._claim_order = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[Any]] = set()
        self._wake: asyncio.Event | None = None
        self._prefetched: datetime | None = None  # the wake-up the states were refreshed for
        self._stopping = False
        self._refreshed_at: float | None = None
        self._crashed: BaseException | None = None
        self.started_at: datetime | None = None

    # -- wiring ------------------------------------------------------------------------------
    @property
    def _store(self) -> LedgerStore:
        store: LedgerStore = self._app.ledger
        return store

    @property
    def _tenant(self) -> str:
        return str(getattr(self._app, "tenant_id", "default"))

    @property
    def _app_name(self) -> str:
        return str(getattr(self._app, "name", "app"))

    @property
    def is_leader(self) -> bool:
        """Whether this process holds the leader lock and fires."""
        return self._lead.leader

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    # -- SchedulerBackend --------------------------------------------------------------------
    async def start(self) -> None:
        """Start the firing loop in the background (returns at once)."""
        if self.running:
            return
        self._begin()
        self._task = asyncio.create_task(self._main(None), name="owlclaw-local-scheduler")
        # Let the loop take the lock and arm the triggers before start() returns.
        await asyncio.sleep(0)

    async def run_until(self, until: datetime) -> None:
        """Fire in the foreground until the clock reaches ``until``, then stop cleanly.

        With a :class:`~owlclaw_runtime.schedulers.clock.FakeClock` this walks virtual time.
        """
        self._begin()
        self._task = asyncio.current_task()
        try:
            await self._main(until.astimezone(UTC))
        finally:
            self._task = None
            await self._finish()

    async def stop(self) -> None:
        """Stop firing, wait for every dispatched run, release the leader lock."""
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._finish()

    async def pause(self, event_name: str) -> None:
        """Stop firing the trigger; durable (``TriggerState.paused``) so every process obeys."""
        self._require(event_name)
        entry = self._entries.get(event_name)
        if entry is not None:
            entry.paused = True  # at once: no instant fires after pause() was called
        await asyncio.to_thread(self._save_state, event_name, paused=True)
        self._poke()

    async def resume(self, event_name: str) -> None:
        """Fire the trigger again from its next instant; instants passed while paused stay
        unrun (they were consumed while paused, so a restart does not catch them up)."""
        config = self._require(event_name)
        entry = self._entries.get(event_name)
        if entry is not None:
            entry.paused = not config.enabled
        await asyncio.to_thread(self._save_state, event_name, paused=False)
        self._poke()

    async def trigger_now(self, event_name: str, context: dict[str, Any]) -> str:
        """Dispatch one manual run now, in the background; returns its execution id at once."""
        self._require(event_name)
        execution_id = uuid.uuid4().hex
        coro = self._app.dispatch(
            event_name,
            scheduled_at=self._now(),
            runs=1,
            trigger_type="manual",
            context=dict(context or {}),
            execution_id=execution_id,
        )
        self._track(asyncio.create_task(self._guard(coro, event_name)))
        return execution_id

    async def health(self) -> dict[str, Any]:
        """Whether the loop is alive, leadership, and every trigger's next instant."""
        triggers = {name: e.health() for name, e in sorted(self._entries.items())}
        report: dict[str, Any] = {
            "ok": self.running and self._crashed is None,
            "backend": self.name,
            "running": self.running,
            "leader": self._lead.leader,
            "lock": self._lock_name,
            **self._lead.report(),
            "inflight": len(self._inflight),
            "triggers": triggers,
        }
        if self._crashed is not None:
            report["error"] = f"{type(self._crashed).__name__}: {self._crashed}"
        return report

    async def refresh_states(self) -> None:
        """Re-read the ledger's pauses and new triggers at the loop's next housekeeping moment
        (not in the half second before an instant), instead of ``state_poll_seconds`` later."""
        self._refreshed_at = None
        self._poke()

    def next_fires(self) -> dict[str, datetime | None]:
        """The next instant the scheduler will fire for each armed trigger."""
        return {name: e.next_at for name, e in self._entries.items()}

    # -- the loop ----------------------------------------------------------------------------
    def _begin(self) -> None:
        self._stopping = False
        self._crashed = None
        self._wake = asyncio.Event()
        self._claim_order = asyncio.Lock()
        self.started_at = self._now()

    async def _main(self, until: datetime | None) -> None:
        assert self._wake is not None
        release = self._hold() if self._hold is not None else None
        try:
            while not self._stopping:
                self._wake.clear()
                now = self._now()
                if until is not None and now >= until:
                    break
                if self._lead.deposed is not None:
                    await self._step_down(**self._lead.deposed, until=until)
                    continue
                if not self._lead.leader:
                    if await asyncio.to_thread(self._lead.try_lead, self._store):
                        await asyncio.to_thread(self._arm_all)
                    else:
                        await self._wait(self._leader_retry, now, until)
                        continue
                due = self._earliest()
                if due is not None and due <= now:
                    started = self._fire_due(now)
                    if started is not None:
                        # The next instants are a minute away or more: work them out once the
                        # batch's runs have started, so that ~10 ms of next_fire arithmetic
                        # for 1,000 triggers neither delays the watermark write nor the runs.
                        await started.wait()
                    await self._advance_pending()
                    continue
                # Housekeeping only when no instant is near: never between an instant and its
                # runs, nor in the last PREFETCH_LEAD_SECONDS before one (re-arming 1,000
                # entries or a slow lock check there once made a wake-up 10 ms late). A check
                # that falls in that window runs right after the instant's runs are handed out.
                near = due is not None and (due - now).total_seconds() <= PREFETCH_LEAD_SECONDS
                if not near:
                    lost = await self._lead.check()
                    if lost is not None:
                        await self._step_down(lost, {}, until=until)
                        continue
                    await self._maybe_refresh()
                    now = self._now()
                    due = self._earliest()
                    if due is not None and due <= now:
                        continue
                delay = self._max_sleep if due is None else (due - now).total_seconds()
                if due is not None and self._prefetched != due:
                    if delay > PREFETCH_LEAD_SECONDS:
                        wake = min(delay - PREFETCH_LEAD_SECONDS, self._max_sleep)
                        await self._wait(wake, now, until)
                        continue
                    # Just before the wake-up: refresh the pipeline's cached trigger and
                    # breaker states now, so the runs handed out at the instant start without
                    # waiting for a query.
                    self._prefetched = due
                    await self._prefetch()
                    continue
                await self._wait(min(delay, self._max_sleep), now, until, for_check=not near)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # reported by health(); the process decides what to do
            self._crashed = exc
            log.exception("local scheduler crashed")
            raise
        finally:
            if release is not None:
                release()

    async def _prefetch(self) -> None:
        self._prepare(self._prefetched)
        pipeline = getattr(self._app, "pipeline", None)
        prefetch = getattr(pipeline, "prefetch", None)
        if prefetch is None:
            return
        try:
            await prefetch(PREFETCH_LEAD_SECONDS)
        except Exception:
            # Only a warm-up: the runs read the states themselves if this failed.
            log.warning("refreshing trigger states before a wake-up failed", exc_info=True)

    def _prepare(self, instant: datetime | None) -> None:
        """Let the app build the records of the runs due at ``instant`` ahead of time (only
        a head start: anything that changes by then is built at the instant instead)."""
        prepare = getattr(self._app, "prepare_due", None)
        if prepare is None or instant is None:
            return
        due = [
            DueRun(e.config.event_name, instant)
            for e in self._entries.values()
            if e.next_at == instant and e.next_runs == 1 and not e.paused
        ]
        try:
            prepare(due)
        except Exception:
            log.warning("preparing the runs of a wake-up failed", exc_info=True)

    async def _wait(
        self, delay: float, now: datetime, until: datetime | None, *, for_check: bool = True
    ) -> None:
        if until is not None:
            delay = min(delay, max(0.0, (until - now).total_seconds()))
        check = self._lead.until_check(now) if for_check else None
        if check is not None:  # wake up for the next leadership check
            delay = min(delay, check)
        assert self._wake is not None
        sleeper = asyncio.ensure_future(self._sleep(max(0.0, delay)))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _earliest(self) -> datetime | None:
        times = [e.next_at for e in self._entries.values() if e.next_at is not None]
        return min(times) if times else None

    # -- leadership and arming ---------------------------------------------------------------
    def _release(self) -> None:
        self._lead.release()

    async def _step_down(
        self, reason: str, details: dict[str, Any], *, until: datetime | None
    ) -> None:
        """Stop firing at once, record why, and go back to trying to lead, the first time one
        retry interval later (the new leader goes on undisturbed); re-armed from the ledger
        when leading again, as on first start."""
        info = await self._lead.step_down(reason, {"watermark": iso(self._watermark), **details})
        self._entries = {}
        self._prefetched = None
        event = ManagementEvent(
            event_name=self.watermark_name,
            action="leadership_lost",
            at=self._now(),
            tenant_id=self._tenant,
            actor=f"scheduler:{self.name}",
            details=info,
        )
        self._track(asyncio.create_task(asyncio.to_thread(record_loss, self._store, event)))
        await self._wait(self._leader_retry, self._now(), until)

    def _triggers(self) -> list[CronTriggerConfig]:
        return list(self._app.cron_registry.list_triggers())

    def _arm_all(self) -> None:
        """Rebuild every entry from the registry and the ledger (on becoming leader)."""
        states = {s.event_name: s for s in self._store.all_trigger_states(tenant_id=self._tenant)}
        mark = states.get(self.watermark_name)
        if mark is not None and mark.last_fired_at is not None:
            self._watermark = max(self._watermark or mark.last_fired_at, mark.last_fired_at)
        now = self._now()
        self._entries = {}
        for config in self._triggers():
            self._entries[config.event_name] = self._arm(config, states.get(config.event_name), now)
        self._refreshed_at = time.monotonic()

    def _arm(self, config: CronTriggerConfig, state: TriggerState | None, now: datetime) -> _Entry:
        try:
            schedule = schedule_of(self._app.cron_registry, config)
        except Exception as exc:  # an unusable expression must not stop the other triggers
            log.error("trigger %s not scheduled: %s", config.event_name, exc)
            return _Entry(config=config, schedule=None, error=str(exc))
        entry = _Entry(config=config, schedule=schedule)
        entry.paused = (state is not None and state.paused) or not config.enabled
        last = state.last_fired_at if state is not None else None
        if last is None:
            # First start: the instants before now were the legacy daemon's; start after the
            # latest one and remember it, so a restart before the first fire skips nothing.
            prev = schedule.prev_fire(now + _MICRO)
            if prev is not None:
                self._save_last(entry, prev)
            entry.next_at = schedule.next_fire(now)
        else:
            entry.saved_at = last
            if self._watermark is not None and self._watermark > last:
                last = self._watermark  # fired by a batch whose per-trigger row lags
            entry.next_at = schedule.next_fire(last)
        if entry.next_at is not None:
            entry.next_runs = schedule.runs_due_at(entry.next_at)
        return entry

    async def _maybe_refresh(self) -> None:
        """Pick up triggers registered later and pauses written by other processes."""
        if (
            self._refreshed_at is not None
            and time.monotonic() - self._refreshed_at < self._state_poll
        ):
            return
        self._refreshed_at = time.monotonic()
        states = await asyncio.to_thread(self._store.all_trigger_states, tenant_id=self._tenant)
        by_name = {s.event_name: s for s in states}
        now = self._now()
        configs = {c.event_name: c for c in self._triggers()}
        for name in list(self._entries):
            if name not in configs:
                del self._entries[name]
        for name, config in configs.items():
            entry = self._entries.get(name)
            state = by_name.get(name)
            if entry is None or _timing(entry.config) != _timing(config):
                if entry is not None and entry.saved_at is not None:
                    # The ledger row may lag a save still in flight: never go behind it.
                    ledger_last = state.last_fired_at if state is not None else None
                    state = dataclasses.replace(
                        state or TriggerState(event_name=name, tenant_id=self._tenant),
                        last_fired_at=max(entry.saved_at, ledger_last or entry.saved_at),
                    )
                self._entries[name] = await asyncio.to_thread(self._arm, config, state, now)
            else:
                entry.config = config
                entry.paused = (state is not None and state.paused) or not config.enabled

    # -- firing ------------------------------------------------------------------------------
    def _fire_due(self, now: datetime) -> asyncio.Event | None:
        """Hand out every due instant; the event is set once the batch's runs have started
        (``None``: nothing to run)."""
        self._gc.hold()
        try:
            return self._fire_due_held(now)
        finally:
            self._gc.release()

    def _fire_due_held(self, now: datetime) -> asyncio.Event | None:
        due = [
            e
            for e in self._entries.values()
            if e.next_at is not None and e.next_at <= now and e.schedule is not None
        ]
        # Same instant: higher priority first (OwlClaw NFR-2).
        due.sort(key=lambda e: (e.next_at, -e.config.priority))
        batch: list[tuple[_Entry, list[_Fire]]] = []
        for entry in due:
            fires = self._collect(entry, now)
            if fires:
                batch.append((entry, fires))
        if not batch:
            return None
        started = asyncio.Event()
        task = asyncio.create_task(self._fire_batch(batch, started))
        task.add_done_callback(lambda _task: started.set())  # even if it never ran
        self._track(task)
        return started

    def _collect(self, entry: _Entry, now: datetime) -> list[_Fire]:
        """Take ``entry``'s due instants (oldest first); its next one is worked out later."""
        schedule = entry.schedule
        fires: list[_Fire] = []
        live_from = now - self.grace
        assert entry.next_at is not None
        if entry.next_at >= live_from and entry.next_runs is not None:
            # The usual case: one instant, on time, multiplicity known in advance.
            instant, runs = entry.next_at, entry.next_runs
            entry.next_at = entry.next_runs = None
            entry.advance_from = instant
            if entry.paused:
                save = asyncio.to_thread(self._save_last, entry, instant)
                self._track(asyncio.create_task(save))
                return []
            return [_Fire(instant, runs, "cron")] if runs > 0 else []
        entry.next_runs = None
        if entry.next_at < live_from:
            self._handle_stale(entry, live_from, fires)
        last_consumed: datetime | None = None
        while entry.next_at is not None and entry.next_at <= now:
            instant = entry.next_at
            entry.next_at = schedule.next_fire(instant)
            if entry.paused:
                last_consumed = instant
                continue
            runs = schedule.runs_due_at(instant)
            if runs > 0:
                fires.append(_Fire(instant, runs, "cron"))
        if last_consumed is not None and not fires:
            save = asyncio.to_thread(self._save_last, entry, last_consumed)
            self._track(asyncio.create_task(save))
        return fires

    async def _advance_pending(self) -> None:
        """Work out the next instant (and its multiplicity) of every trigger that just fired,
        in small slices so the runs just dispatched are not held up."""
        pending = [
            e
            for e in self._entries.values()
            if e.schedule is not None
            and (e.advance_from is not None or (e.next_at is not None and e.next_runs is None))
        ]
        for index, entry in enumerate(pending):
            if entry.advance_from is not None:
                entry.next_at = entry.schedule.next_fire(entry.advance_from)
                entry.advance_from = None
            if entry.next_at is not None:
                entry.next_runs = entry.schedule.runs_due_at(entry.next_at)
            if index % 32 == 31:
                await asyncio.sleep(0)

    def _handle_stale(self, entry: _Entry, live_from: datetime, fires: list[_Fire]) -> None:
        """Instants older than the grace window: downtime. Skip (cron) or catch up (anacron)."""
        schedule = entry.schedule
        limit = self._max_catch_up if entry.config.catch_up else 0
        first = entry.next_at
        stale = walk_stale(schedule, first, live_from, limit)
        keep, last_missed = stale.keep, stale.last_missed
        entry.next_at = stale.next_at
        if entry.paused:
            newest = keep[-1] if keep else last_missed
            if newest is not None:
                self._track(asyncio.create_task(asyncio.to_thread(self._save_last, entry, newest)))
            return
        for when in keep:
            runs = schedule.runs_due_at(when)
            if runs > 0:
                fires.append(_Fire(when, runs, "catchup"))
        missed = stale.missed
        if missed > 0 and last_missed is not None:
            entry.missed += missed
            details = {
                "count": missed,
                "count_is_lower_bound": stale.count_is_lower_bound,
                "first": iso(first),
                "last": iso(last_missed),
                "grace_seconds": self.grace.total_seconds(),
                "catch_up": entry.config.catch_up,
            }
            log.warning(
                "%s: %d instant(s) missed while not running (first %s, last %s)",
                entry.config.event_name,
                missed,
                details["first"],
                details["last"],
            )
            self._track(
                asyncio.create_task(
                    asyncio.to_thread(self._record_missed, entry, last_missed, details)
                )
            )

    async def _fire_batch(
        self, batch: list[tuple[_Entry, list[_Fire]]], started: asyncio.Event | None = None
    ) -> None:
        """Dispatch one wake-up's instants: the watermark first, then every run at once.
        ``started`` is set once the runs have started (or the batch gave up)."""
        newest = max(fire.instant for _, fires in batch for fire in fires)
        oldest = min(fires[0].instant for _, fires in batch)
        runs: list[tuple[str, asyncio.Future[Any]]] = []
        self._gc.hold()  # taken inside the task: a task cancelled before it ran holds nothing
        try:
            # Saved before any run is dispatched: a crash after this line never fires them
            # again. A crash during a long catch-up loses its remaining instants (at most once).
            # A compare-and-set: refused when another process already claimed one of these
            # instants (this one lost its lock and has not noticed yet); then none is run.
            async with self._claim_order:
                claimed = await asyncio.to_thread(self._save_watermark, oldest, newest)
            if not claimed:
                self._lead.depose(oldest, newest)
                self._poke()
                # Let the loop wake up and step down before this task ends (a FakeClock
                # would otherwise move on to the loop's planned wake-up first).
                for _ in range(_START_ITERATIONS * 3):
                    await asyncio.sleep(0)
                return
            runs = self._hand_out(batch)
            # Keep the collector off until the runs have started: each run's first steps
            # (the pipeline up to the job's first line, the job's own task when it has a
            # max_duration) take the next loop iterations. Measured with 1,000 runs due
            # together: a full collection right after the hand-out stalled the last 10% of
            # the starts by 110 ms.
            for _ in range(_START_ITERATIONS):
                await asyncio.sleep(0)
        finally:
            self._gc.release()
            if started is not None:
                started.set()
        # Each trigger's own last_fired_at follows once its runs are done, off the hot path
        # (the watermark above is what a restart trusts).
        outcomes = await asyncio.gather(*(run for _, run in runs), return_exceptions=True)
        for (event_name, _), outcome in zip(runs, outcomes, strict=True):
            if isinstance(outcome, Exception):
                # The pipeline records every failure in the ledger; anything that escapes it
                # is logged here so one bad run never stops the scheduler.
                log.error("dispatch of %s raised", event_name, exc_info=outcome)
        await asyncio.to_thread(
            self._save_lasts, [(entry, fires[-1].instant) for entry, fires in batch]
        )

    def _hand_out(
        self, batch: list[tuple[_Entry, list[_Fire]]]
    ) -> list[tuple[str, asyncio.Future[Any]]]:
        """Start every run of a batch: one instant per trigger through the app's ``start_due``
        (one pass, one task per run), several (a catch-up) in order in a task of their own."""
        # All in one pass, not in chunks with the loop turning in between: a turn lets the
        # row writer hand the first runs' rows to a ledger thread, whose Python work then
        # competes for the GIL with the admission of the rest (measured with 1,000 runs:
        # chunks of 100 moved the last start from 37 ms to 78 ms).
        start_due = getattr(self._app, "start_due", None)
        runs: list[tuple[str, asyncio.Future[Any]]] = []
        due: list[DueRun] = []
        for entry, fires in batch:
            entry.fired += sum(fire.runs for fire in fires)
            name = entry.config.event_name
            if len(fires) == 1 and start_due is not None:
                fire = fires[0]
                if not (self._stopping and fire.trigger_type == "catchup"):
                    due.append(DueRun(name, fire.instant, fire.runs, fire.trigger_type))
                continue
            task = asyncio.create_task(self._dispatch_in_order(entry, fires))
            self._track(task)
            runs.append((name, task))
        if due:
            assert start_due is not None
            runs.extend(zip((d.event_name for d in due), start_due(due), strict=True))
        return runs

    async def _dispatch_in_order(self, entry: _Entry, fires: list[_Fire]) -> None:
        for fire in fires:
            if self._stopping and fire.trigger_type == "catchup":
                return
            await self._guard(
                self._app.dispatch(
                    entry.config.event_name,
                    scheduled_at=fire.instant,
                    runs=fire.runs,
                    trigger_type=fire.trigger_type,
                ),
                entry.config.event_name,
            )

    async def _guard(self, coro: Any, event_name: str) -> Any:
        try:
            return await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            # The pipeline records every failure in the ledger; anything that escapes it is
            # logged here so one bad run never stops the scheduler.
            log.exception("dispatch of %s raised", event_name)
            return None

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        if self._hold is not None:
            release = self._hold()
            task.add_done_callback(lambda _task: release())

    async def _finish(self) -> None:
        while self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)
        self._release()

    # -- ledger writes -----------------------------------------------------------------------
    def _require(self, event_name: str) -> CronTriggerConfig:
        # raises UnknownTriggerError (a KeyError) naming the trigger
        config: CronTriggerConfig = self._app.cron_registry.require(event_name)
        return config

    def _save_state(self, event_name: str, **changes: Any) -> None:
        state = self._store.get_trigger_state(event_name, tenant_id=self._tenant)
        self._store.save_trigger_state(
            dataclasses.replace(state, tenant_id=self._tenant, updated_at=self._now(), **changes)
        )

    def _save_last(self, entry: _Entry, instant: datetime) -> None:
        # Monotonic: a slower thread (or a deposed leader's late write) never moves it
        # backwards, and a pause saved meanwhile by another process is kept.
        with entry.save_lock:
            if entry.saved_at is not None and instant <= entry.saved_at:
                return
            self._store.advance_last_fired(
                entry.config.event_name, instant, tenant_id=self._tenant, updated_at=self._now()
            )
            entry.saved_at = instant

    def _save_lasts(self, pairs: list[tuple[_Entry, datetime]]) -> None:
        for entry, instant in pairs:
            self._save_last(entry, instant)

    def _save_watermark(self, oldest: datetime, newest: datetime) -> bool:
        """Claim the instants ``oldest``..``newest``: move the watermark to ``newest`` if it
        is before ``oldest`` (nobody fired any of them), in one statement."""
        with self._watermark_lock:
            claimed = self._store.advance_last_fired(
                self.watermark_name,
                newest,
                older_than=oldest,
                tenant_id=self._tenant,
                updated_at=self._now(),
            )
            if claimed and (self._watermark is None or newest > self._watermark):
                self._watermark = newest
            return claimed

    def handled_through(self, event_name: str) -> datetime | None:
        """The newest instant of the trigger the ledger records as dispatched (or consumed
        while paused, or skipped as missed): what a restart resumes after."""
        last = self._store.get_trigger_state(event_name, tenant_id=self._tenant).last_fired_at
        mark = self._store.get_trigger_state(self.watermark_name, tenant_id=self._tenant)
        if last is None:
            return None  # never armed: a restart applies the first-start rule
        if mark.last_fired_at is not None and mark.last_fired_at > last:
            return mark.last_fired_at
        return last

    def _record_missed(self, entry: _Entry, last: datetime | None, details: dict[str, Any]) -> None:
        if last is not None:
            self._save_last(entry, last)
        self._store.record_event(
            ManagementEvent(
                event_name=entry.config.event_name,
                action="missed",
                at=self._now(),
                tenant_id=self._tenant,
                actor=f"scheduler:{self.name}",
                details=details,
            )
        )
