"""Leadership of the embedded scheduler: the ledger's leader lock, held and checked.

A leader lock can be lost while held (a PostgreSQL session that ended, a lock file removed or
replaced: :class:`~owlclaw_runtime.ledger.base.LeaderLock`), and another process may then lead
too. :class:`Leadership` asks the lock every ``check_seconds`` whether it is still held and
keeps the record of every loss; the scheduler stops firing at once when it says so. A batch
whose claim in the ledger fails (another leader fired one of its instants) deposes the leader
the same way.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import datetime
from typing import Any

from owlclaw_runtime.ledger.base import LeaderLock, LedgerStore, ManagementEvent
from owlclaw_runtime.schedulers.clock import Now
from owlclaw_runtime.schedulers.entries import iso

log = logging.getLogger("owlclaw_runtime.schedulers.local")


def record_loss(store: LedgerStore, event: ManagementEvent) -> None:
    """Record a ``leadership_lost`` event; the ledger may be what went away, so a failure is
    logged, not raised (the warning logged at the loss stands anyway)."""
    try:
        store.record_event(event)
    except Exception:
        log.warning("could not record %s of %s in the ledger", event.action, event.event_name)


class Leadership:
    """One scheduler's term(s) as leader of ``lock_name``. Not thread-safe: used from the
    scheduler's loop (``try_lead`` from a worker thread the loop awaits)."""

    def __init__(
        self, lock_name: str, *, check_seconds: float, retry_seconds: float, now: Now
    ) -> None:
        self.lock_name = lock_name
        self.check_seconds = check_seconds
        self.retry_seconds = retry_seconds
        self._now = now
        self.leader = False
        self._lock: LeaderLock | None = None
        self._checked_at: datetime | None = None  # the last check, on the scheduler's clock
        #: set when a batch's claim failed: the loop steps down at its next iteration
        self.deposed: dict[str, Any] | None = None
        self.losses = 0
        self.last_loss: dict[str, Any] | None = None

    def try_lead(self, store: LedgerStore) -> bool:
        """Try to take the lock once (blocking: a database round trip)."""
        lock = store.leader_lock(self.lock_name)
        try:
            held = lock.acquire()
        except Exception:  # a ledger that cannot be reached now: not leader, try again later
            log.warning("cannot take the leader lock %s", self.lock_name, exc_info=True)
            held = False
        if not held:
            lock.release()
            return False
        self._lock = lock
        self.leader = True
        self.deposed = None
        self._checked_at = self._now()
        log.info("leader for %s", self.lock_name)
        return True

    def release(self) -> None:
        lock, self._lock = self._lock, None
        self.leader = False
        self.deposed = None
        if lock is not None:
            lock.release()

    def until_check(self, now: datetime) -> float | None:
        """Seconds until the next check while leader (the loop wakes up for it), else None."""
        if not self.leader or self._checked_at is None:
            return None
        return max(0.0, self.check_seconds - (now - self._checked_at).total_seconds())

    async def check(self) -> str | None:
        """When a check is due: ask the lock (off the event loop) whether it is still held.
        None while it is; else why not: ``lock_lost``, or ``check_timed_out`` when the
        question went unanswered for ``check_seconds`` (a network cut can hang a query)."""
        now = self._now()
        lock = self._lock
        if lock is None or not self.leader:
            return None
        if (
            self._checked_at is not None
            and (now - self._checked_at).total_seconds() < self.check_seconds
        ):
            return None
        self._checked_at = now
        try:
            held = await asyncio.wait_for(
                asyncio.to_thread(lock.held), timeout=max(1.0, self.check_seconds)
            )
        except TimeoutError:
            return "check_timed_out"
        return None if held else "lock_lost"

    def depose(self, oldest: datetime, newest: datetime) -> None:
        """A batch's claim failed: another leader already fired (some of) its instants. Stop
        leading at once; the loop steps down properly (``step_down``) at its next turn."""
        self.leader = False
        if self.deposed is None:
            self.deposed = {
                "reason": "instants_claimed_elsewhere",
                "details": {"batch_first": iso(oldest), "batch_last": iso(newest)},
            }

    async def step_down(self, reason: str, details: dict[str, Any]) -> dict[str, Any]:
        """Stop leading at once and release what is left of the lock; returns the record of
        the loss (the scheduler logs it in the ledger and ``health()``)."""
        lock, self._lock = self._lock, None
        self.leader = False
        self.deposed = None
        self.losses += 1
        info = {
            "lock": self.lock_name,
            "reason": reason,
            "detected_at": iso(self._now()),
            "leader_check_seconds": self.check_seconds,
            **details,
        }
        self.last_loss = info
        log.warning(
            "lost the leader lock %s (%s): stopped firing, retrying every %ss",
            self.lock_name,
            reason,
            self.retry_seconds,
        )
        if lock is not None:
            if reason == "check_timed_out":
                # The lock's connection is stuck in a query: a thread of its own waits for it,
                # not the loop (nor stop()).
                threading.Thread(target=lock.release, daemon=True).start()
            else:
                await asyncio.to_thread(lock.release)
        return info

    def report(self) -> dict[str, Any]:
        """The ``health()`` fields."""
        out: dict[str, Any] = {"leadership_losses": self.losses}
        if self.last_loss is not None:
            out["last_leadership_loss"] = dict(self.last_loss)
        return out
