"""Versioned ledger schema: ordered migrations, each in its own transaction, moving the head.

The head lives in the ``owlclaw_schema`` table (one row per applied version, Alembic-like, so the
history is visible). At start the store reads the head: an empty database is built from version 1
up, an older one is upgraded in order, and a database written by a NEWER runtime is refused with
a ``ConfigurationError`` naming the URL and both versions (an old runtime must never write rows a
newer schema does not expect).

Concurrent starts are safe: each step takes a write lock first (SQLite ``BEGIN IMMEDIATE``,
PostgreSQL ``pg_advisory_xact_lock``) and re-reads the head under it, so two processes opening a
fresh ledger together apply every step exactly once.

Rule for future versions: a migration describes its own DDL. When a later version changes a table
that a migration takes from ``schema.py`` (``_v3`` takes the five data tables at their version-3
shape), freeze that table's old definition inside the migration first, as ``_v1`` and ``_v2`` do.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.schema import CreateColumn

from owlclaw_runtime.errors import ConfigurationError
from owlclaw_runtime.ledger import schema as s

# A fixed key for pg_advisory_xact_lock while migrating ("owlclaw-ledger-migrate").
_PG_MIGRATION_LOCK = 0x6F776C6D69677261


@dataclass(frozen=True)
class Migration:
    """One schema step: ``apply`` runs inside the step's transaction."""

    version: int
    description: str
    apply: Callable[[Connection], None]


def _v1(conn: Connection) -> None:
    """Initial tables: executions, management events, breakers, trigger states, journal."""
    md = sa.MetaData()
    sa.Table(
        s.SCHEMA_TABLE,
        md,
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("applied_at", s.UTCDateTime, nullable=False),
    )
    sa.Table(
        s.EXECUTIONS,
        md,
        sa.Column("id", s.IdType, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("execution_id", sa.String(64), nullable=False),
        sa.Column("event_name", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("trigger_type", sa.String(32), nullable=False),
        sa.Column("scheduled_at", s.UTCDateTime),
        sa.Column("triggered_at", s.UTCDateTime),
        sa.Column("started_at", s.UTCDateTime),
        sa.Column("completed_at", s.UTCDateTime),
        sa.Column("duration_seconds", sa.Float),
        sa.Column("decision_mode", sa.String(16), nullable=False),
        sa.Column("migration_weight", sa.Float, nullable=False),
        sa.Column("backend", sa.String(32), nullable=False),
        sa.Column("agent_run_id", sa.String(255)),
        sa.Column("llm_calls", sa.Integer, nullable=False),
        sa.Column("tokens_in", sa.BigInteger, nullable=False),
        sa.Column("tokens_out", sa.BigInteger, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("governance_checks", s.JSONType, nullable=False),
        sa.Column("skip_reason", sa.Text),
        sa.Column("error_message", sa.Text),
        sa.Column("error_traceback", sa.Text),
        sa.Column("retry_count", sa.Integer, nullable=False),
        sa.Column("exit_code", sa.Integer),
        sa.Column("output_tail", sa.Text),
        sa.Column("context", s.JSONType, nullable=False),
        sa.Column("recorded_at", s.UTCDateTime, nullable=False),
        sa.UniqueConstraint("tenant_id", "execution_id", name="uq_owlclaw_exec_tenant_execution"),
        sa.Index("ix_owlclaw_exec_tenant_triggered", "tenant_id", "triggered_at"),
        sa.Index(
            "ix_owlclaw_exec_tenant_event_triggered", "tenant_id", "event_name", "triggered_at"
        ),
    )
    # The other four tables as they were until version 3 (frozen here: schema.py has moved on).
    sa.Table(
        s.EVENTS,
        md,
        sa.Column("id", s.IdType, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("event_name", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("at", s.UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(255)),
        sa.Column("details", s.JSONType, nullable=False),
        sa.Index("ix_owlclaw_events_tenant_event_at", "tenant_id", "event_name", "at"),
        sa.Index("ix_owlclaw_events_tenant_at", "tenant_id", "at"),
    )
    sa.Table(
        s.BREAKERS,
        md,
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("event_name", sa.String(255), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("opened_at", s.UTCDateTime),
        sa.Column("updated_at", s.UTCDateTime, nullable=False),
    )
    sa.Table(
        s.TRIGGER_STATES,
        md,
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("event_name", sa.String(255), primary_key=True),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("migration_weight", sa.Float),
        sa.Column("shadow", sa.Boolean),
        sa.Column("last_fired_at", s.UTCDateTime),
        sa.Column("updated_at", s.UTCDateTime, nullable=False),
    )
    sa.Table(
        s.JOURNAL,
        md,
        sa.Column("id", s.IdType, primary_key=True, autoincrement=True),
        sa.Column("job", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("at", s.UTCDateTime, nullable=False),
        sa.Column("user", sa.String(255), nullable=False),
        sa.Column("from_state", s.JSONType, nullable=False),
        sa.Column("to_state", s.JSONType, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("forced", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Index("ix_owlclaw_journal_job", "job", "id"),
    )
    md.create_all(conn)


def _v2(conn: Connection) -> None:
    """Governance columns (``counted``, ``succeeded``, backfilled) and covering indexes."""
    # The executions table's version-2 columns and indexes (frozen: version 3 re-keys them).
    ex = sa.Table(
        s.EXECUTIONS,
        sa.MetaData(),
        sa.Column("id", s.IdType, primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("event_name", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("triggered_at", s.UTCDateTime),
        sa.Column("completed_at", s.UTCDateTime),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("counted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("succeeded", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    for name in ("counted", "succeeded"):
        ddl = CreateColumn(ex.c[name]).compile(dialect=conn.dialect)
        conn.execute(sa.text(f"ALTER TABLE {s.EXECUTIONS} ADD COLUMN {ddl}"))
    conn.execute(
        sa.update(ex).values(
            counted=ex.c.status.in_(s.COUNTED_STATUSES),
            succeeded=ex.c.status.in_(s.SUCCESS_STATUSES),
        )
    )
    # The usage index starts with the same three columns, so the old one is redundant; the
    # tenant-wide history index gains id, the tie-breaker of ORDER BY triggered_at DESC, id DESC.
    conn.execute(sa.text("DROP INDEX ix_owlclaw_exec_tenant_event_triggered"))
    conn.execute(sa.text("DROP INDEX ix_owlclaw_exec_tenant_triggered"))
    c = ex.c
    for index in (
        sa.Index("ix_owlclaw_exec_tenant_triggered", c.tenant_id, c.triggered_at, c.id),
        sa.Index(
            "ix_owlclaw_exec_usage",
            c.tenant_id,
            c.event_name,
            c.triggered_at,
            c.status,
            c.cost_usd,
        ),
        sa.Index(
            "ix_owlclaw_exec_outcomes", c.tenant_id, c.event_name, c.counted, c.triggered_at, c.id
        ),
        sa.Index("ix_owlclaw_exec_success", c.tenant_id, c.event_name, c.succeeded, c.completed_at),
    ):
        index.create(conn)


# The tables version 3 re-keys by app, at their version-3 shape.
_V3_TABLES = (s.executions, s.management_events, s.breakers, s.trigger_states, s.journal)


def _v3(conn: Connection) -> None:
    """One app per host: ``app_name`` after ``tenant_id`` in every data table's keys and indexes
    (the journal gains ``tenant_id`` too), and the ledger's id.

    Rows written before version 3 have no app: they become ``DEFAULT_APP`` (``"default"``, the
    app of a store opened without a name), tenant ``default`` for the journal. The toolkit hands
    an app its rows back (``LedgerStore.adopt_rows``) the first time it meets the app's manifest.
    """
    md = sa.MetaData()
    meta = s.ledger_meta.to_metadata(md)
    meta.create(conn)
    conn.execute(sa.insert(meta).values(ledger_id=uuid.uuid4().hex, created_at=datetime.now(UTC)))
    for table in _V3_TABLES:
        inspector = sa.inspect(conn)
        uniques = {str(u["name"]) for u in inspector.get_unique_constraints(table.name)}
        for index in inspector.get_indexes(table.name):
            if index["name"] not in uniques:
                conn.execute(sa.text(f"DROP INDEX {index['name']}"))
        if conn.dialect.name == "sqlite":
            _rebuild_sqlite(conn, table, [c["name"] for c in inspector.get_columns(table.name)])
        else:
            _alter_postgres(conn, table, inspector, uniques)


def _rebuild_sqlite(conn: Connection, table: sa.Table, old_columns: list[str]) -> None:
    """SQLite cannot change a primary key or a unique constraint in place: build the new table
    beside the old one, copy every row (the new key columns take their server defaults), swap."""
    staging = table.to_metadata(sa.MetaData(), name=f"{table.name}__v3")
    staging.create(conn)  # with the version-3 indexes: the old ones are dropped already
    columns = ", ".join(f'"{name}"' for name in old_columns)
    conn.execute(
        sa.text(f"INSERT INTO {staging.name} ({columns}) SELECT {columns} FROM {table.name}")
    )
    conn.execute(sa.text(f"DROP TABLE {table.name}"))
    conn.execute(sa.text(f"ALTER TABLE {staging.name} RENAME TO {table.name}"))


def _alter_postgres(
    conn: Connection, table: sa.Table, inspector: sa.Inspector, uniques: set[str]
) -> None:
    """In place: a column with a constant default is added without rewriting the table."""
    present = {c["name"] for c in inspector.get_columns(table.name)}
    for column in table.columns:
        if column.name not in present:
            ddl = CreateColumn(column).compile(dialect=conn.dialect)
            conn.execute(sa.text(f"ALTER TABLE {table.name} ADD COLUMN {ddl}"))
    pk = inspector.get_pk_constraint(table.name)
    declared_pk = [c.name for c in table.primary_key.columns]
    if list(pk["constrained_columns"]) != declared_pk:
        conn.execute(sa.text(f'ALTER TABLE {table.name} DROP CONSTRAINT "{pk["name"]}"'))
        conn.execute(sa.schema.AddConstraint(table.primary_key))
    for name in uniques:
        conn.execute(sa.text(f'ALTER TABLE {table.name} DROP CONSTRAINT "{name}"'))
    for constraint in table.constraints:
        if isinstance(constraint, sa.UniqueConstraint):
            conn.execute(sa.schema.AddConstraint(constraint))
    for index in table.indexes:
        index.create(conn)


#: The worker heartbeats step, after the app-keyed tables of version 3.
HEARTBEATS_VERSION = 4


def _v4_heartbeats(conn: Connection) -> None:
    """The worker heartbeats table (``LedgerStore.record_heartbeat``): new, nothing to move."""
    md = sa.MetaData()
    s.worker_heartbeats.to_metadata(md)
    md.create_all(conn)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial tables", _v1),
    Migration(2, "governance columns and covering indexes", _v2),
    Migration(3, "app key and ledger id", _v3),
    Migration(HEARTBEATS_VERSION, "worker heartbeats", _v4_heartbeats),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


def read_version(conn: Connection) -> int:
    """The applied head, 0 for an empty database."""
    if not sa.inspect(conn).has_table(s.SCHEMA_TABLE):
        return 0
    head = conn.execute(sa.select(sa.func.max(s.schema_versions.c.version))).scalar()
    return int(head or 0)


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))


def upgrade(engine: Engine, *, url: str, target: int = SCHEMA_VERSION) -> int:
    """Bring the ledger at ``url`` to ``target``; returns the version found before upgrading.

    Raises ``ConfigurationError`` when the database is newer than this runtime understands.
    ``engine`` must begin write transactions with a write lock (the store's write engine).
    """
    found: int | None = None
    while True:
        with engine.begin() as conn:
            _lock(conn)
            version = read_version(conn)
            if found is None:
                found = version
            if version > SCHEMA_VERSION:
                raise ConfigurationError(
                    f"the ledger at {url} has schema version {version}, newer than version "
                    f"{SCHEMA_VERSION} that this owlclaw_runtime understands; upgrade "
                    "owlclaw_runtime (or point OWLCLAW_LEDGER_URL at another ledger)",
                    field="OWLCLAW_LEDGER_URL",
                )
            if version >= target:
                return found
            # the next step after the head (versions are 1..N in order)
            step = next(m for m in MIGRATIONS if m.version > version)
            step.apply(conn)
            conn.execute(
                sa.insert(s.schema_versions).values(
                    version=step.version,
                    description=step.description,
                    applied_at=datetime.now(UTC),
                )
            )
