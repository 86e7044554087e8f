"""Schema versions: creation, migration from an older version, refusal of a newer one."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from owlclaw_runtime.errors import ConfigurationError
from owlclaw_runtime.ledger import SCHEMA_VERSION, SqlLedgerStore, open_store
from owlclaw_runtime.ledger import schema as s
from owlclaw_runtime.ledger.migrations import (
    HEARTBEATS_VERSION,
    MIGRATIONS,
    read_version,
    upgrade,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url)


def _applied(url: str) -> list[int]:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(s.schema_versions.c.version).order_by(s.schema_versions.c.version)
                ).scalars()
            )
    finally:
        engine.dispose()


VERSIONS = [m.version for m in MIGRATIONS]


def test_versions_are_consecutive_from_one() -> None:
    assert list(range(1, len(MIGRATIONS) + 1)) == VERSIONS
    assert SCHEMA_VERSION == MIGRATIONS[-1].version == HEARTBEATS_VERSION == 4


def test_a_fresh_database_gets_every_version_once(ledger_url: str) -> None:
    open_store(ledger_url).close()
    open_store(ledger_url).close()  # reopening applies nothing again
    assert _applied(ledger_url) == VERSIONS


def test_the_migrated_database_matches_the_declared_tables(ledger_url: str) -> None:
    open_store(ledger_url).close()
    _assert_matches_declared(ledger_url)


def _assert_matches_declared(ledger_url: str) -> None:
    engine = _engine(ledger_url)
    try:
        inspector = sa.inspect(engine)
        for table in s.METADATA.sorted_tables:
            columns = {c["name"]: c["nullable"] for c in inspector.get_columns(table.name)}
            assert columns == {c.name: c.nullable for c in table.columns}, table.name
            indexes = {
                i["name"]: list(i["column_names"]) for i in inspector.get_indexes(table.name)
            }
            declared = {i.name: [c.name for c in i.columns] for i in table.indexes}
            # PostgreSQL reports a unique constraint's backing index as an index too
            uniques = {u["name"] for u in inspector.get_unique_constraints(table.name)}
            indexes = {k: v for k, v in indexes.items() if k not in uniques}
            assert indexes == declared, table.name
            primary = inspector.get_pk_constraint(table.name)["constrained_columns"]
            assert primary == [c.name for c in table.primary_key.columns], table.name
            unique_columns = sorted(
                u["column_names"] for u in inspector.get_unique_constraints(table.name)
            )
            assert unique_columns == sorted(
                [c.name for c in u.columns]
                for u in table.constraints
                if isinstance(u, sa.UniqueConstraint)
            ), table.name
    finally:
        engine.dispose()


def _v2_rows(conn: sa.Connection) -> None:
    """One row per data table as a version-2 runtime wrote them (no app column)."""
    v2_exec = sa.table(
        s.EXECUTIONS,
        *(
            sa.column(c.name, c.type)
            for c in s.executions.columns
            if c.name not in ("id", "app_name")
        ),
    )
    base = {
        "tenant_id": "default",
        "event_name": "e2scrub_all",
        "trigger_type": "cron",
        "decision_mode": "fallback",
        "migration_weight": 0.0,
        "backend": "local",
        "llm_calls": 0,
        "tokens_in": 0,
        "tokens_out": 0,
        "cost_usd": 0.0,
        "governance_checks": {},
        "retry_count": 0,
        "context": {},
        "recorded_at": T0,
        "counted": True,
        "succeeded": True,
        "status": "success",
        "execution_id": "x-1",
        "triggered_at": T0,
        "completed_at": T0 + timedelta(seconds=1),
        "output_tail": "secret output",
    }
    conn.execute(sa.insert(v2_exec).values(base))
    columns = {
        s.EVENTS: {
            "tenant_id": "default",
            "event_name": "e2scrub_all",
            "action": "pause",
            "at": T0,
            "details": {},
        },
        s.BREAKERS: {
            "tenant_id": "default",
            "event_name": "e2scrub_all",
            "state": "open",
            "opened_at": T0,
            "updated_at": T0,
        },
        s.TRIGGER_STATES: {
            "tenant_id": "default",
            "event_name": "e2scrub_all",
            "paused": False,
            "migration_weight": 0.5,
            "shadow": False,
            "updated_at": T0,
        },
        s.JOURNAL: {
            "job": "e2scrub_all",
            "action": "cutover",
            "at": T0,
            "user": "root",
            "from_state": {},
            "to_state": {},
            "forced": False,
            "status": "done",
        },
    }
    declared = {t.name: t for t in s.METADATA.sorted_tables}
    for name, row in columns.items():
        table = sa.table(name, *(sa.column(k, declared[name].c[k].type) for k in row))
        conn.execute(sa.insert(table).values(row))


def test_a_version_2_ledger_gives_its_rows_to_the_default_app_and_is_keyed_by_app(
    ledger_url: str,
) -> None:
    raw = _engine(ledger_url)
    try:
        assert upgrade(raw, url=ledger_url, target=2) == 0
        with raw.begin() as conn:
            _v2_rows(conn)
    finally:
        raw.dispose()
    store = open_store(ledger_url)
    web1 = open_store(ledger_url, app_name="web1")
    try:
        assert _applied(ledger_url) == VERSIONS
        _assert_matches_declared(ledger_url)
        assert store.ledger_id is not None and web1.ledger_id == store.ledger_id
        # every row written before version 3 is the "default" app's, untouched
        [row] = store.history("e2scrub_all")
        assert (row.execution_id, row.output_tail) == ("x-1", "secret output")
        assert store.recent_outcomes("e2scrub_all", 5) == [True]
        assert store.get_breaker("e2scrub_all").state == "open"
        assert store.get_trigger_state("e2scrub_all").migration_weight == 0.5
        assert [(e.job, e.tenant_id) for e in store.journal()] == [("e2scrub_all", "default")]
        assert len(store.events("e2scrub_all")) == 1
        # another app sees none of it and may use the same keys
        assert web1.history() == [] and web1.journal() == [] and web1.events() == []
        assert web1.get_trigger_state("e2scrub_all").migration_weight is None
        web1.record_execution(store.get_execution("x-1"))  # type: ignore[arg-type]
        web1.save_trigger_state(store.get_trigger_state("e2scrub_all"))
        assert len(store.history()) == len(web1.history()) == 1
        # and the app takes the rows that are its own
        assert web1.adopt_rows(["e2scrub_all"]) == 3  # event, breaker and journal row: the
        # execution and trigger state it already has win
        assert store.journal() == [] and [e.job for e in web1.journal()] == ["e2scrub_all"]
    finally:
        store.close()
        web1.close()


def test_an_older_schema_is_migrated_and_its_rows_backfilled(ledger_url: str) -> None:
    raw = _engine(ledger_url)
    try:
        assert upgrade(raw, url=ledger_url, target=1) == 0
        v1_exec = sa.table(
            s.EXECUTIONS,
            *(
                sa.column(c.name, c.type)
                for c in s.executions.columns
                if c.name not in ("id", "app_name", "counted", "succeeded")
            ),
        )
        base = {
            "tenant_id": "default",
            "event_name": "job",
            "trigger_type": "cron",
            "decision_mode": "fallback",
            "migration_weight": 0.0,
            "backend": "local",
            "llm_calls": 0,
            "tokens_in": 0,
            "tokens_out": 0,
            "cost_usd": 0.0,
            "governance_checks": {},
            "retry_count": 0,
            "context": {},
            "recorded_at": T0,
        }
        statuses = ["success", "failed", "skipped", "fallback", "running"]
        with raw.begin() as conn:
            assert read_version(conn) == 1
            for i, status in enumerate(statuses):
                row = {
                    **base,
                    "execution_id": f"v1-{i}",
                    "status": status,
                    "triggered_at": T0 + timedelta(minutes=i),
                    "completed_at": T0 + timedelta(minutes=i, seconds=1),
                }
                conn.execute(sa.insert(v1_exec).values(row))
            assert "counted" not in {c["name"] for c in sa.inspect(conn).get_columns(s.EXECUTIONS)}
    finally:
        raw.dispose()

    store = open_store(ledger_url)
    try:
        assert _applied(ledger_url) == VERSIONS
        assert store.recent_outcomes("job", 10) == [True, False, True]
        assert store.last_success_at("job") == T0 + timedelta(minutes=3, seconds=1)
        stats = store.stats("job")
        assert (stats.overall.executions, stats.overall.successes, stats.skipped) == (3, 2, 1)
        assert store.get_execution("v1-2").status.value == "skipped"  # type: ignore[union-attr]
    finally:
        store.close()


def test_a_newer_schema_is_refused_naming_the_url_and_versions(ledger_url: str) -> None:
    open_store(ledger_url).close()
    engine = _engine(ledger_url)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(s.schema_versions).values(version=7, description="future", applied_at=T0)
        )
    engine.dispose()
    with pytest.raises(ConfigurationError) as info:
        open_store(ledger_url)
    message = str(info.value)
    shown = sa.engine.make_url(ledger_url).render_as_string(hide_password=True)
    assert shown in message
    assert f"schema version 7, newer than version {SCHEMA_VERSION}" in message
    assert info.value.field == "OWLCLAW_LEDGER_URL"
    assert ":owlmigrate@" not in message  # the password is never shown


def test_migrate_false_refuses_an_outdated_schema(ledger_url: str) -> None:
    raw = _engine(ledger_url)
    upgrade(raw, url=ledger_url, target=1)
    raw.dispose()
    with pytest.raises(ConfigurationError, match="has schema version 1, this owlclaw_runtime"):
        SqlLedgerStore(ledger_url, migrate=False)
    SqlLedgerStore(ledger_url).close()
    SqlLedgerStore(ledger_url, migrate=False).close()


def test_concurrent_first_opens_apply_each_migration_once(ledger_url: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def opener() -> None:
        try:
            barrier.wait()
            open_store(ledger_url).close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _applied(ledger_url) == VERSIONS


def test_a_version_2_ledger_gains_the_heartbeats_table_and_keeps_its_rows(ledger_url: str) -> None:
    raw = _engine(ledger_url)
    try:
        upgrade(raw, url=ledger_url, target=2)
        with raw.connect() as conn:
            assert read_version(conn) == 2
            assert not sa.inspect(conn).has_table(s.HEARTBEATS)
    finally:
        raw.dispose()
    store = open_store(ledger_url)
    try:
        assert _applied(ledger_url) == VERSIONS
        assert store.heartbeats() == []
    finally:
        store.close()
