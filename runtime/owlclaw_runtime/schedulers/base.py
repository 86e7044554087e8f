"""The scheduler seam: something that fires triggers at their instants and hands each due
instant to the app's pipeline (``OwlClawApp.dispatch``)."""

from __future__ import annotations

import abc
from typing import Any


class SchedulerBackend(abc.ABC):
    """Both backends (embedded and Hatchet) take an ``OwlClawApp`` and run its pipeline.

    Contract: for every exact instant of every enabled trigger the backend calls
    ``await app.dispatch(event_name, scheduled_at=instant, runs=k)`` exactly once, where k is the
    model's multiplicity at that instant; pause and resume reach whatever does the firing.
    """

    name: str

    @abc.abstractmethod
    async def start(self) -> None:
        """Begin firing; returns once firing is under way."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop firing and wait for in-flight runs."""

    @abc.abstractmethod
    async def pause(self, event_name: str) -> None:
        """Make the firing side stop firing this trigger."""

    @abc.abstractmethod
    async def resume(self, event_name: str) -> None:
        """Undo ``pause``."""

    @abc.abstractmethod
    async def trigger_now(self, event_name: str, context: dict[str, Any]) -> str:
        """Start a manual run without waiting for it; returns the execution id."""

    @abc.abstractmethod
    async def health(self) -> dict[str, Any]:
        """``{"ok": bool, ...details}`` about the backend's connectivity."""

    async def refresh_states(self) -> None:
        """Re-read durable trigger state (pause) now instead of at the next poll: something
        changed it under the running worker (``owlmigrate run``'s housekeeping settled an
        interrupted cutover). The default does nothing (a backend that reads state per run)."""
        return None
