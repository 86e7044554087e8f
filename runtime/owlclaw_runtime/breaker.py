"""The per-trigger circuit breaker, persisted in the ledger.

OwlClaw's breaker counted skipped rows as failures, had no recovery timeout and no half-open
state, so once open it stayed open forever (reference/owlclaw.md section 3.9, bug 2). This one:

- looks only at counted executions (success, fallback, failed) in the trigger's window;
- opens when the failure rate over a full window reaches ``breaker_threshold``;
- after ``breaker_recovery_seconds`` lets exactly one trial run through (``half_open``);
- closes when the trial succeeds (and starts a fresh window), re-opens when it fails.

Transitions are saved with ``LedgerStore.save_breaker`` and also written as management events
(``breaker_open``, ``breaker_half_open``, ``breaker_closed``) so the history explains them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from owlclaw_runtime.ledger.base import BreakerState, LedgerStore, ManagementEvent
from owlclaw_runtime.triggers.models import CronTriggerConfig, ExecutionStatus

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"

_COUNTED = [s.value for s in ExecutionStatus if s.counts_as_execution]


@dataclass(frozen=True)
class BreakerDecision:
    """Whether a run may go ahead, the state it saw, and whether it is the half-open trial."""

    allowed: bool
    state: str
    trial: bool = False
    transition: tuple[str, str] | None = None  # (previous, new) when the check moved the state


_ALLOWED_CLOSED = BreakerDecision(True, CLOSED)


class CircuitBreaker:
    """Breaker logic for every trigger of one app; state lives in the ledger.

    Methods are synchronous (they call the synchronous ledger); the pipeline runs them in a
    worker thread. The half-open trial flag is per process: two workers may each run one trial.
    """

    def __init__(
        self, ledger: LedgerStore, *, tenant_id: str = "default", cache_seconds: float = 2.0
    ) -> None:
        self._ledger = ledger
        self._tenant = tenant_id
        # Reading the state on every run would cost a query per run; a state saved by this
        # process is known at once, one saved by another worker within ``cache_seconds``.
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[BreakerState, float]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._trial_in_flight: set[str] = set()
        # When the breaker last closed: the window restarts there, so a closed breaker is not
        # re-opened by the very failures that opened it before.
        self._window_start: dict[str, datetime | None] = {}

    def state(self, event_name: str, *, fresh: bool = False) -> BreakerState:
        """The trigger's breaker state (from a short cache unless ``fresh``)."""
        cached = self._cache.get(event_name)
        now = time.monotonic()
        if not fresh and cached is not None and now - cached[1] < self._cache_seconds:
            return cached[0]
        state = self._ledger.get_breaker(event_name, tenant_id=self._tenant)
        self._cache[event_name] = (state, now)
        return state

    def prime(self, states: dict[str, BreakerState], read_started: float) -> None:
        """Fill the cache from one bulk read (``LedgerStore.breakers``) started at the
        monotonic time ``read_started``, so runs of a closed breaker need no query of their
        own. An entry cached after the read began (a state this process saved meanwhile) is
        newer than the read and is kept."""
        for name, state in states.items():
            with self._lock(name):
                cached = self._cache.get(name)
                if cached is None or cached[1] < read_started:
                    self._cache[name] = (state, read_started)

    def check_cached(self, config: CronTriggerConfig, now: datetime) -> BreakerDecision | None:
        """The check answered from the cache without blocking: a fresh ``closed`` state lets
        the run through. ``None`` when the ledger must be asked (no fresh state, an open or
        half-open breaker, whose check may save a transition)."""
        # No lock: reading one dict entry is atomic, and a closed breaker involves no trial
        # bookkeeping. A record() in another thread opening it at this very moment races
        # with this run exactly as it would a moment earlier.
        cached = self._cache.get(config.event_name)
        if cached is None or cached[0].state != CLOSED:
            return None
        if time.monotonic() - cached[1] >= self._cache_seconds:
            return None
        return _ALLOWED_CLOSED

    def check(self, config: CronTriggerConfig, now: datetime) -> BreakerDecision:
        """Before a run (see :meth:`_check`); one check or record per trigger at a time."""
        with self._lock(config.event_name):
            return self._check(config, now)

    def _check(self, config: CronTriggerConfig, now: datetime) -> BreakerDecision:
        """Before a run: closed lets it through, open refuses it until the recovery time has
        passed (then moves to half_open), half_open lets one trial through at a time."""
        name = config.event_name
        current = self.state(name)
        if current.state == CLOSED:
            return BreakerDecision(True, CLOSED)
        if current.state == OPEN:
            opened = current.opened_at or now
            if now - opened < timedelta(seconds=config.breaker_recovery_seconds):
                return BreakerDecision(False, OPEN)
            self._save(name, HALF_OPEN, current.opened_at, now)
            self._trial_in_flight.add(name)
            return BreakerDecision(True, HALF_OPEN, trial=True, transition=(OPEN, HALF_OPEN))
        # half_open
        if name in self._trial_in_flight:
            return BreakerDecision(False, HALF_OPEN)
        self._trial_in_flight.add(name)
        return BreakerDecision(True, HALF_OPEN, trial=True)

    def abandon_trial(self, event_name: str) -> None:
        """The trial did not run after all (skipped later in the pipeline): free the slot."""
        with self._lock(event_name):
            self._trial_in_flight.discard(event_name)

    def _lock(self, event_name: str) -> threading.Lock:
        # The pipeline calls in from worker threads: "is a trial in flight? then I am it" must
        # be atomic per trigger, or two runs could both become the half-open trial.
        with self._locks_guard:
            lock = self._locks.get(event_name)
            if lock is None:
                lock = self._locks[event_name] = threading.Lock()
            return lock

    def record(
        self, config: CronTriggerConfig, success: bool, now: datetime, *, trial: bool
    ) -> tuple[str, str] | None:
        """After a counted execution; returns ``(previous, new)`` when the state changed."""
        with self._lock(config.event_name):
            return self._record(config, success, now, trial=trial)

    def _record(
        self, config: CronTriggerConfig, success: bool, now: datetime, *, trial: bool
    ) -> tuple[str, str] | None:
        name = config.event_name
        current = self.state(name, fresh=trial)
        if trial or current.state == HALF_OPEN:
            self._trial_in_flight.discard(name)
            if current.state != HALF_OPEN:
                # Another worker already decided; respect the stored state.
                return None
            if success:
                self._save(name, CLOSED, None, now)
                self._window_start[name] = now
                return (HALF_OPEN, CLOSED)
            self._save(name, OPEN, now, now)
            return (HALF_OPEN, OPEN)
        if current.state != CLOSED or success:
            return None
        if self._failure_rate_reached(config):
            self._save(name, OPEN, now, now)
            return (CLOSED, OPEN)
        return None

    def reset(self, event_name: str, now: datetime) -> tuple[str, str] | None:
        """Close the breaker by hand (an operator decision); returns the transition if any."""
        with self._lock(event_name):
            return self._reset(event_name, now)

    def _reset(self, event_name: str, now: datetime) -> tuple[str, str] | None:
        current = self.state(event_name, fresh=True)
        self._trial_in_flight.discard(event_name)
        if current.state == CLOSED:
            return None
        self._save(event_name, CLOSED, None, now)
        self._window_start[event_name] = now
        return (current.state, CLOSED)

    def _failure_rate_reached(self, config: CronTriggerConfig) -> bool:
        window = config.breaker_window
        if window <= 0:
            return False
        name = config.event_name
        # Re-read on every evaluation (only failures of a closed breaker get here): another
        # worker may have closed the breaker since this process last looked.
        start = self._last_close(name)
        mine = self._window_start.get(name)
        if mine is not None and (start is None or mine > start):
            start = mine
        if start is None:
            outcomes = self._ledger.recent_outcomes(name, window, tenant_id=self._tenant)
        else:
            rows = self._ledger.history(
                name, tenant_id=self._tenant, limit=window, statuses=_COUNTED
            )
            outcomes = [
                r.status.is_success
                for r in rows
                if (r.completed_at or r.triggered_at or start) >= start
            ]
        if len(outcomes) < window:
            return False
        failures = sum(1 for ok in outcomes if not ok)
        return failures / len(outcomes) >= config.breaker_threshold

    def _last_close(self, event_name: str) -> datetime | None:
        for event in self._ledger.events(event_name, tenant_id=self._tenant, limit=100):
            if event.action == "breaker_closed":
                return event.at
        return None

    def _save(self, name: str, state: str, opened_at: datetime | None, now: datetime) -> None:
        saved = BreakerState(
            event_name=name, state=state, opened_at=opened_at, tenant_id=self._tenant
        )
        self._ledger.save_breaker(saved)
        self._cache[name] = (saved, time.monotonic())
        self._ledger.record_event(
            ManagementEvent(
                event_name=name,
                action=f"breaker_{state}",
                at=now,
                tenant_id=self._tenant,
                actor="runtime",
            )
        )
