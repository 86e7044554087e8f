"""systemd's readiness and watchdog protocol (``sd_notify(3)``) without libsystemd.

A ``Type=notify`` service gets ``NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract
namespace) and sends newline-separated ``KEY=value`` assignments to it as datagrams. With
``WatchdogSec=`` it also gets ``WATCHDOG_USEC`` (and ``WATCHDOG_PID``) and must send
``WATCHDOG=1`` more often than that, or systemd kills and restarts it.

The worker (``schedulers/runner.py``) sends ``READY=1`` once the scheduler runs, ``WATCHDOG=1``
from a task that first asks the scheduler for its health (a crashed or stopped scheduler loop
stops the pings, so systemd restarts the worker), and ``STOPPING=1`` when it begins its
graceful stop (in-flight runs are waited for). Outside systemd every call is a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from typing import Any


def _address(env: Mapping[str, str]) -> str | None:
    path = env.get("NOTIFY_SOCKET")
    if not path or not (path.startswith("/") or path.startswith("@")):
        return None
    return "\0" + path[1:] if path.startswith("@") else path


def notify(state: str, *, env: Mapping[str, str] | None = None) -> bool:
    """Send ``state`` (``"READY=1"``, ``"STATUS=..."``, several joined by newlines) to the
    service manager. Returns whether it was sent; False when not run by systemd."""
    address = _address(os.environ if env is None else env)
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            # Never block the event loop: a manager that does not read (a full queue) loses
            # the message, which for a watchdog ping means what it should.
            sock.setblocking(False)
            sock.sendto(state.encode("utf-8"), address)
    except OSError:
        return False
    return True


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Seconds between watchdog pings the manager expects (``WATCHDOG_USEC``), or None when the
    watchdog is off or meant for another process (``WATCHDOG_PID``)."""
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC")
    pid = env.get("WATCHDOG_PID")
    if not usec:
        return None
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1_000_000 if value > 0 else None


HealthProbe = Callable[[], Awaitable[dict[str, Any]]]


class ServiceNotifier:
    """The worker's side of ``Type=notify``: :meth:`ready`, a watchdog task, :meth:`stopping`."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = dict(os.environ if env is None else env)
        self.enabled = _address(self.env) is not None
        self.interval = watchdog_interval(self.env) if self.enabled else None
        self._task: asyncio.Task[None] | None = None
        self.pings = 0

    def send(self, state: str) -> bool:
        return self.enabled and notify(state, env=self.env)

    def ready(self, health: HealthProbe | None = None, status: str = "") -> None:
        """``READY=1`` (with a ``STATUS=`` line), then watchdog pings every half interval while
        ``health()`` reports ``ok``."""
        text = "READY=1" + (f"\nSTATUS={status}" if status else "")
        self.send(text)
        if self.interval is not None and health is not None and self._task is None:
            self._task = asyncio.ensure_future(self._watchdog(health, self.interval / 2))

    async def _watchdog(self, health: HealthProbe, every: float) -> None:
        while True:
            try:
                report = await asyncio.wait_for(health(), timeout=every)
            except Exception:  # a probe that fails or hangs is an unhealthy scheduler
                report = {"ok": False}
            if report.get("ok"):
                self.send("WATCHDOG=1")
                self.pings += 1
            await asyncio.sleep(every)

    async def stopping(self, status: str = "") -> None:
        """``STOPPING=1`` and the watchdog stops (the stop may take as long as the runs)."""
        self.send("STOPPING=1" + (f"\nSTATUS={status}" if status else ""))
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


__all__ = ["ServiceNotifier", "notify", "watchdog_interval"]
