"""The embedded scheduler's view of each trigger (:class:`_Entry`), the time model it fires by
(:func:`schedule_of`), the instants it hands out (:class:`_Fire`), and the pure part of handling
downtime (:func:`walk_stale`).

Split out of :mod:`owlclaw_runtime.schedulers.local`, which imports these names and keeps every
side effect (ledger writes, management events, logging).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from owlclaw_runtime.triggers.models import CronTriggerConfig

# Counting missed instants stops here (a per-minute job down for ~70 days); the event says so.
_MISSED_COUNT_LIMIT = 100_000
_MICRO = timedelta(microseconds=1)


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Entry:
    """One trigger as the scheduler sees it."""

    config: CronTriggerConfig
    schedule: Any  # owlclaw_runtime.schedule.Schedule, or None when the expression is unusable
    error: str | None = None
    next_at: datetime | None = None
    # Worked out ahead of time (after the previous fire), so a wake-up only hands instants out:
    next_runs: int | None = None  # multiplicity at next_at
    advance_from: datetime | None = None  # fired, next_at not computed yet
    paused: bool = False
    fired: int = 0
    missed: int = 0
    saved_at: datetime | None = None  # newest last_fired_at this process saved
    save_lock: threading.Lock = field(default_factory=threading.Lock)

    def health(self) -> dict[str, Any]:
        """This trigger's part of ``LocalScheduler.health()``."""
        return {
            "next_fire": iso(self.next_at),
            "paused": self.paused,
            "fired": self.fired,
            "missed": self.missed,
            **({"error": self.error} if self.error else {}),
        }


@dataclass(frozen=True)
class _Fire:
    instant: datetime
    runs: int
    trigger_type: str  # cron | catchup


def _timing(config: CronTriggerConfig) -> tuple[Any, ...]:
    """The fields that decide when a trigger fires (a change re-arms it)."""
    return (
        config.expression,
        config.dialect,
        config.timezone,
        config.semantics,
        config.daemon_timezone,
    )


def _build_schedule(config: CronTriggerConfig) -> Any:
    from owlclaw_runtime.schedule import Schedule

    return Schedule(
        config.expression,
        dialect=config.dialect,
        timezone=config.timezone,
        semantics=config.semantics,
        daemon_timezone=config.daemon_timezone,
    )


def schedule_of(registry: Any, config: CronTriggerConfig) -> Any:
    """The trigger's time model: the registry's own while its timing fields still match
    ``config``, else one built from ``config``."""
    if hasattr(registry, "schedule"):
        # Reuse the registry's model (it validated the expression at registration).
        current = registry.get_trigger(config.event_name)
        if current is not None and _timing(current) == _timing(config):
            return registry.schedule(config.event_name)
    return _build_schedule(config)


@dataclass(frozen=True)
class StaleWalk:
    """What :func:`walk_stale` found among a trigger's instants older than the grace window."""

    keep: tuple[datetime, ...]  # the newest ones to catch up (at most ``limit``), oldest first
    count: int  # instants walked (stops at ``_MISSED_COUNT_LIMIT``)
    last_missed: datetime | None  # the newest instant not kept (``None``: none missed)
    next_at: datetime | None  # the first instant inside the grace window

    @property
    def missed(self) -> int:
        return self.count - len(self.keep)

    @property
    def count_is_lower_bound(self) -> bool:
        return self.count >= _MISSED_COUNT_LIMIT


def walk_stale(schedule: Any, first: datetime | None, live_from: datetime, limit: int) -> StaleWalk:
    """Walk ``schedule``'s instants from ``first`` up to ``live_from`` (downtime), keeping the
    newest ``limit`` (0 unless the trigger catches up). No I/O: the caller records the rest."""
    keep: deque[datetime] = deque()
    count = 0
    last_missed: datetime | None = None
    instant = first
    while instant is not None and instant < live_from and count < _MISSED_COUNT_LIMIT:
        count += 1
        keep.append(instant)
        if len(keep) > limit:
            last_missed = keep.popleft()
        instant = schedule.next_fire(instant)
    if count >= _MISSED_COUNT_LIMIT:
        # Too many to walk: jump to the first instant inside the grace window.
        instant = schedule.next_fire(live_from - _MICRO)
    return StaleWalk(tuple(keep), count, last_missed, instant)
