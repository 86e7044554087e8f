"""The handshake between migration commands and running workers.

A cutover hands a job from the legacy daemon to a trigger. That is only safe when a worker is
running that will fire the trigger: otherwise disabling the crontab line loses every run until
someone starts one. Workers announce themselves with heartbeats in the ledger
(``LedgerStore.heartbeats``, written by ``owlclaw_runtime.schedulers.runner.serve_app``), and
this module reads them:

- :func:`refusals`: per trigger, why a cutover must be refused now (no live worker, a worker
  serving an older module than the one on disk, a worker that does not serve the trigger);
- :func:`workers` and :func:`pending_notes`: what ``owlmigrate status`` shows;
- :class:`Settler`: the other direction. A command killed between its crontab write and its
  ledger write leaves a job run by nobody until a later command recovers the journal;
  ``owlmigrate run`` gives its worker a Settler as a housekeeping hook, so the running worker
  completes (or undoes) the interrupted switch itself, before the next instant fires.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from owlclaw_runtime.ledger import LedgerStore, ManagementEvent, WorkerHeartbeat
from owlclaw_runtime.loader import file_fingerprint

from owlmigrate.migration._base import AppDir, migration_lock
from owlmigrate.migration.ledger_identity import manifest_app_name
from owlmigrate.migration.recovery import recover

log = logging.getLogger("owlmigrate.migration.handshake")

#: a heartbeat is live while younger than this many of its own intervals (plus the margin): a
#: worker skips a round or two around busy instants and while a hook repairs something
MISSED_BEATS = 3
MARGIN_SECONDS = 5.0
SETTLED_ACTION = "settled_by_worker"


def max_age(heartbeat: WorkerHeartbeat, max_age_seconds: float | None = None) -> float:
    """How old ``heartbeat`` may get and still count as a running worker."""
    if max_age_seconds is not None:
        return max_age_seconds
    return MISSED_BEATS * heartbeat.interval_seconds + MARGIN_SECONDS


def age_seconds(heartbeat: WorkerHeartbeat, now: datetime) -> float:
    """Seconds since the worker last reported (0 for a clock ahead of ours)."""
    return max(0.0, (now - heartbeat.last_seen).total_seconds())


def app_heartbeats(
    app_name: str,
    module_path: Path | None,
    store: LedgerStore,
    *,
    tenant_id: str = "default",
) -> list[WorkerHeartbeat]:
    """The heartbeats of the workers of one app: the same app name, or the same module file
    (an app name edited by hand in the module still finds its workers)."""
    wanted = str(module_path.resolve()) if module_path is not None else None
    return [
        h
        for h in store.heartbeats(tenant_id=tenant_id)
        if h.app_name == app_name or (wanted is not None and h.module_path == wanted)
    ]


def app_name_of(app: AppDir) -> str:
    """The ``OwlClawApp`` name generate gave the app (the manifest's ``app_name``, the host's
    name on a live host), which its workers put in their heartbeats."""
    return manifest_app_name(app.manifest)


def _who(h: WorkerHeartbeat) -> str:
    return f"worker {h.worker_id[:8]} on {h.host} (pid {h.pid}, {h.backend})"


def refusals(
    app: AppDir,
    store: LedgerStore,
    names: Iterable[str],
    *,
    now: datetime | None = None,
    max_age_seconds: float | None = None,
    tenant_id: str = "default",
) -> dict[str, str]:
    """Why a cutover of each of ``names`` must be refused right now; a trigger that may be cut
    over is absent from the result (so an empty dict means go).

    Contract: a trigger may be cut over only when at least one worker of this app has a live
    heartbeat (younger than ``max_age_seconds``, default :func:`max_age` of each heartbeat),
    every live worker runs the module that is on disk now (same
    ``owlclaw_runtime.loader.module_fingerprint``: rewrites of ``shadow=`` and
    ``migration_weight=`` do not count), and a live worker serves the trigger. Each message
    says what to do. Reads only (the heartbeats and the module file); the caller decides what
    ``--force`` overrides."""
    now = now or datetime.now(UTC)
    wanted = list(dict.fromkeys(names))
    run = f"`owlmigrate run --app {app.path}`"
    beats = app_heartbeats(app_name_of(app), app.module_path, store, tenant_id=tenant_id)
    live = [h for h in beats if age_seconds(h, now) <= max_age(h, max_age_seconds)]
    if not live:
        if beats:
            last = max(beats, key=lambda h: h.last_seen)
            seen = (
                f"; the last one ({_who(last)}) was last seen "
                f"{age_seconds(last, now):.0f}s ago and is presumed dead"
            )
        else:
            seen = ""
        reason = (
            f"no worker is running for this app{seen}: start one with {run} "
            "before the cutover, or the job runs nowhere once its crontab line is disabled"
        )
        return dict.fromkeys(wanted, reason)
    disk = file_fingerprint(app.module_path)
    module = app.module_path.name
    behind = [h for h in live if disk is None or h.module_fingerprint != disk[1]]
    if behind:
        who = "; ".join(_who(h) for h in behind)
        reason = (
            f"{who} serves an older {module} than the one on disk (it changed since the "
            f"worker started): restart it ({run}) so it loads the current triggers"
        )
        return dict.fromkeys(wanted, reason)
    out: dict[str, str] = {}
    for name in wanted:
        if not any(name in h.triggers for h in live):
            who = "; ".join(_who(h) for h in live)
            out[name] = (
                f"{who} does not serve trigger {name!r}: restart it ({run}) so it loads "
                f"every trigger of {module}"
            )
    return out


def workers(
    app_name: str,
    module_path: Path | None,
    store: LedgerStore,
    *,
    now: datetime | None = None,
    tenant_id: str = "default",
) -> list[dict[str, Any]]:
    """The workers of an app as ``owlmigrate status`` shows them, oldest first: ``worker_id``,
    ``host``, ``pid``, ``backend``, ``started_at``, ``last_seen``, ``age_seconds``, ``alive``
    (a live heartbeat), ``module`` (``fresh``: it runs the module on disk, ``stale``: an older
    one, ``unknown``: the module cannot be read), ``triggers`` and ``settled`` (interrupted
    switches it completed)."""
    now = now or datetime.now(UTC)
    disk = file_fingerprint(module_path) if module_path is not None else None
    out = []
    for h in app_heartbeats(app_name, module_path, store, tenant_id=tenant_id):
        if disk is None or h.module_fingerprint is None:
            module = "unknown"
        else:
            module = "fresh" if h.module_fingerprint == disk[1] else "stale"
        age = age_seconds(h, now)
        out.append(
            {
                "worker_id": h.worker_id,
                "host": h.host,
                "pid": h.pid,
                "backend": h.backend,
                "started_at": _iso(h.started_at),
                "last_seen": _iso(h.last_seen),
                "age_seconds": round(age, 1),
                "alive": age <= max_age(h),
                "module": module,
                "module_path": h.module_path,
                "triggers": list(h.triggers),
                "settled": list(h.details.get("settled", [])),
            }
        )
    return out


def pending_notes(store: LedgerStore) -> list[str]:
    """One line per journal row a killed command left pending."""
    return [
        f"{entry.action} of {entry.job} interrupted (journal row {entry.id}); the running "
        "worker or the next owlmigrate command will settle it"
        for entry in store.journal_pending()
    ]


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Settler:
    """A worker housekeeping hook (``serve_app(housekeeping=[Settler(...)])``): when the journal
    has ``pending`` rows and the migration lock is free (the command that wrote them is dead:
    a live one holds the lock and settles its own rows), run :func:`recover` on the app
    directory, exactly as the next owlmigrate command would, and record a management event
    (``settled_by_worker``) per row settled. Returns recover's notes when it settled a row
    (empty: nothing was pending, a command is running, or no row could be settled yet, which is
    logged and retried next round). With nothing pending it costs one query
    (``journal_pending``)."""

    app_dir: Path
    store: LedgerStore
    tenant_id: str = "default"
    actor: str = ""

    def __post_init__(self) -> None:
        self.app_dir = Path(self.app_dir)
        if not self.actor:
            self.actor = f"worker:{socket.gethostname()}:{os.getpid()}"

    def __call__(self) -> list[str]:
        pending = self.store.journal_pending()
        if not pending:
            return []
        # The lock of every mutating command (``_base.exclusive``), taken without waiting.
        with migration_lock(self.store) as held:
            if not held:
                return []  # a command holds it: it is alive and settles its own rows
            notes = recover(AppDir.load(self.app_dir), self.store, tenant_id=self.tenant_id)
            after = {e.id: e for e in self.store.journal() if e.id is not None}
        now = datetime.now(UTC)
        changed = [
            (entry, after[entry.id])
            for entry in pending
            if entry.id in after and after[entry.id].status != "pending"
        ]
        if not changed:
            # nothing settled (a file still cannot be written): say why, change nothing, and
            # try again next round (returning notes would mean "state changed")
            for note in notes:
                log.warning("%s", note)
            return []
        for entry, settled in changed:
            self.store.record_event(
                ManagementEvent(
                    event_name=entry.job,
                    action=SETTLED_ACTION,
                    at=now,
                    tenant_id=self.tenant_id,
                    actor=self.actor,
                    details={
                        "journal_row": entry.id,
                        "interrupted": entry.action,
                        "status": settled.status,
                    },
                )
            )
        return notes


__all__ = [
    "SETTLED_ACTION",
    "Settler",
    "age_seconds",
    "app_heartbeats",
    "app_name_of",
    "max_age",
    "pending_notes",
    "refusals",
    "workers",
]
