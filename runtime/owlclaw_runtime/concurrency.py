"""Concurrency control: a global limit on executions in flight (``max_concurrent``) that hands
free slots to the highest-priority waiter first, and per-trigger limits with an overlap policy.

OwlClaw built a ``ConcurrencyController`` and a ``PriorityScheduler`` from ``max_concurrent``
and never used them (reference/owlclaw.md section 3.9, gap 11); these are on the live path.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class PrioritySemaphore:
    """A counting semaphore whose waiters are served by priority (higher first), then FIFO.

    When many triggers are due at once and the slots are taken, a priority-10 run starts before
    a priority-0 run that was queued earlier (NFR-2 of the OwlClaw spec)."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("slots must be >= 1")
        self._slots = slots
        self._in_use = 0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    @property
    def slots(self) -> int:
        return self._slots

    @property
    def in_use(self) -> int:
        return self._in_use

    @property
    def waiting(self) -> int:
        return sum(1 for _, _, fut in self._waiters if not fut.done())

    def free(self) -> bool:
        """Whether :meth:`acquire` would take a slot without waiting (nobody queued first)."""
        return self._in_use < self._slots and not self._has_live_waiters()

    def take(self) -> None:
        """Take a slot that :meth:`free` said is free (no await in between)."""
        if not self.free():
            raise RuntimeError("take() without a free slot")
        self._in_use += 1

    async def acquire(self, priority: int = 0) -> None:
        """Wait for a slot; ties between equal priorities are served first come, first served."""
        if self.free():
            self._in_use += 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (-priority, next(self._seq), fut))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                # The slot was handed to us just as we were cancelled: pass it on.
                self.release()
            raise

    def release(self) -> None:
        """Free a slot, handing it straight to the best waiter (so no newcomer can jump it)."""
        while self._waiters:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)
                return
        if self._in_use <= 0:
            raise RuntimeError("release() without acquire()")
        self._in_use -= 1

    def _has_live_waiters(self) -> bool:
        while self._waiters and self._waiters[0][2].done():
            heapq.heappop(self._waiters)
        return bool(self._waiters)

    @asynccontextmanager
    async def slot(self, priority: int = 0) -> AsyncIterator[None]:
        await self.acquire(priority)
        try:
            yield
        finally:
            self.release()


class SlotHold:
    """One run's hold on a :class:`PrioritySemaphore` slot, which it may give back (during a
    retry backoff) and take again; ``release`` is a no-op when the slot is not held."""

    def __init__(self, semaphore: PrioritySemaphore, priority: int) -> None:
        self._semaphore = semaphore
        self._priority = priority
        self.held = False

    async def acquire(self) -> None:
        await self._semaphore.acquire(self._priority)
        self.held = True

    def take(self) -> None:
        """Take a slot the semaphore has free now (see :meth:`PrioritySemaphore.free`)."""
        self._semaphore.take()
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self._semaphore.release()


class TriggerSlots:
    """Per-trigger limit on concurrent executions (``max_concurrency``; 0 means unlimited) with
    the trigger's overlap policy: ``skip`` refuses, ``queue`` waits, ``allow`` ignores the limit."""

    def __init__(self) -> None:
        self._running: dict[str, int] = {}
        self._changed: dict[str, asyncio.Condition] = {}

    def running(self, event_name: str) -> int:
        return self._running.get(event_name, 0)

    def free(self, event_name: str, limit: int, policy: str) -> bool:
        """Whether :meth:`acquire` would take a slot at once."""
        return policy == "allow" or limit <= 0 or self._running.get(event_name, 0) < limit

    def take(self, event_name: str) -> None:
        """Take a slot that :meth:`free` said is free (no await in between)."""
        self._running[event_name] = self._running.get(event_name, 0) + 1

    async def acquire(self, event_name: str, limit: int, policy: str) -> bool:
        """Take a slot; returns False (without taking one) when ``policy`` is ``skip`` and the
        trigger already has ``limit`` executions in flight."""
        if self.free(event_name, limit, policy):
            self.take(event_name)
            return True
        if policy == "skip":
            return False
        cond = self._changed.setdefault(event_name, asyncio.Condition())
        async with cond:
            await cond.wait_for(lambda: self._running.get(event_name, 0) < limit)
            self._running[event_name] = self._running.get(event_name, 0) + 1
        return True

    async def release(self, event_name: str) -> None:
        self._running[event_name] = max(0, self._running.get(event_name, 0) - 1)
        cond = self._changed.get(event_name)
        if cond is not None:
            async with cond:
                cond.notify()
