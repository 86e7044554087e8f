"""A worker's housekeeping: its heartbeat in the ledger, the freshness of its module, and hooks
that must run before instants fire (``owlmigrate run`` settles interrupted switches with one).

:class:`Housekeeper` runs *rounds*, backend-agnostic (``serve_app`` drives it for the local and
the Hatchet backend alike):

- one before the backend starts firing (:meth:`Housekeeper.settle`: the hooks only);
- a *periodic* round every ``interval_seconds`` (heartbeat and hooks);
- a *pre-instant* round ``lead_seconds`` before each instant of the app's triggers (hooks only:
  with nothing to do, a hook is meant to cost one cheap query), so whatever a hook repairs is in
  place before that instant fires, whenever the breakage happened.

Like the embedded scheduler's own housekeeping, no round starts in the ``quiet_seconds`` before
an instant (the scheduler refreshes the runs' cached states then and must wake on time) nor in
the ``settle_seconds`` after it (its runs are being handed out); a round due then waits until
the runs have started.

A hook is a plain callable run in a thread: ``hook() -> list[str] | None``, the notes of what
it changed (an empty list: nothing). After a round whose hooks changed something, the app's
cached trigger states are dropped (``Pipeline.invalidate_state``) and the backend re-reads its
own (``SchedulerBackend.refresh_states``), so the next instant runs with the repaired state.
Notes are logged, kept in the heartbeat's ``details["settled"]`` and recorded as a management
event by the hook's owner if it wants one (this module has no notion of what was repaired).

The heartbeat (``LedgerStore.record_heartbeat``) says who serves what: worker id, host, pid,
app, tenant, backend, module path, the SHA-256 and fingerprint of the module bytes imported,
whether the module on disk still has that fingerprint (``stale_module``), the trigger ids served,
``started_at``, ``last_seen``. It is deleted when the worker stops gracefully.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from owlclaw_runtime.ledger.base import WorkerHeartbeat
from owlclaw_runtime.loader import file_fingerprint, loaded_module, stale_reason

log = logging.getLogger("owlclaw_runtime.schedulers.housekeeping")

Hook = Callable[[], "list[str] | None"]

DEFAULT_INTERVAL_SECONDS = 5.0
#: how long before an instant its pre-instant round runs: room for a hook's repair (a journal
#: row settled: a module rewrite and two ledger writes) before the quiet window
DEFAULT_LEAD_SECONDS = 3.0
#: the embedded scheduler refreshes the runs' states this long before an instant
#: (``local.PREFETCH_LEAD_SECONDS``); no round starts then
DEFAULT_QUIET_SECONDS = 0.5
#: nor this long after an instant, while its runs are handed out
DEFAULT_SETTLE_SECONDS = 0.25
_KEEP_NOTES = 20


class Housekeeper:
    """Heartbeat and hooks of one worker (see the module docstring).

    ``app`` provides ``ledger``, ``tenant_id``, ``name``, ``cron_registry``, ``pipeline`` and
    ``now()``; ``heartbeat=False`` keeps the rounds (for the hooks) without writing heartbeats.
    """

    def __init__(
        self,
        app: Any,
        *,
        hooks: Sequence[Hook] = (),
        interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
        heartbeat: bool = True,
        lead_seconds: float = DEFAULT_LEAD_SECONDS,
        quiet_seconds: float = DEFAULT_QUIET_SECONDS,
        settle_seconds: float = DEFAULT_SETTLE_SECONDS,
        worker_id: str | None = None,
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError(f"interval_seconds must be > 0, got {interval_seconds}")
        self._app = app
        self.hooks = list(hooks)
        self.interval = float(interval_seconds)
        self._heartbeat = heartbeat
        self._lead = timedelta(seconds=lead_seconds)
        self._quiet = timedelta(seconds=quiet_seconds)
        self._settle = timedelta(seconds=settle_seconds)
        self.worker_id = worker_id or uuid.uuid4().hex
        self.module = loaded_module(app)
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.started_at: datetime | None = None
        self.stale = False
        self.settled: list[dict[str, Any]] = []  # newest last, at most _KEEP_NOTES
        self.rounds = 0
        self.last_error: str | None = None
        self._backend: Any = None
        self._task: asyncio.Task[None] | None = None
        self._last_periodic: float | None = None  # monotonic
        self._pre_done: datetime | None = None  # the instant whose pre-instant round ran
        self._next_cache: tuple[datetime, datetime | None] | None = None
        self._checked_sha: str | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    async def settle(self) -> list[str]:
        """Run the hooks once now (before the backend fires); returns their notes."""
        return await self._run_hooks()

    async def start(self, backend: Any) -> None:
        """First heartbeat now, then rounds in the background until :meth:`stop`."""
        self._backend = backend
        self.started_at = self._app.now()
        try:
            await self._periodic()
        except Exception as exc:  # a ledger hiccup must not keep the worker from firing
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("the worker's first heartbeat failed: %s", exc)
        self._task = asyncio.create_task(self._loop(), name="owlclaw-housekeeping")

    async def stop(self) -> None:
        """Stop the rounds and delete the heartbeat (this worker serves no further instant)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._heartbeat and self.started_at is not None:
            try:
                await asyncio.to_thread(
                    self._app.ledger.remove_heartbeat, self.worker_id, tenant_id=self._tenant
                )
            except Exception as exc:  # the row then ages out: readers judge last_seen
                log.warning("could not remove the worker's heartbeat: %s", exc)

    def report(self) -> dict[str, Any]:
        """What the worker knows about itself (``serve_app``'s summary, tests)."""
        return {
            "worker_id": self.worker_id,
            "stale_module": self.stale,
            "module_path": str(self.module.path) if self.module else None,
            "rounds": self.rounds,
            "settled": list(self.settled),
            "last_error": self.last_error,
        }

    @property
    def _tenant(self) -> str:
        return str(getattr(self._app, "tenant_id", "default"))

    # -- timing --------------------------------------------------------------------------------
    async def _loop(self) -> None:
        while True:
            wait = self._seconds_to_next_round(self._app.now())
            if wait > 0:
                await asyncio.sleep(min(wait, self.interval))
                continue
            try:
                if self._periodic_due():
                    await self._periodic()
                else:
                    await self._run_hooks()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # housekeeping must never stop the worker
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("worker housekeeping failed")
            self.rounds += 1
            self._mark_pre_done(self._app.now())

    def _periodic_due(self) -> bool:
        return (
            self._last_periodic is None or time.monotonic() - self._last_periodic >= self.interval
        )

    def _seconds_to_next_round(self, now: datetime) -> float:
        nxt = self._next_instant(now)
        waits = [0.0 if self._periodic_due() else self._periodic_wait()]
        if nxt is not None and self._pre_done != nxt:
            waits.append((nxt - self._lead - now).total_seconds())
        wait = max(0.0, min(waits))
        if nxt is not None:
            at = now + timedelta(seconds=wait)
            if nxt - self._quiet < at < nxt + self._settle:
                wait = (nxt + self._settle - now).total_seconds()
        return wait

    def _periodic_wait(self) -> float:
        assert self._last_periodic is not None
        return self.interval - (time.monotonic() - self._last_periodic)

    def _mark_pre_done(self, now: datetime) -> None:
        nxt = self._next_instant(now)
        if nxt is not None and (nxt - now) <= self._lead:
            self._pre_done = nxt

    def _next_instant(self, now: datetime) -> datetime | None:
        """The next instant any trigger fires: the embedded scheduler knows its own
        (``next_fires``); otherwise worked out from the schedules, once per instant."""
        next_fires = getattr(self._backend, "next_fires", None)
        if callable(next_fires):
            times = [t for t in next_fires().values() if t is not None]
            soonest = min(times) if times else None
            # an instant being fired right now still counts; older ones are done
            if soonest is not None and soonest + self._settle < now:
                return None
            return soonest
        cached = self._next_cache
        if cached is not None and cached[0] <= now:
            computed_at, soonest = cached
            # kept until its runs have started (working out the next one competes with them)
            if soonest is not None and now < soonest + self._settle:
                return soonest
            if soonest is None and now < computed_at + timedelta(seconds=self.interval):
                return None
        soonest = None
        registry = self._app.cron_registry
        for config in registry.list_triggers():
            if not config.enabled:
                continue
            try:
                when = registry.schedule(config.event_name).next_fire(now)
            except Exception:  # an unusable expression is the backend's to report
                continue
            if when is not None and (soonest is None or when < soonest):
                soonest = when
        self._next_cache = (now, soonest)
        return soonest

    # -- the work ------------------------------------------------------------------------------
    async def _periodic(self) -> None:
        self._last_periodic = time.monotonic()
        await self._run_hooks()
        if self._heartbeat:
            await asyncio.to_thread(self._beat)

    async def _run_hooks(self) -> list[str]:
        notes: list[str] = []
        for hook in self.hooks:
            try:
                result = await asyncio.to_thread(hook)
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("housekeeping hook %r failed", hook)
                continue
            notes.extend(result or [])
        if notes:
            at = self._app.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            for note in notes:
                log.warning("housekeeping: %s", note)
                self.settled.append({"at": at, "note": note})
            del self.settled[:-_KEEP_NOTES]
            await self._refresh_states()
        return notes

    async def _refresh_states(self) -> None:
        """The hooks changed trigger state: make every cache re-read it before the next run."""
        pipeline = getattr(self._app, "pipeline", None)
        invalidate = getattr(pipeline, "invalidate_state", None)
        if callable(invalidate):
            invalidate()
        refresh = getattr(self._backend, "refresh_states", None)
        if callable(refresh):
            await refresh()

    def _beat(self) -> None:
        self._check_module()
        backend = self._backend
        details: dict[str, Any] = {}
        if self.settled:
            details["settled"] = list(self.settled)
        if self.stale and self.module is not None:
            details["stale_reason"] = stale_reason(self.module)
        leader = getattr(backend, "is_leader", None)
        if isinstance(leader, bool):
            details["leader"] = leader
        if self.last_error:
            details["last_error"] = self.last_error
        assert self.started_at is not None
        served = sorted(c.event_name for c in self._app.cron_registry.list_triggers())
        self._app.ledger.record_heartbeat(
            WorkerHeartbeat(
                worker_id=self.worker_id,
                app_name=str(getattr(self._app, "name", "app")),
                host=self.host,
                pid=self.pid,
                backend=str(getattr(backend, "name", backend)),
                started_at=self.started_at,
                last_seen=self._app.now(),
                tenant_id=self._tenant,
                module_path=str(self.module.path) if self.module else None,
                module_sha256=self.module.sha256 if self.module else None,
                module_fingerprint=self.module.fingerprint if self.module else None,
                stale_module=self.stale,
                triggers=tuple(served),
                interval_seconds=self.interval,
                details=details,
            )
        )

    def _check_module(self) -> None:
        module = self.module
        if module is None:
            return
        current = file_fingerprint(module.path)
        sha = current[0] if current else None
        if sha is not None and sha == self._checked_sha:
            return  # same bytes as last round: same verdict
        self._checked_sha = sha
        stale = current is None or current[1] != module.fingerprint
        if stale and not self.stale:
            log.warning("%s", stale_reason(module))
        elif not stale and self.stale:
            log.info("%s is back to what this worker loaded", module.path.name)
        self.stale = stale


__all__ = [
    "DEFAULT_INTERVAL_SECONDS",
    "DEFAULT_LEAD_SECONDS",
    "Hook",
    "Housekeeper",
]
