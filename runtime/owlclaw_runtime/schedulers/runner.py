"""Run an app as a worker: start a backend, optionally serve ``/metrics`` and ``/healthz``,
stop gracefully on SIGTERM/SIGINT (or after a time limit), and report what happened.

While it runs, a :class:`~owlclaw_runtime.schedulers.housekeeping.Housekeeper` keeps the
worker's heartbeat in the ledger (who serves which triggers from which module; deleted on a
graceful stop) and runs the ``housekeeping`` hooks before firing starts, periodically and before
every instant (``owlmigrate run`` settles interrupted cutovers with one).

This is what ``owlmigrate run`` calls; it never prints (the CLI renders the events it gets).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from owlclaw_runtime.schedulers.housekeeping import DEFAULT_INTERVAL_SECONDS, Hook, Housekeeper
from owlclaw_runtime.sdnotify import ServiceNotifier


@dataclass
class RunSummary:
    """How a worker run ended."""

    backend: str
    triggers: int
    stopped_by: str  # signal name, "max_runtime" or "request"
    runtime_seconds: float
    http_url: str | None = None
    health: dict[str, Any] = field(default_factory=dict)
    #: the housekeeper's report: worker_id, stale_module, settled notes, rounds
    worker: dict[str, Any] = field(default_factory=dict)


Notify = Callable[[str, dict[str, Any]], None]


async def serve_app(
    app: Any,
    backend: str | Any = "local",
    *,
    http_port: int | None = None,
    http_host: str = "127.0.0.1",
    max_runtime: float | None = None,
    stop: asyncio.Event | None = None,
    notify: Notify | None = None,
    heartbeat_seconds: float | None = DEFAULT_INTERVAL_SECONDS,
    housekeeping: Sequence[Hook] = (),
    worker_id: str | None = None,
) -> RunSummary:
    """Start ``backend`` for ``app`` and run until a signal, ``stop`` or ``max_runtime``.

    ``notify(event, details)`` is called with ``started`` (backend, triggers, http_url,
    worker_id), ``settled`` (notes: what the hooks repaired before firing started) and
    ``stopping`` (reason). In-flight runs finish before this returns (``app.stop``).

    ``heartbeat_seconds``: how often the heartbeat is written (None: no heartbeat; the hooks
    then run every default interval). ``housekeeping``: callables run in a thread before the
    backend starts, at every round and before every instant (see
    :mod:`~owlclaw_runtime.schedulers.housekeeping`); each returns notes of what it changed."""
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    reason: list[str] = []

    def on_signal(sig: signal.Signals) -> None:
        reason.append(sig.name)
        stop.set()

    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, on_signal, sig)
            installed.append(sig)
    began = time.monotonic()
    handle = None
    instance = None
    keeper = Housekeeper(
        app,
        hooks=housekeeping,
        interval_seconds=heartbeat_seconds or DEFAULT_INTERVAL_SECONDS,
        heartbeat=heartbeat_seconds is not None,
        worker_id=worker_id,
    )
    service = ServiceNotifier()  # systemd Type=notify: READY, WATCHDOG, STOPPING (or nothing)
    try:
        settled = await keeper.settle()
        if settled and notify is not None:
            notify("settled", {"notes": settled})
        instance = await app.start(backend)
        await keeper.start(instance)
        service.ready(instance.health)
        if http_port is not None:
            from owlclaw_runtime.observability.http import serve

            handle = serve(app, http_port, http_host, loop=loop)
        if notify is not None:
            notify(
                "started",
                {
                    "backend": instance.name,
                    "triggers": len(app.cron_registry.list_triggers()),
                    "http_url": handle.url if handle is not None else None,
                    "worker_id": keeper.worker_id,
                },
            )
        try:
            await asyncio.wait_for(stop.wait(), timeout=max_runtime)
        except TimeoutError:
            reason.append("max_runtime")
        if not reason:
            reason.append("request")
        if notify is not None:
            notify("stopping", {"reason": reason[0]})
        health = await instance.health()
    finally:
        await service.stopping()
        for sig in installed:
            loop.remove_signal_handler(sig)
        # The heartbeat goes first: from here on this worker serves no further instant.
        await keeper.stop()
        if handle is not None:
            handle.close()
        await app.stop()
    return RunSummary(
        backend=instance.name,
        triggers=len(app.cron_registry.list_triggers()),
        stopped_by=reason[0],
        runtime_seconds=round(time.monotonic() - began, 3),
        http_url=handle.url if handle is not None else None,
        health=health,
        worker=keeper.report(),
    )
