"""Run an app as a worker: start a backend, optionally serve ``/metrics`` and ``/healthz``,
stop gracefully on SIGTERM/SIGINT (or after a time limit), and report what happened.

This is what ``owlmigrate run`` calls; it never prints (the CLI renders the events it gets).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
) -> RunSummary:
    """Start ``backend`` for ``app`` and run until a signal, ``stop`` or ``max_runtime``.

    ``notify(event, details)`` is called with ``started`` (backend, triggers, http_url) and
    ``stopping`` (reason). In-flight runs finish before this returns (``app.stop``)."""
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
    service = ServiceNotifier()  # systemd Type=notify: READY, WATCHDOG, STOPPING (or nothing)
    try:
        instance = await app.start(backend)
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
    )
