"""Time sources for the schedulers: the real clock, and a virtual one for tests.

The embedded scheduler reads "now" from a ``Clock`` and waits with its ``sleep``; injecting
:class:`FakeClock` lets a test walk through a whole DST day in milliseconds while the scheduler
runs exactly the code it runs in production.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

Now = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


def utc_now() -> datetime:
    """The real wall clock, timezone-aware UTC."""
    return datetime.now(UTC)


class FakeClock:
    """A virtual UTC clock whose ``sleep`` advances time instead of waiting.

    ``sleep(s)`` moves the clock forward by ``s`` seconds (never backwards) and yields to the
    event loop once, so other tasks (the runs a scheduler dispatched) make progress.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self.sleeps = 0

    def now(self) -> datetime:
        """The current virtual instant."""
        return self._now

    def set(self, instant: datetime) -> None:
        """Jump to ``instant`` (forwards or backwards: a test may simulate a clock step)."""
        self._now = instant.astimezone(UTC)

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        self._now += timedelta(seconds=max(0.0, seconds))

    async def sleep(self, seconds: float) -> None:
        """Advance virtual time by ``seconds`` and let other tasks run."""
        self.sleeps += 1
        self.advance(seconds)
        await asyncio.sleep(0)
