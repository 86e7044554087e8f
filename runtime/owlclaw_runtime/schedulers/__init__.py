"""Scheduler backends: embedded (default) and Hatchet.

``create_backend(name, app)`` builds one by name; the Hatchet backend (and hatchet-sdk, which
takes seconds to import) is only imported when asked for.
"""

from __future__ import annotations

from typing import Any

from owlclaw_runtime.errors import ConfigurationError
from owlclaw_runtime.schedulers.base import SchedulerBackend
from owlclaw_runtime.schedulers.clock import FakeClock, utc_now
from owlclaw_runtime.schedulers.local import LocalScheduler

BACKENDS = ("local", "hatchet")

__all__ = [
    "BACKENDS",
    "FakeClock",
    "LocalScheduler",
    "SchedulerBackend",
    "create_backend",
    "utc_now",
]


def create_backend(name: str, app: Any, **options: Any) -> SchedulerBackend:
    """The backend called ``name`` (``local`` or ``hatchet``) for ``app``; ``options`` go to
    its constructor."""
    if name == "local":
        return LocalScheduler(app, **options)
    if name == "hatchet":
        from owlclaw_runtime.schedulers.hatchet import HatchetBackend

        return HatchetBackend(app, **options)
    raise ConfigurationError(
        f"unknown scheduler backend {name!r}; choose one of: {', '.join(BACKENDS)}",
        field="backend",
        token=name,
    )
