"""The ledger seam: what every store must do, and the records it keeps.

Invariants every implementation keeps (the conformance suite in tests/runtime/ledger checks them
for SQLite and PostgreSQL):
- a call that writes returns only after the write is committed; nothing is queued in memory
  where it could be dropped (OwlClaw dropped the oldest record when its queue filled);
- ``record_execution`` is an upsert by ``execution_id``, so a run can be written as ``running``
  and again when it finishes;
- no query ever returns another tenant's rows, nor another app's: a store is bound to one app
  (``app_name``), so apps sharing a database (one per host) keep their trigger states,
  executions, breakers, events and journal apart even when their event names are the same;
- skipped rows and management events never count as executions, failures, daily runs or
  cooldown starts.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from owlclaw_runtime.errors import OwlClawError
from owlclaw_runtime.ledger.schema import DEFAULT_APP
from owlclaw_runtime.triggers.models import CronExecution


class LedgerError(OwlClawError):
    """The ledger refused an operation (a forbidden journal transition, an invalid state) or
    the database failed; the message names the ledger URL when the database is the cause."""


class LedgerWriteError(LedgerError):
    """``record_executions`` could not commit some of its rows; ``uncommitted`` holds their
    ``(tenant_id, execution_id)``. Every other row of the call is committed."""

    def __init__(self, message: str, uncommitted: frozenset[tuple[str, str]]) -> None:
        super().__init__(message)
        self.uncommitted = uncommitted


@dataclass(frozen=True)
class ManagementEvent:
    """A pause, resume, manual trigger, step, cutover or rollback: recorded, never counted."""

    event_name: str
    action: str  # pause | resume | manual_trigger | step | cutover | rollback | ...
    at: datetime
    tenant_id: str = "default"
    actor: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


@dataclass(frozen=True)
class JournalEntry:
    """One append-only migration journal row (Alembic-like: every change moves the head)."""

    job: str  # plan job id == trigger event_name
    action: str  # generate | shadow | cutover | step | rollback | stamp | ...
    at: datetime
    user: str
    from_state: dict[str, Any] = field(default_factory=dict)
    to_state: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    forced: bool = False
    status: str = "done"  # pending | done | undone: lets a crashed command be completed or undone
    id: int | None = None
    tenant_id: str = "default"


@dataclass(frozen=True)
class WorkerHeartbeat:
    """A running worker, as it last reported itself (``owlmigrate run``: schema version 4).

    Written by the worker every few seconds and deleted when it stops gracefully, so a row
    whose ``last_seen`` is old belongs to a worker that died. ``module_sha256`` hashes the
    module file's bytes the worker imported; ``module_fingerprint`` hashes what the worker
    serves from it (``owlclaw_runtime.loader.module_fingerprint``: the module's syntax tree with
    the values of ``shadow=`` and ``migration_weight=`` left out, which reach workers through
    the ledger), so a cutover or step that rewrites those literals does not make a worker
    stale, a regenerate does. ``stale_module`` is the worker's own verdict (the file on disk
    no longer has the fingerprint it loaded). ``triggers`` are the trigger ids it serves."""

    worker_id: str
    app_name: str
    host: str
    pid: int
    backend: str
    started_at: datetime
    last_seen: datetime
    tenant_id: str = "default"
    module_path: str | None = None
    module_sha256: str | None = None
    module_fingerprint: str | None = None
    stale_module: bool = False
    triggers: tuple[str, ...] = ()
    interval_seconds: float = 5.0
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BreakerState:
    event_name: str
    state: str = "closed"  # closed | open | half_open
    opened_at: datetime | None = None
    tenant_id: str = "default"


@dataclass(frozen=True)
class TriggerState:
    """Durable per-trigger state that outlives a process: pause, weight and shadow overrides
    (so ``step`` reaches running workers without a restart) and the last fired instant (so a
    restart neither double-fires nor silently skips)."""

    event_name: str
    tenant_id: str = "default"
    paused: bool = False
    migration_weight: float | None = None
    shadow: bool | None = None
    last_fired_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class GovernanceFigures:
    """What the pre-run checks read: today's runs and cost (``None`` when not asked) and the
    last success (``None`` when not asked or never succeeded)."""

    daily_runs: int | None = None
    daily_cost: float | None = None
    last_success_at: datetime | None = None


@dataclass(frozen=True)
class SideStats:
    executions: int = 0
    successes: int = 0
    failures: int = 0
    average_duration_seconds: float | None = None
    total_cost_usd: float = 0.0

    @property
    def success_rate(self) -> float | None:
        return None if self.executions == 0 else self.successes / self.executions


@dataclass(frozen=True)
class TriggerStats:
    """Success rate and duration, overall and split by decision mode (agent vs fallback)."""

    overall: SideStats
    agent: SideStats
    fallback: SideStats
    skipped: int = 0


class LeaderLock(abc.ABC):
    """A lock from :meth:`LedgerStore.leader_lock`: non-blocking, exclusive between processes,
    held from a successful :meth:`acquire` (``with store.leader_lock(name) as held:``) until
    :meth:`release` (the end of the block).

    A lock can be lost without being released: the PostgreSQL session holding an advisory lock
    ends (server restart, ``pg_terminate_backend``, a network cut, an idle timeout), or the lock
    file beside a SQLite ledger is removed or replaced. Another process can then take it while
    this one still thinks it leads, so a holder that acts on the lock (the embedded scheduler)
    asks :meth:`held` periodically and stops at once when it answers False.
    """

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    @abc.abstractmethod
    def acquire(self) -> bool:
        """Try once, without waiting: True when this process now holds the lock. A database
        that cannot be reached answers False (nobody can be sure to hold it), never raises."""

    @abc.abstractmethod
    def held(self) -> bool:
        """Whether the lock is still held by this process: False before :meth:`acquire`
        succeeded, after :meth:`release`, and from the moment it is found lost (it stays lost;
        take a new lock to lead again). May ask the database (one cheap query): call it off
        the event loop. Any error while asking means lost."""

    @abc.abstractmethod
    def release(self) -> None:
        """Give the lock up, or clean up what is left of a lost one. Idempotent."""


class LedgerStore(abc.ABC):
    """A durable store of executions, management events, breaker and trigger state, and the
    migration journal. Implementations must be safe to share between threads.

    A store is bound to one app, ``app_name``: every record it writes is that app's and every
    query answers from that app's records only (``tenant_id`` still partitions within it)."""

    schema_version: int
    #: the app this store reads and writes (``"default"`` unless opened for an app)
    app_name: str = DEFAULT_APP
    #: the ledger's id, made when the database was created (or upgraded to schema version 3);
    #: a toolkit records it to notice when its URL names another ledger
    ledger_id: str | None = None

    @abc.abstractmethod
    def record_execution(self, execution: CronExecution) -> None:
        """Insert or update (by ``execution_id``) and commit before returning."""

    def record_executions(self, executions: Sequence[CronExecution]) -> None:
        """Upsert several executions (in order; a later row of the same execution wins) and
        commit before returning. Stores may commit them together with other threads' writes
        (``SqlLedgerStore`` does: group commit); this default writes them one by one.

        If any row is not committed, :class:`LedgerWriteError` names every one that is not;
        the others are committed."""
        for index, execution in enumerate(executions):
            try:
                self.record_execution(execution)
            except LedgerError as exc:
                rest = executions[index:]
                raise LedgerWriteError(
                    f"{len(rest)} of {len(executions)} execution row(s) not committed: {exc}",
                    frozenset((e.tenant_id, e.execution_id) for e in rest),
                ) from exc

    @abc.abstractmethod
    def get_execution(
        self, execution_id: str, *, tenant_id: str = "default"
    ) -> CronExecution | None:
        """The execution with that id in that tenant, or None."""

    @abc.abstractmethod
    def history(
        self,
        event_name: str | None = None,
        *,
        tenant_id: str = "default",
        limit: int = 10,
        statuses: list[str] | None = None,
    ) -> list[CronExecution]:
        """Executions newest first (by ``triggered_at``); ``limit`` is clamped to 1..100."""

    @abc.abstractmethod
    def stats(
        self,
        event_name: str,
        *,
        tenant_id: str = "default",
        since: datetime | None = None,
        migration_weight: float | None = None,
    ) -> TriggerStats:
        """Counts, success rates, durations and cost; skipped rows only in ``skipped``."""

    @abc.abstractmethod
    def daily_usage(
        self, event_name: str, *, start: datetime, end: datetime, tenant_id: str = "default"
    ) -> tuple[int, float]:
        """(executions, cost) with ``start <= triggered_at < end``; skipped rows excluded."""

    @abc.abstractmethod
    def last_success_at(self, event_name: str, *, tenant_id: str = "default") -> datetime | None:
        """``completed_at`` of the newest successful (success or fallback) execution."""

    def governance_figures(
        self,
        event_name: str,
        *,
        cooldown: bool,
        daily: tuple[datetime, datetime] | None,
        tenant_id: str = "default",
    ) -> GovernanceFigures:
        """The reads a run's governance needs, in one go: ``last_success_at`` when ``cooldown``,
        ``daily_usage`` over ``daily = (start, end)`` when given. ``SqlLedgerStore`` answers
        with one statement; this default asks the single methods."""
        runs: int | None = None
        cost: float | None = None
        if daily is not None:
            runs, cost = self.daily_usage(
                event_name, start=daily[0], end=daily[1], tenant_id=tenant_id
            )
        last = self.last_success_at(event_name, tenant_id=tenant_id) if cooldown else None
        return GovernanceFigures(daily_runs=runs, daily_cost=cost, last_success_at=last)

    @abc.abstractmethod
    def recent_outcomes(self, event_name: str, n: int, *, tenant_id: str = "default") -> list[bool]:
        """The success flags of the newest ``n`` counted executions, newest first."""

    @abc.abstractmethod
    def record_event(self, event: ManagementEvent) -> int:
        """Append a management event; returns its id."""

    @abc.abstractmethod
    def events(
        self, event_name: str | None = None, *, tenant_id: str = "default", limit: int = 100
    ) -> list[ManagementEvent]:
        """Management events newest first."""

    @abc.abstractmethod
    def get_breaker(self, event_name: str, *, tenant_id: str = "default") -> BreakerState:
        """Current breaker state (closed when never saved)."""

    def breakers(
        self, event_names: Iterable[str], *, tenant_id: str = "default"
    ) -> dict[str, BreakerState]:
        """The breaker state of each named trigger (closed when never saved). Workers read
        them all at once per cache period instead of one query per run; this default asks
        :meth:`get_breaker` for each."""
        return {name: self.get_breaker(name, tenant_id=tenant_id) for name in event_names}

    @abc.abstractmethod
    def save_breaker(self, state: BreakerState) -> None:
        """Persist a breaker state."""

    @abc.abstractmethod
    def get_trigger_state(self, event_name: str, *, tenant_id: str = "default") -> TriggerState:
        """Durable trigger state (defaults when never saved)."""

    @abc.abstractmethod
    def save_trigger_state(self, state: TriggerState) -> None:
        """Persist a trigger state (upsert)."""

    @abc.abstractmethod
    def advance_last_fired(
        self,
        event_name: str,
        instant: datetime,
        *,
        older_than: datetime | None = None,
        tenant_id: str = "default",
        updated_at: datetime | None = None,
    ) -> bool:
        """Compare-and-set of ``TriggerState.last_fired_at``, atomically: set it to ``instant``
        only if the stored value is absent or older than ``older_than`` (default ``instant``),
        and say whether this call did. A missing row is created (every other field at its
        default); an existing row keeps its other fields. ``updated_at`` (default now) is
        written with the change.

        Of any number of concurrent calls (threads, processes) for the same instant exactly one
        returns True: the embedded scheduler claims each batch of instants with it before
        dispatching them, so a second leader can never fire an instant twice."""

    @abc.abstractmethod
    def all_trigger_states(self, *, tenant_id: str = "default") -> list[TriggerState]:
        """Every saved trigger state of the tenant (workers poll this for weight changes)."""

    @abc.abstractmethod
    def journal_append(self, entry: JournalEntry) -> int:
        """Append a journal row; returns its id."""

    @abc.abstractmethod
    def journal_update_status(self, entry_id: int, status: str) -> None:
        """Mark a pending journal row done or undone (the only mutation the journal allows);
        any other transition, or an unknown id, raises ``LedgerError``."""

    @abc.abstractmethod
    def journal(
        self, job: str | None = None, *, limit: int | None = None, tenant_id: str = "default"
    ) -> list[JournalEntry]:
        """This app's journal rows of ``tenant_id``, oldest first; with ``limit``, the newest
        ``limit`` rows (still oldest first)."""

    @abc.abstractmethod
    def adopt_rows(
        self,
        event_names: Iterable[str],
        *,
        from_app: str = DEFAULT_APP,
        tenant_id: str = "default",
    ) -> int:
        """Move the rows of ``from_app`` for ``event_names`` (executions, events, breakers,
        trigger states, journal rows of those jobs) to this store's app; returns how many
        moved. Used once per app: rows written before schema version 3 belong to
        ``"default"``, and an app renamed keeps its history."""

    def journal_pending(self) -> list[JournalEntry]:
        """The ``pending`` journal rows, oldest first: what a killed command left to settle.
        Asked by running workers before every instant, so ``SqlLedgerStore`` answers with one
        filtered query (an empty answer is the common case); this default filters
        :meth:`journal`."""
        return [entry for entry in self.journal() if entry.status == "pending"]

    # -- worker heartbeats (schema version 4) --

    @abc.abstractmethod
    def record_heartbeat(self, heartbeat: WorkerHeartbeat) -> None:
        """Insert or replace the worker's heartbeat (by tenant and ``worker_id``), committed
        before returning."""

    @abc.abstractmethod
    def heartbeats(
        self, app_name: str | None = None, *, tenant_id: str = "default"
    ) -> list[WorkerHeartbeat]:
        """The tenant's heartbeats (of ``app_name`` only, when given), oldest ``started_at``
        first; stale rows included (the reader judges ``last_seen``)."""

    @abc.abstractmethod
    def remove_heartbeat(self, worker_id: str, *, tenant_id: str = "default") -> bool:
        """Delete a worker's heartbeat (a graceful stop); whether there was one."""

    @abc.abstractmethod
    def leader_lock(self, name: str) -> LeaderLock:
        """A non-blocking, process-wide exclusive lock (:class:`LeaderLock`, not yet taken):
        ``with store.leader_lock(name) as held:`` yields True when this process holds it, and
        ``lock.held()`` tells later whether it still does. SQLite file: a file lock beside the
        database (lost when the file is removed or replaced); PostgreSQL: a session-level
        advisory lock on a dedicated connection (lost with the session); in-memory SQLite: a
        thread lock (never lost)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""

    def iter_all_executions(self, *, tenant_id: str = "default") -> Iterator[CronExecution]:
        """Every execution, oldest first (reports and exports)."""
        raise NotImplementedError
