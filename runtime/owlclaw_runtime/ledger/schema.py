"""The ledger's tables (SQLAlchemy Core), at the current schema version.

``migrations.py`` builds these tables step by step from an empty database; the conformance suite
checks that a migrated database and ``METADATA`` agree, so the two cannot drift silently.

Every table that holds per-tenant data leads its keys and indexes with ``tenant_id`` then
``app_name`` (schema version 3), so no query can touch another tenant's or another app's rows
without saying so (many hosts, each its own app, share one PostgreSQL ledger and may all have a
trigger called ``e2scrub_all``), and the governance queries made before each run
(``daily_usage``, ``last_success_at``, ``recent_outcomes``, ``get_breaker``) are index range scans
whatever the size of the ledger.

``owlclaw_ledger`` holds one row: the ledger's id, made when the ledger is created (or upgraded to
version 3), so a toolkit can tell that a URL now points at another ledger.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

SCHEMA_TABLE = "owlclaw_schema"
EXECUTIONS = "owlclaw_executions"
EVENTS = "owlclaw_management_events"
BREAKERS = "owlclaw_breakers"
TRIGGER_STATES = "owlclaw_trigger_states"
JOURNAL = "owlclaw_migration_journal"
HEARTBEATS = "owlclaw_worker_heartbeats"
LEDGER_META = "owlclaw_ledger"

# The app of rows written before schema version 3 (which had no app column) and of stores
# opened without an app name. Like tenant "default".
DEFAULT_APP = "default"

# Statuses that are real executions (ExecutionStatus.counts_as_execution) and successes
# (ExecutionStatus.is_success). Stored as the derived ``counted`` / ``succeeded`` columns so the
# governance indexes can lead with them.
COUNTED_STATUSES = ("success", "failed", "fallback")
SUCCESS_STATUSES = ("success", "fallback")


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp that is always UTC-aware in Python.

    PostgreSQL stores ``TIMESTAMP WITH TIME ZONE``. SQLite has no zone type, so the value is
    converted to UTC and stored naive (SQLAlchemy's fixed-width ISO text, which sorts in time
    order), then made aware again when read. A naive value handed in is taken to be UTC.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = (
            datetime.fromisoformat(value)  # raw text from an aggregate on SQLite
            if isinstance(value, str)
            else value
        )
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# SQLite's rowid alias must be exactly INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
IdType = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

METADATA = sa.MetaData()


def app_column() -> sa.Column[str]:
    """The app key (version 3), right after ``tenant_id``. The server default gives the rows that
    existed before version 3 to ``DEFAULT_APP``; the store always writes its bound app."""
    return sa.Column("app_name", sa.String(255), nullable=False, server_default=DEFAULT_APP)


def tenant_column() -> sa.Column[str]:
    return sa.Column("tenant_id", sa.String(64), nullable=False)


schema_versions = sa.Table(
    SCHEMA_TABLE,
    METADATA,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.String(200), nullable=False),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)

executions = sa.Table(
    EXECUTIONS,
    METADATA,
    sa.Column("id", IdType, primary_key=True, autoincrement=True),
    tenant_column(),
    app_column(),
    sa.Column("execution_id", sa.String(64), nullable=False),
    sa.Column("event_name", sa.String(255), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("trigger_type", sa.String(32), nullable=False),
    sa.Column("scheduled_at", UTCDateTime),
    sa.Column("triggered_at", UTCDateTime),
    sa.Column("started_at", UTCDateTime),
    sa.Column("completed_at", UTCDateTime),
    sa.Column("duration_seconds", sa.Float),
    sa.Column("decision_mode", sa.String(16), nullable=False),
    sa.Column("migration_weight", sa.Float, nullable=False),
    sa.Column("backend", sa.String(32), nullable=False),
    sa.Column("agent_run_id", sa.String(255)),
    sa.Column("llm_calls", sa.Integer, nullable=False),
    sa.Column("tokens_in", sa.BigInteger, nullable=False),
    sa.Column("tokens_out", sa.BigInteger, nullable=False),
    sa.Column("cost_usd", sa.Float, nullable=False),
    sa.Column("governance_checks", JSONType, nullable=False),
    sa.Column("skip_reason", sa.Text),
    sa.Column("error_message", sa.Text),
    sa.Column("error_traceback", sa.Text),
    sa.Column("retry_count", sa.Integer, nullable=False),
    sa.Column("exit_code", sa.Integer),
    sa.Column("output_tail", sa.Text),
    sa.Column("context", JSONType, nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    # schema version 2
    sa.Column("counted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("succeeded", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint(
        "tenant_id", "app_name", "execution_id", name="uq_owlclaw_exec_tenant_app_execution"
    ),
    sa.Index("ix_owlclaw_exec_tenant_triggered", "tenant_id", "app_name", "triggered_at", "id"),
    # version 2: covering indexes for the per-run governance queries (version 3: app second)
    sa.Index(
        "ix_owlclaw_exec_usage",
        "tenant_id",
        "app_name",
        "event_name",
        "triggered_at",
        "status",
        "cost_usd",
    ),
    # ends with id, so ORDER BY triggered_at DESC, id DESC is the index order on both databases
    sa.Index(
        "ix_owlclaw_exec_outcomes",
        "tenant_id",
        "app_name",
        "event_name",
        "counted",
        "triggered_at",
        "id",
    ),
    sa.Index(
        "ix_owlclaw_exec_success",
        "tenant_id",
        "app_name",
        "event_name",
        "succeeded",
        "completed_at",
    ),
)

management_events = sa.Table(
    EVENTS,
    METADATA,
    sa.Column("id", IdType, primary_key=True, autoincrement=True),
    tenant_column(),
    app_column(),
    sa.Column("event_name", sa.String(255), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(255)),
    sa.Column("details", JSONType, nullable=False),
    sa.Index("ix_owlclaw_events_tenant_event_at", "tenant_id", "app_name", "event_name", "at"),
    sa.Index("ix_owlclaw_events_tenant_at", "tenant_id", "app_name", "at"),
)

breakers = sa.Table(
    BREAKERS,
    METADATA,
    tenant_column(),
    app_column(),
    sa.Column("event_name", sa.String(255), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("opened_at", UTCDateTime),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "app_name", "event_name", name="owlclaw_breakers_pkey"),
)

trigger_states = sa.Table(
    TRIGGER_STATES,
    METADATA,
    tenant_column(),
    app_column(),
    sa.Column("event_name", sa.String(255), nullable=False),
    sa.Column("paused", sa.Boolean, nullable=False),
    sa.Column("migration_weight", sa.Float),
    sa.Column("shadow", sa.Boolean),
    sa.Column("last_fired_at", UTCDateTime),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint(
        "tenant_id", "app_name", "event_name", name="owlclaw_trigger_states_pkey"
    ),
)

journal = sa.Table(
    JOURNAL,
    METADATA,
    sa.Column("id", IdType, primary_key=True, autoincrement=True),
    # version 3: the journal was one list per ledger, whatever app wrote it
    sa.Column("tenant_id", sa.String(64), nullable=False, server_default="default"),
    app_column(),
    sa.Column("job", sa.String(255), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("user", sa.String(255), nullable=False),
    sa.Column("from_state", JSONType, nullable=False),
    sa.Column("to_state", JSONType, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("forced", sa.Boolean, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Index("ix_owlclaw_journal_job", "tenant_id", "app_name", "job", "id"),
    sa.Index("ix_owlclaw_journal_app", "tenant_id", "app_name", "id"),
)

ledger_meta = sa.Table(
    LEDGER_META,
    METADATA,
    sa.Column("ledger_id", sa.String(64), primary_key=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# schema version 4 (``migrations.HEARTBEATS_VERSION``): one row per running worker, replaced
# every few seconds and deleted on a graceful stop (``LedgerStore.record_heartbeat``).
worker_heartbeats = sa.Table(
    HEARTBEATS,
    METADATA,
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("worker_id", sa.String(64), primary_key=True),
    sa.Column("app_name", sa.String(255), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("backend", sa.String(32), nullable=False),
    sa.Column("module_path", sa.Text),
    sa.Column("module_sha256", sa.String(64)),
    sa.Column("module_fingerprint", sa.String(64)),
    sa.Column("stale_module", sa.Boolean, nullable=False),
    sa.Column("triggers", JSONType, nullable=False),
    sa.Column("interval_seconds", sa.Float, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("last_seen", UTCDateTime, nullable=False),
    sa.Column("details", JSONType, nullable=False),
    sa.Index("ix_owlclaw_heartbeats_app", "tenant_id", "app_name", "last_seen"),
)
