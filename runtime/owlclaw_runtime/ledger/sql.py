"""The SQLAlchemy ledger: SQLite by default, PostgreSQL by URL (``postgresql+psycopg://``).

Synchronous on purpose (Core tables, a sync engine): the async runtime calls it through
``asyncio.to_thread``, and every write is committed before the call returns, so there is no
in-memory queue to lose on a crash (OwlClaw's write-behind queue dropped records, owlclaw.md 3.5).

SQLite runs in WAL mode with ``synchronous=NORMAL``: a committed transaction survives the death
of the writing process (only an OS crash or power cut can lose the last commits; use
``?synchronous=FULL`` in the URL to fsync every commit). Write transactions start with
``BEGIN IMMEDIATE`` so concurrent writers queue on ``busy_timeout`` instead of failing with
"database is locked" when a read lock is upgraded.
"""

from __future__ import annotations

import hashlib
import math
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from filelock import FileLock, Timeout
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from owlclaw_runtime.errors import ConfigurationError
from owlclaw_runtime.ledger import schema as s
from owlclaw_runtime.ledger.base import (
    BreakerState,
    GovernanceFigures,
    JournalEntry,
    LedgerError,
    LedgerStore,
    LedgerWriteError,
    ManagementEvent,
    SideStats,
    TriggerState,
    TriggerStats,
)
from owlclaw_runtime.ledger.group_commit import GroupCommit, own_error, row_specific
from owlclaw_runtime.ledger.migrations import SCHEMA_VERSION, upgrade
from owlclaw_runtime.redact import redact
from owlclaw_runtime.triggers.models import CronExecution, ExecutionStatus

OUTPUT_TAIL_LIMIT = 65536  # characters of job output kept per execution (the tail)
TRACEBACK_LIMIT = 65536
ERROR_MESSAGE_LIMIT = 16384
BUSY_TIMEOUT_MS = 30000
_SQLITE_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
_WEIGHT_TOLERANCE = 1e-9
_JOURNAL_STATUSES = ("pending", "done", "undone")

ex = s.executions


def normalize_url(url: str | URL) -> URL:
    """Parse a ledger URL; ``postgres://`` and ``postgresql://`` mean psycopg 3."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(
            f"invalid ledger URL {url!r}: {exc}", field="OWLCLAW_LEDGER_URL"
        ) from None
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigurationError(
            f"unsupported ledger URL {parsed.render_as_string(hide_password=True)}: use "
            "sqlite:///path/to/ledger.db or postgresql+psycopg://user:pass@host/db",
            field="OWLCLAW_LEDGER_URL",
        )
    return parsed


def _json_default(value: Any) -> Any:
    """JSON columns accept anything: a context holding a datetime must not drop the record."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def _json_dumps(value: Any) -> str:
    import json

    return json.dumps(value, default=_json_default, ensure_ascii=False)


def _tail(text: str | None, limit: int) -> str | None:
    """Redacted, bounded tail. Redact a slightly larger window first so a secret straddling
    the cut is hidden before the cut is made."""
    if text is None:
        return None
    return redact(text[-2 * limit :])[-limit:]


def _head(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    return redact(text[: 2 * limit])[:limit]


def _status(value: ExecutionStatus | str) -> str:
    return ExecutionStatus(value).value


def _execution_row(e: CronExecution, now: datetime) -> dict[str, Any]:
    status = _status(e.status)
    return {
        "tenant_id": e.tenant_id,
        "execution_id": e.execution_id,
        "event_name": e.event_name,
        "status": status,
        "trigger_type": e.trigger_type,
        "scheduled_at": e.scheduled_at,
        "triggered_at": e.triggered_at,
        "started_at": e.started_at,
        "completed_at": e.completed_at,
        "duration_seconds": e.duration_seconds,
        "decision_mode": e.decision_mode,
        "migration_weight": float(e.migration_weight),
        "backend": e.backend,
        "agent_run_id": e.agent_run_id,
        "llm_calls": int(e.llm_calls),
        "tokens_in": int(e.tokens_in),
        "tokens_out": int(e.tokens_out),
        "cost_usd": float(e.cost_usd),
        "governance_checks": dict(e.governance_checks or {}),
        "skip_reason": e.skip_reason,
        "error_message": _head(e.error_message, ERROR_MESSAGE_LIMIT),
        "error_traceback": _tail(e.error_traceback, TRACEBACK_LIMIT),
        "retry_count": int(e.retry_count),
        "exit_code": e.exit_code,
        "output_tail": _tail(e.output_tail, OUTPUT_TAIL_LIMIT),
        "context": dict(e.context or {}),
        "recorded_at": now,
        "counted": status in s.COUNTED_STATUSES,
        "succeeded": status in s.SUCCESS_STATUSES,
    }


_EXECUTION_FIELDS = (
    "event_name",
    "execution_id",
    "tenant_id",
    "trigger_type",
    "scheduled_at",
    "triggered_at",
    "started_at",
    "completed_at",
    "duration_seconds",
    "decision_mode",
    "migration_weight",
    "backend",
    "agent_run_id",
    "llm_calls",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "governance_checks",
    "skip_reason",
    "error_message",
    "error_traceback",
    "retry_count",
    "exit_code",
    "output_tail",
    "context",
)


def _execution_from_row(row: Mapping[Any, Any]) -> CronExecution:
    values = {name: row[name] for name in _EXECUTION_FIELDS}
    return CronExecution(status=ExecutionStatus(row["status"]), **values)


def _ensure_wal(cur: Any) -> None:
    """Switch the database file to WAL (a persistent setting). Switching needs an exclusive
    lock and SQLite reports "database is locked" at once instead of waiting on busy_timeout, so
    two processes opening a fresh ledger together retry here until one of them has switched."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            mode = cur.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() == "wal":
                return
            cur.execute("PRAGMA journal_mode=WAL").fetchall()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            return  # a file system without WAL support: stay in rollback-journal mode
        time.sleep(0.005)


# The per-run governance queries, built once: building a statement costs more than running it
# on an index. Each is a range scan of one covering index (schema.py).
_TENANT: sa.BindParameter[str] = sa.bindparam("tenant", type_=sa.String)
_EVENT: sa.BindParameter[str] = sa.bindparam("event", type_=sa.String)
_DAILY_USAGE = sa.select(
    sa.func.count(), sa.func.coalesce(sa.func.sum(ex.c.cost_usd), 0.0)
).where(  # ix_owlclaw_exec_usage
    ex.c.tenant_id == _TENANT,
    ex.c.event_name == _EVENT,
    ex.c.triggered_at >= sa.bindparam("start"),
    ex.c.triggered_at < sa.bindparam("end"),
    ex.c.status != ExecutionStatus.SKIPPED.value,
)
_LAST_SUCCESS = (  # ix_owlclaw_exec_success, backwards, first row
    sa.select(ex.c.completed_at)
    .where(
        ex.c.tenant_id == _TENANT,
        ex.c.event_name == _EVENT,
        ex.c.succeeded.is_(True),
        ex.c.completed_at.is_not(None),
    )
    .order_by(ex.c.completed_at.desc())
    .limit(1)
)


def _governance_figures(cooldown: bool, daily: bool) -> sa.Select[Any]:
    """One statement answering the pre-run reads a trigger needs (scalar subqueries over the
    same covering indexes): one round trip instead of two on PostgreSQL."""
    columns: list[Any] = []
    if daily:
        daily_rows = _DAILY_USAGE.with_only_columns(sa.func.count()).scalar_subquery()
        daily_cost = _DAILY_USAGE.with_only_columns(
            sa.func.coalesce(sa.func.sum(ex.c.cost_usd), 0.0)
        ).scalar_subquery()
        columns += [daily_rows.label("runs"), daily_cost.label("cost")]
    if cooldown:
        columns.append(_LAST_SUCCESS.scalar_subquery().label("last_success"))
    return sa.select(*columns)


_RECENT_OUTCOMES = (  # ix_owlclaw_exec_outcomes (…, triggered_at, id) backwards, first n rows
    sa.select(ex.c.succeeded)
    .where(
        ex.c.tenant_id == _TENANT,
        ex.c.event_name == _EVENT,
        ex.c.counted.is_(True),
        ex.c.triggered_at.is_not(None),
    )
    .order_by(ex.c.triggered_at.desc(), ex.c.id.desc())
    .limit(sa.bindparam("n", type_=sa.Integer))
)
_GOVERNANCE_FIGURES = {
    (cooldown, daily): _governance_figures(cooldown, daily)
    for cooldown in (False, True)
    for daily in (False, True)
    if cooldown or daily
}
_GET_EXECUTION = sa.select(ex).where(
    ex.c.tenant_id == _TENANT, ex.c.execution_id == sa.bindparam("id")
)
_GET_BREAKER = sa.select(s.breakers.c.state, s.breakers.c.opened_at).where(
    s.breakers.c.tenant_id == _TENANT, s.breakers.c.event_name == _EVENT
)
_ALL_BREAKERS = sa.select(
    s.breakers.c.event_name, s.breakers.c.state, s.breakers.c.opened_at
).where(s.breakers.c.tenant_id == _TENANT)
_GET_TRIGGER_STATE = sa.select(s.trigger_states).where(
    s.trigger_states.c.tenant_id == _TENANT, s.trigger_states.c.event_name == _EVENT
)


class SqlLedgerStore(LedgerStore):
    """``LedgerStore`` on SQLAlchemy Core. Safe to share between threads.

    Opening the store checks the schema version, applies pending migrations and refuses a
    database written by a newer runtime (``ConfigurationError``).
    """

    def __init__(self, url: str | URL, *, migrate: bool = True) -> None:
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
            if self.dialect == "postgresql":
                with self._engine.connect() as conn:
                    self._pg_schema = str(conn.execute(sa.text("select current_schema()")).scalar())
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

    # -- engine --

    def _create_engine(self) -> Engine:
        if self.dialect == "sqlite":
            return self._create_sqlite_engine()
        try:
            return sa.create_engine(
                self.url, pool_pre_ping=True, json_serializer=_json_dumps, future=True
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
            self.url, isolation_level="AUTOCOMMIT", json_serializer=_json_dumps, future=True
        )

    def _create_sqlite_engine(self) -> Engine:
        query = dict(self.url.query)
        synchronous = str(query.pop("synchronous", "NORMAL")).upper()
        if synchronous not in _SQLITE_SYNCHRONOUS:
            raise ConfigurationError(
                f"ledger URL {self.display_url}: synchronous must be one of "
                f"{', '.join(_SQLITE_SYNCHRONOUS)}",
                field="OWLCLAW_LEDGER_URL",
            )
        url = self.url.set(query=query)
        kwargs: dict[str, Any] = {
            "connect_args": {"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
            "json_serializer": _json_dumps,
        }
        if self._memory:
            kwargs["poolclass"] = StaticPool
        else:
            assert url.database is not None
            path = Path(url.database).expanduser().resolve()
            if not path.parent.is_dir():
                raise ConfigurationError(
                    f"ledger URL {self.display_url}: directory {path.parent} does not exist",
                    path=path.parent,
                    field="OWLCLAW_LEDGER_URL",
                )
            self.db_path = path
            url = url.set(database=str(path))
        engine = sa.create_engine(url, **kwargs)
        memory = self._memory

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let us issue BEGIN ourselves (pysqlite's implicit transactions skip DDL and
            # cannot take the write lock up front).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            if not memory:
                _ensure_wal(cur)
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            options = conn.get_execution_options()
            if options.get("owlclaw_read", False):
                return  # one SELECT is atomic by itself: no BEGIN / ROLLBACK round
            conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("owlclaw_write") else "BEGIN")

        return engine

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
        (error,) = self._group.submit([[_execution_row(execution, datetime.now(UTC))]])
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
        rows = [_execution_row(e, now) for e in executions]
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
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        for row in rows:
            key = (row["tenant_id"], row["execution_id"])
            latest.pop(key, None)
            latest[key] = row
        try:
            with self._writing() as conn:
                self._upsert_many(conn, ex, list(latest.values()), ("tenant_id", "execution_id"))
        except (ValueError, TypeError, ArithmeticError, sa.exc.StatementError) as exc:
            # a value the driver cannot bind (sqlite3: an int over 64 bits): a typed error too
            raise LedgerError(f"ledger {self.display_url}: {exc}") from exc

    def get_execution(
        self, execution_id: str, *, tenant_id: str = "default"
    ) -> CronExecution | None:
        rows = self._maps(_GET_EXECUTION, {"tenant": tenant_id, "id": execution_id})
        return _execution_from_row(rows[0]) if rows else None

    def history(
        self,
        event_name: str | None = None,
        *,
        tenant_id: str = "default",
        limit: int = 10,
        statuses: list[str] | None = None,
    ) -> list[CronExecution]:
        limit = max(1, min(100, int(limit)))
        query = sa.select(ex).where(ex.c.tenant_id == tenant_id)
        if event_name is not None:
            query = query.where(ex.c.event_name == event_name)
        if statuses is not None:
            query = query.where(ex.c.status.in_([_status(v) for v in statuses]))
        # Timed rows in index order (…, triggered_at, id) backwards, then the rare rows without
        # triggered_at. One "NULLS LAST" ORDER BY would make PostgreSQL sort every row of the
        # tenant (its backward index scan puts NULLs first).
        timed = query.where(ex.c.triggered_at.is_not(None))
        rows = self._maps(timed.order_by(ex.c.triggered_at.desc(), ex.c.id.desc()).limit(limit))
        if len(rows) < limit:
            untimed = query.where(ex.c.triggered_at.is_(None)).order_by(ex.c.id.desc())
            rows += self._maps(untimed.limit(limit - len(rows)))
        return [_execution_from_row(r) for r in rows]

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
        ).where(ex.c.tenant_id == tenant_id, ex.c.event_name == event_name)
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
        params = {"tenant": tenant_id, "event": event_name, "start": start, "end": end}
        count, cost = self._all(_DAILY_USAGE, params)[0]
        return int(count), float(cost)

    def last_success_at(self, event_name: str, *, tenant_id: str = "default") -> datetime | None:
        rows = self._all(_LAST_SUCCESS, {"tenant": tenant_id, "event": event_name})
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
        params: dict[str, Any] = {"tenant": tenant_id, "event": event_name}
        if daily is not None:
            params["start"], params["end"] = daily
        row = self._all(_GOVERNANCE_FIGURES[(cooldown, daily is not None)], params)[0]
        mapping = row._mapping
        return GovernanceFigures(
            daily_runs=int(mapping["runs"]) if daily is not None else None,
            daily_cost=float(mapping["cost"]) if daily is not None else None,
            last_success_at=mapping["last_success"] if cooldown else None,
        )

    def recent_outcomes(self, event_name: str, n: int, *, tenant_id: str = "default") -> list[bool]:
        if n <= 0:
            return []
        params = {"tenant": tenant_id, "event": event_name, "n": int(n)}
        return [bool(r[0]) for r in self._all(_RECENT_OUTCOMES, params)]

    def iter_all_executions(self, *, tenant_id: str = "default") -> Iterator[CronExecution]:
        query = (
            sa.select(ex)
            .where(ex.c.tenant_id == tenant_id)
            .order_by(ex.c.triggered_at.asc().nulls_first(), ex.c.id.asc())
        )
        with self._reading() as conn:
            result = conn.execution_options(yield_per=1000).execute(query).mappings()
            for row in result:
                yield _execution_from_row(row)

    # -- management events --

    def record_event(self, event: ManagementEvent) -> int:
        t = s.management_events
        values = {
            "tenant_id": event.tenant_id,
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
        query = sa.select(t).where(t.c.tenant_id == tenant_id)
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
        found = self._all(_GET_BREAKER, {"tenant": tenant_id, "event": event_name})
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
            for row in self._all(_ALL_BREAKERS, {"tenant": tenant_id})
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
            "event_name": state.event_name,
            "state": state.state,
            "opened_at": state.opened_at,
            "updated_at": datetime.now(UTC),
        }
        with self._writing() as conn:
            self._upsert(conn, s.breakers, values, ("tenant_id", "event_name"))

    def get_trigger_state(self, event_name: str, *, tenant_id: str = "default") -> TriggerState:
        rows = self._maps(_GET_TRIGGER_STATE, {"tenant": tenant_id, "event": event_name})
        if not rows:
            return TriggerState(event_name=event_name, tenant_id=tenant_id)
        return _trigger_state(rows[0])

    def save_trigger_state(self, state: TriggerState) -> None:
        values = {
            "tenant_id": state.tenant_id,
            "event_name": state.event_name,
            "paused": bool(state.paused),
            "migration_weight": state.migration_weight,
            "shadow": state.shadow,
            "last_fired_at": state.last_fired_at,
            "updated_at": state.updated_at or datetime.now(UTC),
        }
        with self._writing() as conn:
            self._upsert(conn, s.trigger_states, values, ("tenant_id", "event_name"))

    def all_trigger_states(self, *, tenant_id: str = "default") -> list[TriggerState]:
        t = s.trigger_states
        query = sa.select(t).where(t.c.tenant_id == tenant_id).order_by(t.c.event_name)
        return [_trigger_state(r) for r in self._maps(query)]

    # -- migration journal --

    def journal_append(self, entry: JournalEntry) -> int:
        if entry.status not in _JOURNAL_STATUSES:
            raise LedgerError(f"journal status must be pending, done or undone: {entry.status!r}")
        t = s.journal
        values = {
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
        with self._writing() as conn:
            # Conditional update: the check and the change are one statement, so two processes
            # cannot both complete the same pending row.
            updated = conn.execute(
                sa.update(t)
                .where(t.c.id == entry_id, t.c.status == "pending")
                .values(status=status)
            ).rowcount
            if updated == 1:
                return
            current = conn.execute(sa.select(t.c.status).where(t.c.id == entry_id)).scalar()
        if current is None:
            raise LedgerError(f"journal row {entry_id} does not exist")
        raise LedgerError(
            f"journal row {entry_id} is {current}; only pending rows can change (append-only)"
        )

    def journal(self, job: str | None = None, *, limit: int | None = None) -> list[JournalEntry]:
        t = s.journal
        query = sa.select(t)
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
        return [
            JournalEntry(
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
            )
            for r in rows
        ]

    # -- leader lock and lifecycle --

    def leader_lock(self, name: str) -> AbstractContextManager[bool]:
        if self.dialect == "postgresql":
            return self._pg_lock(name)
        if self.db_path is not None:
            return self._file_lock(name)
        return self._thread_lock(name)

    def lock_path(self, name: str) -> Path:
        """The lock file of ``leader_lock(name)`` for a SQLite ledger file."""
        if self.db_path is None:
            raise LedgerError("only a SQLite ledger file has lock files")
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        return self.db_path.with_name(f"{self.db_path.name}.{safe}.lock")

    @contextmanager
    def _file_lock(self, name: str) -> Iterator[bool]:
        lock = FileLock(str(self.lock_path(name)), thread_local=False)
        try:
            lock.acquire(timeout=0)
            acquired = True
        except Timeout:
            acquired = False
        try:
            yield acquired
        finally:
            if acquired:
                lock.release()

    @contextmanager
    def _thread_lock(self, name: str) -> Iterator[bool]:
        with self._local_locks_guard:
            lock = self._local_locks.setdefault(name, threading.Lock())
        acquired = lock.acquire(blocking=False)
        try:
            yield acquired
        finally:
            if acquired:
                lock.release()

    def advisory_key(self, name: str) -> int:
        """The signed 64-bit PostgreSQL advisory lock key for ``name`` in this schema."""
        digest = hashlib.blake2b(f"owlclaw:{self._pg_schema}:{name}".encode(), digest_size=8)
        return int.from_bytes(digest.digest(), "big", signed=True)

    @contextmanager
    def _pg_lock(self, name: str) -> Iterator[bool]:
        key = self.advisory_key(name)
        # A dedicated connection: a session-level advisory lock lives as long as the session.
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            acquired = bool(conn.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar())
            try:
                yield acquired
            finally:
                if acquired:
                    try:
                        conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))
                    except DBAPIError:
                        conn.invalidate()  # closing the session releases the lock anyway
        finally:
            conn.close()

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (maintenance, benchmarks); writes should go through the API."""
        return self._engine

    def close(self) -> None:
        self._engine.dispose()
        if self.dialect == "postgresql":  # its own pool; SQLite's shares the write pool
            self._read_engine.dispose()

    def __enter__(self) -> SqlLedgerStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqlLedgerStore({self.display_url!r})"


def _trigger_state(row: Mapping[Any, Any]) -> TriggerState:
    weight = row["migration_weight"]
    return TriggerState(
        event_name=row["event_name"],
        tenant_id=row["tenant_id"],
        paused=bool(row["paused"]),
        migration_weight=None if weight is None or math.isnan(weight) else float(weight),
        shadow=None if row["shadow"] is None else bool(row["shadow"]),
        last_fired_at=row["last_fired_at"],
        updated_at=row["updated_at"],
    )
