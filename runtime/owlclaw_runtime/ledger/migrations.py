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
that ``_v1`` copies from ``schema.py``, freeze that table's old definition inside ``_v1`` first.
"""

from __future__ import annotations

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
    for table in (s.management_events, s.breakers, s.trigger_states, s.journal):
        table.to_metadata(md)
    md.create_all(conn)


def _v2(conn: Connection) -> None:
    """Governance columns (``counted``, ``succeeded``, backfilled) and covering indexes."""
    ex = s.executions
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
    for index in ex.indexes:
        if index.name in (
            "ix_owlclaw_exec_tenant_triggered",
            "ix_owlclaw_exec_usage",
            "ix_owlclaw_exec_outcomes",
            "ix_owlclaw_exec_success",
        ):
            index.create(conn)


#: The worker heartbeats step. Written as the step after version 2 while version 3 (app-keyed
#: tables) is added on another branch: when both are merged, this stays 4 and version 3's
#: step goes between them; should version 3 not land, renumber this to 3 (nothing else
#: depends on the number).
HEARTBEATS_VERSION = 4


def _v4_heartbeats(conn: Connection) -> None:
    """The worker heartbeats table (``LedgerStore.record_heartbeat``): new, nothing to move."""
    md = sa.MetaData()
    s.worker_heartbeats.to_metadata(md)
    md.create_all(conn)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial tables", _v1),
    Migration(2, "governance columns and covering indexes", _v2),
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
            # The next step after the head (versions increase; a number may be reserved for
            # a step written on another branch, see HEARTBEATS_VERSION).
            step = next(m for m in MIGRATIONS if m.version > version)
            step.apply(conn)
            conn.execute(
                sa.insert(s.schema_versions).values(
                    version=step.version,
                    description=step.description,
                    applied_at=datetime.now(UTC),
                )
            )
