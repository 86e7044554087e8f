"""Time sources for the schedulers: the real clock, and a virtual one for tests.

The embedded scheduler reads "now" from a clock and waits with its ``sleep``; injecting
:class:`FakeClock` lets a test walk through a whole DST day in milliseconds while the scheduler
runs exactly the code it runs in production.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

Now = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


def utc_now() -> datetime:
    """The real wall clock, timezone-aware UTC."""
    return datetime.now(UTC)


class FakeClock:
    """A virtual UTC clock for tests: ``sleep`` advances virtual time instead of waiting.

    Cooperative: code that must not see time move while it works registers with :meth:`hold`
    (the embedded scheduler holds the clock for its loop and for every run it dispatched).
    Virtual time then advances only when every holder is asleep on this clock, to the earliest
    wake-up among them, so runs take zero virtual time and nothing races ahead while a thread is
    still writing the ledger. With no holder, ``sleep`` simply advances the clock at once.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self._holders = 0
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self.sleeps = 0

    def now(self) -> datetime:
        """The current virtual instant."""
        return self._now

    def set(self, instant: datetime) -> None:
        """Jump to ``instant`` (a test may simulate a step of the system clock)."""
        self._now = instant.astimezone(UTC)

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        self._now += timedelta(seconds=max(0.0, seconds))

    def hold(self) -> Callable[[], None]:
        """Register a holder; call the returned function (idempotent) to release it."""
        self._holders += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._holders -= 1
                self._maybe_advance()

        return release

    async def sleep(self, seconds: float) -> None:
        """Wake up ``seconds`` of virtual time from now."""
        self.sleeps += 1
        if self._holders == 0:
            self.advance(seconds)
            await asyncio.sleep(0)
            return
        target = self._now + timedelta(seconds=max(0.0, seconds))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (target, next(self._seq), future))
        self._maybe_advance()
        try:
            await future
        finally:
            if not future.done():
                future.cancel()
            self._sleepers = [s for s in self._sleepers if not s[2].done()]
            heapq.heapify(self._sleepers)

    def _maybe_advance(self) -> None:
        live = [s for s in self._sleepers if not s[2].done()]
        if not live or len(live) < self._holders:
            return
        target = min(live)[0]
        if target > self._now:
            self._now = target
        for when, _, future in live:
            if when <= self._now:
                future.set_result(None)
