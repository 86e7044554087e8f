"""The SQLAlchemy ledger: SQLite by default, PostgreSQL by URL (``postgresql+psycopg://``).

Synchronous on purpose (Core tables, a sync engine): the async runtime calls it through
``asyncio.to_thread``, and every write is committed before the call returns, so there is no
in-memory queue to lose on a crash (OwlClaw's write-behind queue dropped records, owlclaw.md 3.5).

The pieces live beside it: URLs and engines in ``engines.py`` (SQLite's WAL and write-lock
discipline), rows <-> records in ``rows.py``, the prebuilt per-run statements in
``queries.py``, the leader locks in ``locks.py``.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import DBAPIError, NoSuchModuleError

from owlclaw_runtime.errors import ConfigurationError
from owlclaw_runtime.ledger import locks
from owlclaw_runtime.ledger import queries as q
from owlclaw_runtime.ledger import schema as s
from owlclaw_runtime.ledger.base import (
    BreakerState,
    GovernanceFigures,
    JournalEntry,
    LeaderLock,
    LedgerError,
    LedgerStore,
    LedgerWriteError,
    ManagementEvent,
    SideStats,
    TriggerState,
    TriggerStats,
    WorkerHeartbeat,
)
from owlclaw_runtime.ledger.engines import BUSY_TIMEOUT_MS, json_dumps, normalize_url, sqlite_engine
from owlclaw_runtime.ledger.group_commit import GroupCommit, own_error, row_specific
from owlclaw_runtime.ledger.migrations import SCHEMA_VERSION, upgrade
from owlclaw_runtime.ledger.rows import (
    ERROR_MESSAGE_LIMIT,
    OUTPUT_TAIL_LIMIT,
    TRACEBACK_LIMIT,
    execution_from_row,
    execution_row,
    status_value,
    trigger_state_from_row,
)
from owlclaw_runtime.triggers.models import CronExecution

__all__ = [
    "BUSY_TIMEOUT_MS",
    "ERROR_MESSAGE_LIMIT",
    "OUTPUT_TAIL_LIMIT",
    "TRACEBACK_LIMIT",
    "SqlLedgerStore",
    "normalize_url",
]

_WEIGHT_TOLERANCE = 1e-9
_EXECUTION_KEY = ("tenant_id", "app_name", "execution_id")
_STATE_KEY = ("tenant_id", "app_name", "event_name")
_APP_NAME_LIMIT = 255


def _checked_app_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > _APP_NAME_LIMIT:
        raise ConfigurationError(
            f"the ledger's app name must be 1 to {_APP_NAME_LIMIT} characters, got {name!r}",
            field="app_name",
        )
    return name


_JOURNAL_STATUSES = ("pending", "done", "undone")

ex = s.executions


class SqlLedgerStore(LedgerStore):
    """``LedgerStore`` on SQLAlchemy Core. Safe to share between threads.

    Opening the store checks the schema version, applies pending migrations and refuses a
    database written by a newer runtime (``ConfigurationError``).

    The store is bound to one app (``app_name``, default ``"default"``): it reads and writes that
    app's rows only, so apps sharing one database (one per host) never see each other's
    executions, trigger states, breakers, events or journal. :meth:`for_app` gives a store
    bound to another app on the same connections.
    """

    def __init__(
        self, url: str | URL, *, migrate: bool = True, app_name: str = s.DEFAULT_APP
    ) -> None:
        self.app_name = _checked_app_name(app_name)
        self._owner = True
        self.url = normalize_url(url)
        self.display_url = self.url.render_as_string(hide_password=True)
        self.dialect = self.url.get_backend_name()
        self._memory = self.dialect == "sqlite" and self.url.database in (None, "", ":memory:")
        # An in-memory database lives in one connection: serialise every use of it.
        self._serial: threading.RLock | None = threading.RLock() if self._memory else None
        self._local_locks: dict[str, threading.Lock] = {}
        self._local_locks_guard = threading.Lock()
        self._upserts: dict[str, sa.sql.Executable] = {}
        self._group = GroupCommit(self._write_execution_rows, row_specific)
        self.db_path: Path | None = None
        self._engine = self._create_engine()
        self._write_engine = self._engine.execution_options(owlclaw_write=True)
        # Reads are single statements: no transaction round trips (SQLite: no BEGIN;
        # PostgreSQL: autocommit on a pool without pre-ping, see _all).
        self._read_engine = self._create_read_engine()
        self._pg_schema = ""
        try:
            if migrate:
                upgrade(self._write_engine, url=self.display_url)
            else:
                self._check_version()
            with self._engine.connect() as conn:
                if self.dialect == "postgresql":
                    self._pg_schema = str(conn.execute(sa.text("select current_schema()")).scalar())
                self.ledger_id = str(conn.execute(sa.select(s.ledger_meta.c.ledger_id)).scalar())
        except ConfigurationError:
            self.close()
            raise
        except DBAPIError as exc:
            self.close()
            raise ConfigurationError(
                f"cannot open the ledger at {self.display_url}: {exc.orig}",
                field="OWLCLAW_LEDGER_URL",
            ) from exc
        self.schema_version = SCHEMA_VERSION

    def for_app(self, app_name: str) -> SqlLedgerStore:
        """This ledger bound to ``app_name``: the same engines, caches and group commit (so the
        two share connections); closing the returned store closes nothing, close this one."""
        if app_name == self.app_name:
            return self
        view = copy.copy(self)
        view.app_name = _checked_app_name(app_name)
        view._owner = False
        return view

    # -- engine --

    def _create_engine(self) -> Engine:
        if self.dialect == "sqlite":
            engine, self.db_path = sqlite_engine(
                self.url, display_url=self.display_url, memory=self._memory
            )
            return engine
        try:
            return sa.create_engine(
                self.url, pool_pre_ping=True, json_serializer=json_dumps, future=True
            )
        except (NoSuchModuleError, ModuleNotFoundError) as exc:
            raise ConfigurationError(
                f"the ledger at {self.display_url} needs the PostgreSQL driver: "
                "pip install 'owlmigrate[postgres]' (psycopg 3)",
                field="OWLCLAW_LEDGER_URL",
            ) from exc

    def _create_read_engine(self) -> Engine:
        if self.dialect == "sqlite":
            return self._engine.execution_options(owlclaw_read=True)
        return sa.create_engine(
            self.url, isolation_level="AUTOCOMMIT", json_serializer=json_dumps, future=True
        )

    def _check_version(self) -> None:
        from owlclaw_runtime.ledger.migrations import read_version

        with self._engine.connect() as conn:
            version = read_version(conn)
        if version != SCHEMA_VERSION:
            raise ConfigurationError(
                f"the ledger at {self.display_url} has schema version {version}, this "
                f"owlclaw_runtime needs version {SCHEMA_VERSION}",
                field="OWLCLAW_LEDGER_URL",
            )

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A transactional connection for streamed reads (a server-side cursor needs one)."""
        with self._serial or nullcontext():
            try:
                with self._engine.connect() as conn:
                    yield conn
            except DBAPIError as exc:
                raise LedgerError(f"ledger {self.display_url}: {exc.orig}") from exc

    def _all(self, query: sa.sql.Executable, params: Mapping[str, Any] | None = None) -> list[Any]:
        """Run one read-only statement and buffer its rows. Reads skip the pool's pre-ping (a
        round trip each), so a connection that went stale (the server restarted) is retried
        once on a fresh one: a read is safe to repeat."""
        with self._serial or nullcontext():
            for attempt in (1, 2):
                try:
                    with self._read_engine.connect() as conn:
                        return list(conn.execute(query, params).all())
                except DBAPIError as exc:
                    if attempt == 1 and exc.connection_invalidated:
                        continue
                    raise LedgerError(f"ledger {self.display_url}: {exc.orig}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _maps(
        self, query: sa.sql.Executable, params: Mapping[str, Any] | None = None
    ) -> list[Mapping[Any, Any]]:
        return [row._mapping for row in self._all(query, params)]

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        with self._serial or nullcontext():
            try:
                with self._write_engine.begin() as conn:
                    yield conn
            except DBAPIError as exc:
                raise LedgerError(f"ledger {self.display_url}: {exc.orig}") from exc

    def _upsert(
        self, conn: Connection, table: sa.Table, values: dict[str, Any], keys: tuple[str, ...]
    ) -> None:
        """INSERT ... ON CONFLICT (keys) DO UPDATE every other column. The statement is built
        once per table (building it costs more than running it); values go in as parameters."""
        stmt = self._upserts.get(table.name)
        if stmt is None:
            columns = [c.name for c in table.columns if c.name in values and c.name not in keys]
            if self.dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as pg_insert

                pg_base = pg_insert(table)
                stmt = pg_base.on_conflict_do_update(
                    index_elements=list(keys), set_={c: pg_base.excluded[c] for c in columns}
                )
            else:
                from sqlalchemy.dialects.sqlite import insert as lite_insert

                lite_base = lite_insert(table)
                stmt = lite_base.on_conflict_do_update(
                    index_elements=list(keys), set_={c: lite_base.excluded[c] for c in columns}
                )
            self._upserts[table.name] = stmt
        conn.execute(stmt, values)

    def _upsert_many(
        self,
        conn: Connection,
        table: sa.Table,
        rows: list[dict[str, Any]],
        keys: tuple[str, ...],
    ) -> None:
        if len(rows) == 1:
            self._upsert(conn, table, rows[0], keys)
            return
        self._upsert(conn, table, rows[0], keys)  # builds and caches the statement
        conn.execute(self._upserts[table.name], rows[1:])

    # -- executions --

    def record_execution(self, execution: CronExecution) -> None:
        (error,) = self._group.submit(
            [[execution_row(execution, datetime.now(UTC), self.app_name)]]
        )
        if error is not None:
            raise own_error(error)

    def record_executions(self, executions: Sequence[CronExecution]) -> None:
        """Upsert every execution, committed before returning, coalesced with the calls of other
        threads into one transaction (group commit, ``ledger.group_commit.GroupCommit``): with
        1,000 runs starting at once, SQLite commits a few times instead of 1,000 times in a row.

        Rows are built here, in the caller's thread, so a row that cannot be built fails only
        its own call. Each execution is an entry of its own: one the database refuses fails
        alone, and :class:`LedgerWriteError` names every execution not committed. The order
        is kept (a later row of the same execution wins)."""
        now = datetime.now(UTC)
        rows = [execution_row(e, now, self.app_name) for e in executions]
        if not rows:
            return
        errors = self._group.submit([[row] for row in rows])
        failed = [(e, err) for e, err in zip(executions, errors, strict=True) if err is not None]
        if failed:
            first = failed[0][1]
            raise LedgerWriteError(
                f"{len(failed)} of {len(rows)} execution row(s) not committed: {first}",
                frozenset((e.tenant_id, e.execution_id) for e, _ in failed),
            ) from first

    def _write_execution_rows(self, rows: list[dict[str, Any]]) -> None:
        """One transaction upserting ``rows`` (the group committer's write)."""
        # The last row of each execution wins: one multi-row statement may not touch a row
        # twice on PostgreSQL, and every upsert rewrites every column anyway.
        latest: dict[tuple[str, str, str], dict[str, Any]] = {}
        for row in rows:
            key = (row["tenant_id"], row["app_name"], row["execution_id"])
            latest.pop(key, None)
            latest[key] = row
        try:
            with self._writing() as conn:
                self._upsert_many(conn, ex, list(latest.values()), _EXECUTION_KEY)
        except (ValueError, TypeError, ArithmeticError, sa.exc.StatementError) as exc:
            # a value the driver cannot bind (sqlite3: an int over 64 bits): a typed error too
            raise LedgerError(f"ledger {self.display_url}: {exc}") from exc

    def get_execution(
        self, execution_id: str, *, tenant_id: str = "default"
    ) -> CronExecution | None:
        rows = self._maps(
            q.GET_EXECUTION, {"tenant": tenant_id, "app": self.app_name, "id": execution_id}
        )
        return execution_from_row(rows[0]) if rows else None

    def history(
        self,
        event_name: str | None = None,
        *,
        tenant_id: str = "default",
        limit: int = 10,
        statuses: list[str] | None = None,
    ) -> list[CronExecution]:
        limit = max(1, min(100, int(limit)))
        query = sa.select(ex).where(ex.c.tenant_id == tenant_id, ex.c.app_name == self.app_name)
        if event_name is not None:
            query = query.where(ex.c.event_name == event_name)
        if statuses is not None:
            query = query.where(ex.c.status.in_([status_value(v) for v in statuses]))
        # Timed rows in index order (…, triggered_at, id) backwards, then the rare rows without
        # triggered_at. One "NULLS LAST" ORDER BY would make PostgreSQL sort every row of the
        # tenant (its backward index scan puts NULLs first).
        timed = query.where(ex.c.triggered_at.is_not(None))
        rows = self._maps(timed.order_by(ex.c.triggered_at.desc(), ex.c.id.desc()).limit(limit))
        if len(rows) < limit:
            untimed = query.where(ex.c.triggered_at.is_(None)).order_by(ex.c.id.desc())
            rows += self._maps(untimed.limit(limit - len(rows)))
        return [execution_from_row(r) for r in rows]

    def stats(
        self,
        event_name: str,
        *,
        tenant_id: str = "default",
        since: datetime | None = None,
        migration_weight: float | None = None,
    ) -> TriggerStats:
        query = sa.select(
            ex.c.decision_mode,
            ex.c.status,
            sa.func.count(),
            sa.func.sum(ex.c.duration_seconds),
            sa.func.count(ex.c.duration_seconds),
            sa.func.sum(ex.c.cost_usd),
        ).where(
            ex.c.tenant_id == tenant_id,
            ex.c.app_name == self.app_name,
            ex.c.event_name == event_name,
        )
        if since is not None:
            query = query.where(ex.c.triggered_at >= since)
        if migration_weight is not None:
            query = query.where(
                ex.c.migration_weight.between(
                    migration_weight - _WEIGHT_TOLERANCE, migration_weight + _WEIGHT_TOLERANCE
                )
            )
        query = query.group_by(ex.c.decision_mode, ex.c.status)
        rows = self._all(query)
        sides: dict[str, list[float]] = {k: [0, 0, 0, 0.0, 0, 0.0] for k in ("all", "agent", "fb")}
        skipped = 0
        for mode, status, count, dur_sum, dur_count, cost in rows:
            if status == "skipped":
                skipped += int(count)
                continue
            if status not in s.COUNTED_STATUSES:
                continue  # pending / running: not an outcome yet
            targets = ["all"]
            if mode == "agent":
                targets.append("agent")
            elif mode == "fallback":
                targets.append("fb")
            for key in targets:
                acc = sides[key]
                acc[0] += count
                acc[1] += count if status in s.SUCCESS_STATUSES else 0
                acc[2] += count if status == "failed" else 0
                acc[3] += float(dur_sum or 0.0)
                acc[4] += int(dur_count or 0)
                acc[5] += float(cost or 0.0)

        def side(acc: list[float]) -> SideStats:
            return SideStats(
                executions=int(acc[0]),
                successes=int(acc[1]),
                failures=int(acc[2]),
                average_duration_seconds=(acc[3] / acc[4]) if acc[4] else None,
                total_cost_usd=acc[5],
            )

        return TriggerStats(
            overall=side(sides["all"]),
            agent=side(sides["agent"]),
            fallback=side(sides["fb"]),
            skipped=skipped,
        )

    def daily_usage(
        self, event_name: str, *, start: datetime, end: datetime, tenant_id: str = "default"
    ) -> tuple[int, float]:
        params = {
            "tenant": tenant_id,
            "app": self.app_name,
            "event": event_name,
            "start": start,
            "end": end,
        }
        count, cost = self._all(q.DAILY_USAGE, params)[0]
        return int(count), float(cost)

    def last_success_at(self, event_name: str, *, tenant_id: str = "default") -> datetime | None:
        rows = self._all(q.LAST_SUCCESS, self._keys(tenant_id, event_name))
        value: datetime | None = rows[0][0] if rows else None
        return value

    def governance_figures(
        self,
        event_name: str,
        *,
        cooldown: bool,
        daily: tuple[datetime, datetime] | None,
        tenant_id: str = "default",
    ) -> GovernanceFigures:
        if not cooldown and daily is None:
            return GovernanceFigures()
        params: dict[str, Any] = self._keys(tenant_id, event_name)
        if daily is not None:
            params["start"], params["end"] = daily
        row = self._all(q.GOVERNANCE_FIGURES[(cooldown, daily is not None)], params)[0]
        mapping = row._mapping
        return GovernanceFigures(
            daily_runs=int(mapping["runs"]) if daily is not None else None,
            daily_cost=float(mapping["cost"]) if daily is not None else None,
            last_success_at=mapping["last_success"] if cooldown else None,
        )

    def recent_outcomes(self, event_name: str, n: int, *, tenant_id: str = "default") -> list[bool]:
        if n <= 0:
            return []
        params = {**self._keys(tenant_id, event_name), "n": int(n)}
        return [bool(r[0]) for r in self._all(q.RECENT_OUTCOMES, params)]

    def iter_all_executions(self, *, tenant_id: str = "default") -> Iterator[CronExecution]:
        query = (
            sa.select(ex)
            .where(ex.c.tenant_id == tenant_id, ex.c.app_name == self.app_name)
            .order_by(ex.c.triggered_at.asc().nulls_first(), ex.c.id.asc())
        )
        with self._reading() as conn:
            result = conn.execution_options(yield_per=1000).execute(query).mappings()
            for row in result:
                yield execution_from_row(row)

    # -- management events --

    def record_event(self, event: ManagementEvent) -> int:
        t = s.management_events
        values = {
            "tenant_id": event.tenant_id,
            "app_name": self.app_name,
            "event_name": event.event_name,
            "action": event.action,
            "at": event.at,
            "actor": event.actor,
            "details": dict(event.details or {}),
        }
        with self._writing() as conn:
            new_id = conn.execute(sa.insert(t).values(**values).returning(t.c.id)).scalar_one()
        return int(new_id)

    def events(
        self, event_name: str | None = None, *, tenant_id: str = "default", limit: int = 100
    ) -> list[ManagementEvent]:
        t = s.management_events
        query = sa.select(t).where(t.c.tenant_id == tenant_id, t.c.app_name == self.app_name)
        if event_name is not None:
            query = query.where(t.c.event_name == event_name)
        query = query.order_by(t.c.at.desc(), t.c.id.desc()).limit(max(1, min(1000, int(limit))))
        rows = self._maps(query)
        return [
            ManagementEvent(
                event_name=r["event_name"],
                action=r["action"],
                at=r["at"],
                tenant_id=r["tenant_id"],
                actor=r["actor"],
                details=r["details"],
                id=int(r["id"]),
            )
            for r in rows
        ]

    # -- breaker and trigger state --

    def get_breaker(self, event_name: str, *, tenant_id: str = "default") -> BreakerState:
        found = self._all(q.GET_BREAKER, self._keys(tenant_id, event_name))
        if not found:
            return BreakerState(event_name=event_name, tenant_id=tenant_id)
        row = found[0]
        return BreakerState(
            event_name=event_name, state=row.state, opened_at=row.opened_at, tenant_id=tenant_id
        )

    def breakers(
        self, event_names: Iterable[str], *, tenant_id: str = "default"
    ) -> dict[str, BreakerState]:
        # One query for the tenant's saved states (one row per trigger whose breaker ever
        # moved: few), the rest are closed.
        found = {
            row.event_name: BreakerState(
                event_name=row.event_name,
                state=row.state,
                opened_at=row.opened_at,
                tenant_id=tenant_id,
            )
            for row in self._all(q.ALL_BREAKERS, {"tenant": tenant_id, "app": self.app_name})
        }
        return {
            name: found.get(name) or BreakerState(event_name=name, tenant_id=tenant_id)
            for name in event_names
        }

    def save_breaker(self, state: BreakerState) -> None:
        if state.state not in ("closed", "open", "half_open"):
            raise LedgerError(f"breaker state must be closed, open or half_open: {state.state!r}")
        values = {
            "tenant_id": state.tenant_id,
            "app_name": self.app_name,
            "event_name": state.event_name,
            "state": state.state,
            "opened_at": state.opened_at,
            "updated_at": datetime.now(UTC),
        }
        with self._writing() as conn:
            self._upsert(conn, s.breakers, values, _STATE_KEY)

    def get_trigger_state(self, event_name: str, *, tenant_id: str = "default") -> TriggerState:
        rows = self._maps(q.GET_TRIGGER_STATE, self._keys(tenant_id, event_name))
        if not rows:
            return TriggerState(event_name=event_name, tenant_id=tenant_id)
        return trigger_state_from_row(rows[0])

    def save_trigger_state(self, state: TriggerState) -> None:
        values = {
            "tenant_id": state.tenant_id,
            "app_name": self.app_name,
            "event_name": state.event_name,
            "paused": bool(state.paused),
            "migration_weight": state.migration_weight,
            "shadow": state.shadow,
            "last_fired_at": state.last_fired_at,
            "updated_at": state.updated_at or datetime.now(UTC),
        }
        with self._writing() as conn:
            self._upsert(conn, s.trigger_states, values, _STATE_KEY)

    def advance_last_fired(
        self,
        event_name: str,
        instant: datetime,
        *,
        older_than: datetime | None = None,
        tenant_id: str = "default",
        updated_at: datetime | None = None,
    ) -> bool:
        """One statement, on the hot path of the embedded scheduler (it claims each wake-up's
        instants with it): an INSERT ... ON CONFLICT DO UPDATE ... WHERE the stored value is
        older, RETURNING a row only when it inserted or updated. The unique key makes the
        insert race-free; PostgreSQL re-checks the WHERE on the newest row version, SQLite
        serialises writers. PostgreSQL runs it in autocommit (one round trip)."""
        params = {
            "tenant_id": tenant_id,
            "app_name": self.app_name,
            "event_name": event_name,
            "paused": False,
            "last_fired_at": instant,
            "updated_at": updated_at or datetime.now(UTC),
            "older_than": instant if older_than is None else older_than,
        }
        if self.dialect == "sqlite":
            with self._writing() as conn:
                return conn.execute(self._advance_statement(), params).first() is not None
        # A single statement is atomic by itself: autocommit, no pre-ping, BEGIN or COMMIT
        # round trips. A stale pooled connection (the server restarted) fails before the
        # statement reaches the server, so it is retried once on a fresh one. Should a
        # connection die after the server committed, the retry answers False: the caller then
        # runs nothing (an instant is never run twice; at worst it is lost, like a run in
        # flight at a crash).
        for attempt in (1, 2):
            try:
                with self._read_engine.connect() as conn:
                    return conn.execute(self._advance_statement(), params).first() is not None
            except DBAPIError as exc:
                if attempt == 1 and exc.connection_invalidated:
                    continue
                raise LedgerError(f"ledger {self.display_url}: {exc.orig}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _advance_statement(self) -> sa.sql.Executable:
        cached = self._upserts.get("advance_last_fired")
        if cached is not None:
            return cached
        t = s.trigger_states
        insert: Any
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        base = insert(t).values(
            tenant_id=sa.bindparam("tenant_id"),
            app_name=sa.bindparam("app_name"),
            event_name=sa.bindparam("event_name"),
            paused=sa.bindparam("paused"),
            last_fired_at=sa.bindparam("last_fired_at"),
            updated_at=sa.bindparam("updated_at"),
        )
        older_than = sa.bindparam("older_than", type_=t.c.last_fired_at.type)
        stmt: sa.sql.Executable = base.on_conflict_do_update(
            index_elements=list(_STATE_KEY),
            set_={
                "last_fired_at": base.excluded.last_fired_at,
                "updated_at": base.excluded.updated_at,
            },
            where=sa.or_(t.c.last_fired_at.is_(None), t.c.last_fired_at < older_than),
        ).returning(t.c.event_name)
        self._upserts["advance_last_fired"] = stmt
        return stmt

    def all_trigger_states(self, *, tenant_id: str = "default") -> list[TriggerState]:
        t = s.trigger_states
        query = (
            sa.select(t)
            .where(t.c.tenant_id == tenant_id, t.c.app_name == self.app_name)
            .order_by(t.c.event_name)
        )
        return [trigger_state_from_row(r) for r in self._maps(query)]

    # -- migration journal --

    def journal_append(self, entry: JournalEntry) -> int:
        if entry.status not in _JOURNAL_STATUSES:
            raise LedgerError(f"journal status must be pending, done or undone: {entry.status!r}")
        t = s.journal
        values = {
            "tenant_id": entry.tenant_id,
            "app_name": self.app_name,
            "job": entry.job,
            "action": entry.action,
            "at": entry.at,
            "user": entry.user,
            "from_state": dict(entry.from_state or {}),
            "to_state": dict(entry.to_state or {}),
            "reason": entry.reason,
            "forced": bool(entry.forced),
            "status": entry.status,
        }
        with self._writing() as conn:
            new_id = conn.execute(sa.insert(t).values(**values).returning(t.c.id)).scalar_one()
        return int(new_id)

    def journal_update_status(self, entry_id: int, status: str) -> None:
        if status not in ("done", "undone"):
            raise LedgerError(
                f"journal row {entry_id}: a pending row may only become done or undone, "
                f"not {status!r}"
            )
        t = s.journal
        mine = t.c.app_name == self.app_name
        with self._writing() as conn:
            # Conditional update: the check and the change are one statement, so two processes
            # cannot both complete the same pending row.
            updated = conn.execute(
                sa.update(t)
                .where(t.c.id == entry_id, mine, t.c.status == "pending")
                .values(status=status)
            ).rowcount
            if updated == 1:
                return
            current = conn.execute(sa.select(t.c.status).where(t.c.id == entry_id, mine)).scalar()
        if current is None:
            raise LedgerError(f"journal row {entry_id} does not exist")
        raise LedgerError(
            f"journal row {entry_id} is {current}; only pending rows can change (append-only)"
        )

    def journal(
        self, job: str | None = None, *, limit: int | None = None, tenant_id: str = "default"
    ) -> list[JournalEntry]:
        t = s.journal
        query = sa.select(t).where(t.c.tenant_id == tenant_id, t.c.app_name == self.app_name)
        if job is not None:
            query = query.where(t.c.job == job)
        if limit is not None:
            # the newest `limit` rows, still returned oldest first
            query = query.order_by(t.c.id.desc()).limit(max(0, int(limit)))
        else:
            query = query.order_by(t.c.id.asc())
        rows = self._maps(query)
        if limit is not None:
            rows = list(reversed(rows))
        return [_journal_entry(r) for r in rows]

    def journal_pending(self) -> list[JournalEntry]:
        t = s.journal
        query = (
            sa.select(t)
            .where(t.c.app_name == self.app_name, t.c.status == "pending")
            .order_by(t.c.id.asc())
        )
        return [_journal_entry(r) for r in self._maps(query)]

    # -- worker heartbeats --

    def record_heartbeat(self, heartbeat: WorkerHeartbeat) -> None:
        values = {
            "tenant_id": heartbeat.tenant_id,
            "worker_id": heartbeat.worker_id,
            "app_name": heartbeat.app_name,
            "host": heartbeat.host,
            "pid": int(heartbeat.pid),
            "backend": heartbeat.backend,
            "module_path": heartbeat.module_path,
            "module_sha256": heartbeat.module_sha256,
            "module_fingerprint": heartbeat.module_fingerprint,
            "stale_module": bool(heartbeat.stale_module),
            "triggers": list(heartbeat.triggers),
            "interval_seconds": float(heartbeat.interval_seconds),
            "started_at": heartbeat.started_at,
            "last_seen": heartbeat.last_seen,
            "details": dict(heartbeat.details or {}),
        }
        with self._writing() as conn:
            self._upsert(conn, s.worker_heartbeats, values, ("tenant_id", "worker_id"))

    def heartbeats(
        self, app_name: str | None = None, *, tenant_id: str = "default"
    ) -> list[WorkerHeartbeat]:
        t = s.worker_heartbeats
        query = sa.select(t).where(t.c.tenant_id == tenant_id)
        if app_name is not None:
            query = query.where(t.c.app_name == app_name)
        query = query.order_by(t.c.started_at.asc(), t.c.worker_id.asc())
        return [
            WorkerHeartbeat(
                worker_id=r["worker_id"],
                app_name=r["app_name"],
                host=r["host"],
                pid=int(r["pid"]),
                backend=r["backend"],
                started_at=r["started_at"],
                last_seen=r["last_seen"],
                tenant_id=r["tenant_id"],
                module_path=r["module_path"],
                module_sha256=r["module_sha256"],
                module_fingerprint=r["module_fingerprint"],
                stale_module=bool(r["stale_module"]),
                triggers=tuple(str(name) for name in r["triggers"] or ()),
                interval_seconds=float(r["interval_seconds"]),
                details=dict(r["details"] or {}),
            )
            for r in self._maps(query)
        ]

    def remove_heartbeat(self, worker_id: str, *, tenant_id: str = "default") -> bool:
        t = s.worker_heartbeats
        with self._writing() as conn:
            deleted = conn.execute(
                sa.delete(t).where(t.c.tenant_id == tenant_id, t.c.worker_id == worker_id)
            ).rowcount
        return bool(deleted)

    # -- apps --

    def _keys(self, tenant_id: str, event_name: str) -> dict[str, Any]:
        return {"tenant": tenant_id, "app": self.app_name, "event": event_name}

    def adopt_rows(
        self,
        event_names: Iterable[str],
        *,
        from_app: str = s.DEFAULT_APP,
        tenant_id: str = "default",
    ) -> int:
        """Give this app the rows ``from_app`` holds for ``event_names`` (journal: those jobs),
        in one transaction; returns how many moved. A trigger state or breaker this app already
        has wins over ``from_app``'s (that one stays where it is); so does an execution id."""
        names = sorted(set(event_names))
        if not names or from_app == self.app_name:
            return 0
        moved = 0
        with self._writing() as conn:
            for table, name_col, key in (
                (ex, "event_name", "execution_id"),
                (s.management_events, "event_name", None),
                (s.breakers, "event_name", "event_name"),
                (s.trigger_states, "event_name", "event_name"),
                (s.journal, "job", None),
            ):
                where = [
                    table.c.tenant_id == tenant_id,
                    table.c.app_name == from_app,
                    table.c[name_col].in_(names),
                ]
                if key is not None:
                    mine = table.alias("mine")
                    where.append(
                        ~sa.exists().where(
                            mine.c.tenant_id == table.c.tenant_id,
                            mine.c.app_name == self.app_name,
                            mine.c[key] == table.c[key],
                        )
                    )
                result = conn.execute(sa.update(table).where(*where).values(app_name=self.app_name))
                moved += int(result.rowcount or 0)
        return moved

    # -- leader lock and lifecycle --

    def leader_lock(self, name: str) -> LeaderLock:
        if self.dialect == "postgresql":
            return locks.PgAdvisoryLock(self._engine, self.advisory_key(name))
        if self.db_path is not None:
            return locks.FileLeaderLock(self.lock_path(name))
        with self._local_locks_guard:
            lock = self._local_locks.setdefault(name, threading.Lock())
        return locks.ThreadLeaderLock(lock)

    def lock_path(self, name: str) -> Path:
        """The lock file of ``leader_lock(name)`` for a SQLite ledger file."""
        if self.db_path is None:
            raise LedgerError("only a SQLite ledger file has lock files")
        return locks.lock_file_name(self.db_path, name)

    def advisory_key(self, name: str) -> int:
        """The signed 64-bit PostgreSQL advisory lock key for ``name`` in this schema."""
        return locks.advisory_key(self._pg_schema, name)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (maintenance, benchmarks); writes should go through the API."""
        return self._engine

    def close(self) -> None:
        if not self._owner:
            return  # a view from for_app: the connections are the owner's
        self._engine.dispose()
        if self.dialect == "postgresql":  # its own pool; SQLite's shares the write pool
            self._read_engine.dispose()

    def __enter__(self) -> SqlLedgerStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqlLedgerStore({self.display_url!r}, app_name={self.app_name!r})"


def _journal_entry(r: Mapping[Any, Any]) -> JournalEntry:
    return JournalEntry(
        job=r["job"],
        action=r["action"],
        at=r["at"],
        user=r["user"],
        from_state=r["from_state"],
        to_state=r["to_state"],
        reason=r["reason"],
        forced=bool(r["forced"]),
        status=r["status"],
        id=int(r["id"]),
        tenant_id=r["tenant_id"],
    )
