"""The LedgerStore contract, run against SQLite and PostgreSQL (``ledger_store`` fixture)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from owlclaw_runtime.ledger import (
    SCHEMA_VERSION,
    BreakerState,
    JournalEntry,
    LedgerError,
    LedgerStore,
    ManagementEvent,
    SqlLedgerStore,
    TriggerState,
    WorkerHeartbeat,
)
from owlclaw_runtime.triggers.models import CronExecution, ExecutionStatus

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
S = ExecutionStatus


def run(
    event: str = "job",
    status: ExecutionStatus = S.SUCCESS,
    *,
    at: datetime = T0,
    mode: str = "fallback",
    tenant: str = "default",
    duration: float | None = 1.0,
    cost: float = 0.0,
    weight: float = 0.0,
    **extra: object,
) -> CronExecution:
    return CronExecution(
        event_name=event,
        status=status,
        tenant_id=tenant,
        triggered_at=at,
        started_at=at,
        completed_at=None if duration is None else at + timedelta(seconds=duration),
        duration_seconds=duration,
        decision_mode=mode,
        cost_usd=cost,
        migration_weight=weight,
        **extra,  # type: ignore[arg-type]
    )


def test_a_fresh_store_is_at_the_current_schema_version(ledger_store: LedgerStore) -> None:
    assert ledger_store.schema_version == SCHEMA_VERSION == 4


def test_every_field_round_trips(ledger_store: LedgerStore) -> None:
    paris = timezone(timedelta(hours=1))
    e = CronExecution(
        event_name="backup_db",
        status=S.FALLBACK,
        execution_id="e-1",
        tenant_id="acme",
        trigger_type="manual",
        scheduled_at=datetime(2026, 3, 1, 13, 30, tzinfo=paris),  # stored and returned as UTC
        triggered_at=T0,
        started_at=T0 + timedelta(seconds=1),
        completed_at=T0 + timedelta(seconds=3, microseconds=250),
        duration_seconds=2.000250,
        decision_mode="fallback",
        migration_weight=0.1,
        backend="hatchet",
        agent_run_id="run-9",
        llm_calls=4,
        tokens_in=1200,
        tokens_out=300,
        cost_usd=0.0125,
        governance_checks={"cooldown": "ok", "daily_runs": [3, 24], "nested": {"a": None}},
        skip_reason=None,
        error_message="agent said no",
        error_traceback="Traceback ...\nValueError",
        retry_count=2,
        exit_code=0,
        output_tail="done\n",
        context={"focus": "nightly", "manual": True, "n": 3},
    )
    ledger_store.record_execution(e)
    got = ledger_store.get_execution("e-1", tenant_id="acme")
    assert got == CronExecution(
        **{**e.__dict__, "scheduled_at": datetime(2026, 3, 1, 12, 30, tzinfo=UTC)}
    )
    assert got is not None and got.scheduled_at is not None
    assert got.scheduled_at.utcoffset() == timedelta(0)
    assert isinstance(got.status, ExecutionStatus)


def test_naive_datetimes_are_taken_as_utc(ledger_store: LedgerStore) -> None:
    ledger_store.record_execution(run(execution_id="n", at=datetime(2026, 1, 1, 5, 0)))
    got = ledger_store.get_execution("n")
    assert got is not None
    assert got.triggered_at == datetime(2026, 1, 1, 5, 0, tzinfo=UTC)
    assert got.triggered_at.tzinfo is not None


def test_record_execution_is_an_upsert_by_execution_id(ledger_store: LedgerStore) -> None:
    e = run(status=S.RUNNING, execution_id="x", duration=None)
    ledger_store.record_execution(e)
    assert ledger_store.get_execution("x").status == S.RUNNING  # type: ignore[union-attr]
    e.status = S.FAILED
    e.error_message = "boom"
    e.retry_count = 1
    ledger_store.record_execution(e)
    rows = ledger_store.history("job", limit=100)
    assert [(r.execution_id, r.status, r.error_message, r.retry_count) for r in rows] == [
        ("x", S.FAILED, "boom", 1)
    ]


def test_status_may_be_given_as_a_plain_string(ledger_store: LedgerStore) -> None:
    ledger_store.record_execution(run(status="failed", execution_id="s"))  # type: ignore[arg-type]
    assert ledger_store.get_execution("s").status is S.FAILED  # type: ignore[union-attr]


def test_get_execution_of_an_unknown_id_is_none(ledger_store: LedgerStore) -> None:
    assert ledger_store.get_execution("nope") is None


def test_output_tail_is_redacted_and_bounded(ledger_store: LedgerStore) -> None:
    noise = "x" * 100_000
    tail = noise + "\nexport PGPASSWORD=hunter2\nmysql -psecret123 db\nok\n"
    ledger_store.record_execution(
        run(execution_id="o", output_tail=tail, error_message="token=abcd1234 failed")
    )
    got = ledger_store.get_execution("o")
    assert got is not None and got.output_tail is not None
    assert len(got.output_tail) == 65536
    assert got.output_tail.endswith("export PGPASSWORD=***\nmysql -p*** db\nok\n")
    assert "hunter2" not in got.output_tail and "secret123" not in got.output_tail
    assert got.error_message == "token=*** failed"


def test_context_values_that_are_not_json_do_not_drop_the_record(
    ledger_store: LedgerStore,
) -> None:
    ledger_store.record_execution(run(execution_id="j", context={"at": T0, "ids": {3}}))
    got = ledger_store.get_execution("j")
    assert got is not None
    assert got.context == {"at": "2026-03-01T12:00:00+00:00", "ids": [3]}


def test_history_is_newest_first_and_clamps_the_limit(ledger_store: LedgerStore) -> None:
    for i in range(120):
        ledger_store.record_execution(run(execution_id=f"h{i:03d}", at=T0 + timedelta(minutes=i)))
    ledger_store.record_execution(run("other", execution_id="other-1", at=T0 + timedelta(days=1)))

    three = ledger_store.history("job", limit=3)
    assert [r.execution_id for r in three] == ["h119", "h118", "h117"]
    assert len(ledger_store.history("job", limit=500)) == 100
    assert [r.execution_id for r in ledger_store.history("job", limit=0)] == ["h119"]
    assert [r.execution_id for r in ledger_store.history("job", limit=-5)] == ["h119"]
    # no event name: every trigger of the tenant
    assert [r.execution_id for r in ledger_store.history(limit=2)] == ["other-1", "h119"]


def test_history_breaks_ties_by_insertion_and_filters_statuses(ledger_store: LedgerStore) -> None:
    ledger_store.record_execution(run(execution_id="a", status=S.SUCCESS))
    ledger_store.record_execution(run(execution_id="b", status=S.SKIPPED))
    ledger_store.record_execution(run(execution_id="c", status=S.FAILED))
    assert [r.execution_id for r in ledger_store.history("job")] == ["c", "b", "a"]
    only = ledger_store.history("job", statuses=["failed", "skipped"])
    assert [r.execution_id for r in only] == ["c", "b"]
    assert ledger_store.history("job", statuses=[]) == []


def test_rows_without_triggered_at_come_last_in_history(ledger_store: LedgerStore) -> None:
    e = run(execution_id="no-time")
    e.triggered_at = None
    ledger_store.record_execution(e)
    ledger_store.record_execution(run(execution_id="timed"))
    assert [r.execution_id for r in ledger_store.history("job")] == ["timed", "no-time"]


def test_stats_split_by_decision_mode_and_never_count_skipped(ledger_store: LedgerStore) -> None:
    rows = [
        run(status=S.SUCCESS, mode="agent", duration=2.0, cost=0.25),
        run(status=S.FAILED, mode="agent", duration=4.0, cost=0.5),
        run(status=S.FALLBACK, mode="fallback", duration=10.0),
        run(status=S.SUCCESS, mode="fallback", duration=None),
        run(status=S.FAILED, mode="fallback", duration=20.0),
        run(status=S.SKIPPED, mode="fallback", duration=None),
        run(status=S.SKIPPED, mode="agent", duration=None),
        run(status=S.RUNNING, mode="agent", duration=None),
        run(status=S.PENDING, mode="fallback", duration=None),
        run("other", status=S.FAILED, mode="agent"),
    ]
    for r in rows:
        ledger_store.record_execution(r)
    ledger_store.record_event(ManagementEvent("job", "pause", T0))
    st = ledger_store.stats("job")
    assert (st.overall.executions, st.overall.successes, st.overall.failures) == (5, 3, 2)
    assert st.overall.success_rate == pytest.approx(0.6)
    assert st.overall.average_duration_seconds == pytest.approx((2 + 4 + 10 + 20) / 4)
    assert st.overall.total_cost_usd == pytest.approx(0.75)
    assert (st.agent.executions, st.agent.successes, st.agent.failures) == (2, 1, 1)
    assert st.agent.average_duration_seconds == pytest.approx(3.0)
    assert (st.fallback.executions, st.fallback.successes, st.fallback.failures) == (3, 2, 1)
    assert st.fallback.average_duration_seconds == pytest.approx(15.0)
    assert st.skipped == 2


def test_stats_filters_by_since_and_migration_weight(ledger_store: LedgerStore) -> None:
    ledger_store.record_execution(run(status=S.FAILED, weight=0.0, at=T0))
    ledger_store.record_execution(run(status=S.SUCCESS, weight=0.1, at=T0 + timedelta(hours=1)))
    ledger_store.record_execution(run(status=S.SUCCESS, weight=0.5, at=T0 + timedelta(hours=2)))
    ledger_store.record_execution(run(status=S.FAILED, weight=0.5, at=T0 + timedelta(hours=3)))
    since = ledger_store.stats("job", since=T0 + timedelta(hours=1))
    assert (since.overall.executions, since.overall.successes) == (3, 2)
    half = ledger_store.stats("job", migration_weight=0.5)
    assert (half.overall.executions, half.overall.failures) == (2, 1)
    assert ledger_store.stats("job", migration_weight=0.1 + 0.2 - 0.2).overall.executions == 1
    both = ledger_store.stats("job", since=T0 + timedelta(hours=3), migration_weight=0.5)
    assert (both.overall.executions, both.overall.failures) == (1, 1)


def test_stats_of_an_unknown_trigger_are_empty(ledger_store: LedgerStore) -> None:
    st = ledger_store.stats("ghost")
    assert st.overall.executions == 0
    assert st.overall.success_rate is None
    assert st.overall.average_duration_seconds is None
    assert st.skipped == 0


def test_daily_usage_is_half_open_and_skips_skipped(ledger_store: LedgerStore) -> None:
    day = datetime(2026, 3, 1, tzinfo=UTC)
    ledger_store.record_execution(run(status=S.SUCCESS, at=day, cost=1.0))  # at start: in
    ledger_store.record_execution(run(status=S.FAILED, at=day + timedelta(hours=5), cost=0.5))
    ledger_store.record_execution(run(status=S.RUNNING, at=day + timedelta(hours=6), cost=0.25))
    ledger_store.record_execution(run(status=S.SKIPPED, at=day + timedelta(hours=7), cost=9.0))
    ledger_store.record_execution(run(status=S.SUCCESS, at=day + timedelta(days=1), cost=4.0))
    ledger_store.record_execution(run(status=S.SUCCESS, at=day - timedelta(microseconds=1)))
    ledger_store.record_execution(run("other", at=day + timedelta(hours=1), cost=2.0))
    ledger_store.record_event(ManagementEvent("job", "manual_trigger", day + timedelta(hours=2)))
    count, cost = ledger_store.daily_usage("job", start=day, end=day + timedelta(days=1))
    assert count == 3
    assert cost == pytest.approx(1.75)
    assert ledger_store.daily_usage("job", start=day, end=day) == (0, 0.0)


def test_last_success_at_takes_the_newest_success_or_fallback(ledger_store: LedgerStore) -> None:
    assert ledger_store.last_success_at("job") is None
    ledger_store.record_execution(run(status=S.SUCCESS, at=T0, duration=5.0))
    ledger_store.record_execution(run(status=S.FALLBACK, at=T0 + timedelta(minutes=1)))
    ledger_store.record_execution(run(status=S.FAILED, at=T0 + timedelta(minutes=2)))
    ledger_store.record_execution(run(status=S.SKIPPED, at=T0 + timedelta(minutes=3)))
    ledger_store.record_execution(run(status=S.RUNNING, at=T0 + timedelta(minutes=4)))
    ledger_store.record_event(ManagementEvent("job", "resume", T0 + timedelta(minutes=5)))
    assert ledger_store.last_success_at("job") == T0 + timedelta(minutes=1, seconds=1)


def test_recent_outcomes_are_newest_first_and_ignore_skipped(ledger_store: LedgerStore) -> None:
    statuses = [S.SUCCESS, S.FAILED, S.SKIPPED, S.FALLBACK, S.RUNNING, S.FAILED, S.SKIPPED]
    for i, status in enumerate(statuses):
        ledger_store.record_execution(run(status=status, at=T0 + timedelta(minutes=i)))
    ledger_store.record_event(ManagementEvent("job", "pause", T0 + timedelta(hours=1)))
    assert ledger_store.recent_outcomes("job", 10) == [False, True, False, True]
    assert ledger_store.recent_outcomes("job", 2) == [False, True]
    assert ledger_store.recent_outcomes("job", 0) == []
    assert ledger_store.recent_outcomes("other", 5) == []


def test_recent_outcomes_break_ties_by_insertion(ledger_store: LedgerStore) -> None:
    for status in (S.FAILED, S.SUCCESS, S.SUCCESS):
        ledger_store.record_execution(run(status=status, at=T0))
    assert ledger_store.recent_outcomes("job", 3) == [True, True, False]


def test_management_events_are_kept_newest_first(ledger_store: LedgerStore) -> None:
    ids = [
        ledger_store.record_event(
            ManagementEvent("job", action, T0 + timedelta(minutes=i), actor="ops", details={"i": i})
        )
        for i, action in enumerate(["pause", "resume", "step", "cutover"])
    ]
    ledger_store.record_event(ManagementEvent("other", "rollback", T0 + timedelta(hours=1)))
    assert len(set(ids)) == 4
    got = ledger_store.events("job")
    assert [(e.action, e.details, e.actor) for e in got] == [
        ("cutover", {"i": 3}, "ops"),
        ("step", {"i": 2}, "ops"),
        ("resume", {"i": 1}, "ops"),
        ("pause", {"i": 0}, "ops"),
    ]
    assert [e.id for e in got] == ids[::-1]
    assert got[0].at == T0 + timedelta(minutes=3)
    assert [e.action for e in ledger_store.events(limit=2)] == ["rollback", "cutover"]
    # events never appear as executions
    assert ledger_store.history() == []


def test_breaker_state_defaults_closed_and_persists(ledger_store: LedgerStore) -> None:
    assert ledger_store.get_breaker("job") == BreakerState("job")
    ledger_store.save_breaker(BreakerState("job", "open", T0))
    assert ledger_store.get_breaker("job") == BreakerState("job", "open", T0)
    ledger_store.save_breaker(BreakerState("job", "half_open", T0))
    ledger_store.save_breaker(BreakerState("job", "closed", None))
    assert ledger_store.get_breaker("job") == BreakerState("job", "closed", None)
    with pytest.raises(LedgerError, match="closed, open or half_open"):
        ledger_store.save_breaker(BreakerState("job", "ajar"))


def test_trigger_state_defaults_and_upserts(ledger_store: LedgerStore) -> None:
    assert ledger_store.get_trigger_state("job") == TriggerState("job")
    ledger_store.save_trigger_state(TriggerState("job", paused=True, migration_weight=0.1))
    first = ledger_store.get_trigger_state("job")
    assert (first.paused, first.migration_weight, first.shadow) == (True, 0.1, None)
    assert first.updated_at is not None and first.updated_at.tzinfo is not None
    ledger_store.save_trigger_state(
        TriggerState("job", paused=False, shadow=True, last_fired_at=T0, updated_at=T0)
    )
    assert ledger_store.get_trigger_state("job") == TriggerState(
        "job", paused=False, migration_weight=None, shadow=True, last_fired_at=T0, updated_at=T0
    )
    ledger_store.save_trigger_state(TriggerState("alpha", shadow=False, updated_at=T0))
    assert [t.event_name for t in ledger_store.all_trigger_states()] == ["alpha", "job"]
    assert ledger_store.get_trigger_state("alpha").shadow is False


def test_journal_is_append_only_with_pending_transitions(ledger_store: LedgerStore) -> None:
    done = ledger_store.journal_append(
        JournalEntry(
            "job",
            "generate",
            T0,
            "root",
            to_state={"weight": 0.0},
            reason="initial",
        )
    )
    pending = ledger_store.journal_append(
        JournalEntry(
            "job",
            "step",
            T0 + timedelta(minutes=1),
            "alice",
            from_state={"weight": 0.0},
            to_state={"weight": 0.1},
            forced=True,
            status="pending",
        )
    )
    ledger_store.journal_append(JournalEntry("other", "cutover", T0, "root"))
    ledger_store.journal_update_status(pending, "done")
    rows = ledger_store.journal("job")
    assert [(r.id, r.action, r.status, r.forced) for r in rows] == [
        (done, "generate", "done", False),
        (pending, "step", "done", True),
    ]
    assert rows[1].from_state == {"weight": 0.0} and rows[1].to_state == {"weight": 0.1}
    assert rows[0].reason == "initial" and rows[1].user == "alice"
    with pytest.raises(LedgerError, match="is done; only pending rows can change"):
        ledger_store.journal_update_status(pending, "undone")
    with pytest.raises(LedgerError, match="only become done or undone"):
        ledger_store.journal_update_status(pending, "pending")
    with pytest.raises(LedgerError, match="does not exist"):
        ledger_store.journal_update_status(999_999, "done")
    with pytest.raises(LedgerError, match="pending, done or undone"):
        ledger_store.journal_append(JournalEntry("job", "x", T0, "root", status="maybe"))
    third = ledger_store.journal_append(
        JournalEntry("job", "rollback", T0, "bob", status="pending")
    )
    ledger_store.journal_update_status(third, "undone")
    assert [r.status for r in ledger_store.journal("job")] == ["done", "done", "undone"]


def test_journal_limit_keeps_the_newest_rows_oldest_first(ledger_store: LedgerStore) -> None:
    ids = [ledger_store.journal_append(JournalEntry("job", f"a{i}", T0, "u")) for i in range(5)]
    assert [r.id for r in ledger_store.journal("job", limit=2)] == ids[3:]
    assert [r.id for r in ledger_store.journal()] == ids
    assert ledger_store.journal(limit=0) == []


def test_no_query_returns_another_tenants_rows(ledger_store: LedgerStore) -> None:
    for tenant, status in (("a", S.SUCCESS), ("b", S.FAILED)):
        ledger_store.record_execution(
            run(status=status, tenant=tenant, execution_id="same-id", cost=1.0)
        )
        ledger_store.record_event(ManagementEvent("job", "pause", T0, tenant_id=tenant))
        ledger_store.save_breaker(BreakerState("job", "open", T0, tenant_id=tenant))
        ledger_store.save_trigger_state(TriggerState("job", tenant_id=tenant, paused=True))
    # the same execution id in two tenants is two rows
    assert ledger_store.get_execution("same-id", tenant_id="a").status == S.SUCCESS  # type: ignore[union-attr]
    assert ledger_store.get_execution("same-id", tenant_id="b").status == S.FAILED  # type: ignore[union-attr]
    assert ledger_store.get_execution("same-id") is None
    assert [r.tenant_id for r in ledger_store.history(tenant_id="a")] == ["a"]
    assert ledger_store.history() == []
    assert ledger_store.stats("job", tenant_id="a").overall.successes == 1
    assert ledger_store.stats("job", tenant_id="a").overall.failures == 0
    assert ledger_store.stats("job").overall.executions == 0
    assert ledger_store.daily_usage("job", start=T0, end=T0 + timedelta(days=1), tenant_id="b") == (
        1,
        1.0,
    )
    assert ledger_store.daily_usage("job", start=T0, end=T0 + timedelta(days=1)) == (0, 0.0)
    assert ledger_store.last_success_at("job", tenant_id="b") is None
    assert ledger_store.last_success_at("job", tenant_id="a") is not None
    assert ledger_store.recent_outcomes("job", 5, tenant_id="b") == [False]
    assert [e.tenant_id for e in ledger_store.events(tenant_id="b")] == ["b"]
    assert ledger_store.events() == []
    assert ledger_store.get_breaker("job").state == "closed"
    assert ledger_store.get_trigger_state("job").paused is False
    assert [t.tenant_id for t in ledger_store.all_trigger_states(tenant_id="a")] == ["a"]
    assert ledger_store.all_trigger_states() == []
    assert [e.tenant_id for e in ledger_store.iter_all_executions(tenant_id="b")] == ["b"]
    assert list(ledger_store.iter_all_executions()) == []


def _for_app(store: LedgerStore, name: str) -> LedgerStore:
    assert isinstance(store, SqlLedgerStore)
    return store.for_app(name)


def test_no_query_returns_another_apps_rows(ledger_store: LedgerStore) -> None:
    """Two hosts' apps on one ledger, with the same event name, execution id and tenant."""
    web1, web2 = _for_app(ledger_store, "web1"), _for_app(ledger_store, "web2")
    for store, status in ((web1, S.SUCCESS), (web2, S.FAILED)):
        store.record_executions([run("e2scrub_all", status, execution_id="same-id", cost=1.0)])
        store.record_event(ManagementEvent("e2scrub_all", "pause", T0))
        store.journal_append(JournalEntry("e2scrub_all", "cutover", T0, "root"))
    web1.save_breaker(BreakerState("e2scrub_all", "open", T0))
    web1.save_trigger_state(
        TriggerState("e2scrub_all", paused=True, migration_weight=0.5, shadow=False)
    )
    assert web1.advance_last_fired("e2scrub_all", T0) is True
    assert web2.advance_last_fired("e2scrub_all", T0) is True  # its own watermark
    assert web2.get_execution("same-id").status == S.FAILED  # type: ignore[union-attr]
    assert web1.get_execution("same-id").status == S.SUCCESS  # type: ignore[union-attr]
    assert ledger_store.get_execution("same-id") is None  # the "default" app has none
    assert [e.status for e in web2.history("e2scrub_all")] == [S.FAILED]
    assert web2.stats("e2scrub_all").overall.successes == 0
    assert web2.daily_usage("e2scrub_all", start=T0, end=T0 + timedelta(days=1)) == (1, 1.0)
    assert web2.last_success_at("e2scrub_all") is None
    assert web1.last_success_at("e2scrub_all") is not None
    assert web2.recent_outcomes("e2scrub_all", 5) == [False]
    figures = web2.governance_figures(
        "e2scrub_all", cooldown=True, daily=(T0, T0 + timedelta(days=1))
    )
    assert (figures.daily_runs, figures.last_success_at) == (1, None)
    assert len(web2.events("e2scrub_all")) == 1
    assert web2.get_breaker("e2scrub_all").state == "closed"
    assert web2.breakers(["e2scrub_all"])["e2scrub_all"].state == "closed"
    state = web2.get_trigger_state("e2scrub_all")
    assert (state.paused, state.migration_weight, state.shadow) == (False, None, None)
    assert state.last_fired_at == T0
    assert [s.paused for s in web1.all_trigger_states()] == [True]
    assert [(e.job, e.action) for e in web2.journal()] == [("e2scrub_all", "cutover")]
    assert ledger_store.journal() == [] and ledger_store.history() == []
    assert [e.status for e in web2.iter_all_executions()] == [S.FAILED]


def test_a_journal_row_of_another_app_cannot_be_changed(ledger_store: LedgerStore) -> None:
    web1, web2 = _for_app(ledger_store, "web1"), _for_app(ledger_store, "web2")
    row = web1.journal_append(JournalEntry("job", "cutover", T0, "root", status="pending"))
    with pytest.raises(LedgerError, match="does not exist"):
        web2.journal_update_status(row, "done")
    web1.journal_update_status(row, "done")
    assert [e.status for e in web1.journal()] == ["done"]


def test_adopt_rows_moves_an_apps_jobs_and_keeps_what_the_app_has(
    ledger_store: LedgerStore,
) -> None:
    """Rows from before schema version 3 are the "default" app's until an app takes its own."""
    old, web1 = ledger_store, _for_app(ledger_store, "web1")
    old.record_execution(run("backup", execution_id="e1"))
    old.record_execution(run("other", execution_id="e2"))
    old.record_event(ManagementEvent("backup", "pause", T0))
    old.save_breaker(BreakerState("backup", "open", T0))
    old.save_trigger_state(TriggerState("backup", shadow=False))
    old.save_trigger_state(TriggerState("clash", shadow=False))
    old.journal_append(JournalEntry("backup", "cutover", T0, "root"))
    web1.save_trigger_state(TriggerState("clash", paused=True))
    moved = web1.adopt_rows(["backup", "clash"])
    assert moved == 5  # execution, event, breaker, trigger state, journal row of "backup"
    assert [e.execution_id for e in web1.history()] == ["e1"]
    assert [e.execution_id for e in old.history()] == ["e2"]
    assert web1.get_breaker("backup").state == "open"
    assert web1.get_trigger_state("backup").shadow is False
    assert web1.get_trigger_state("clash").paused is True  # the app's own state wins
    assert old.get_trigger_state("clash").shadow is False  # and the other stays put
    assert [e.job for e in web1.journal()] == ["backup"] and old.journal() == []
    assert len(web1.events("backup")) == 1
    assert web1.adopt_rows(["backup", "clash"]) == 0  # rerunning moves nothing


def test_the_ledger_has_one_id_for_every_app(ledger_store: LedgerStore) -> None:
    assert isinstance(ledger_store.ledger_id, str) and len(ledger_store.ledger_id) == 32
    assert _for_app(ledger_store, "web1").ledger_id == ledger_store.ledger_id


def test_iter_all_executions_is_oldest_first(ledger_store: LedgerStore) -> None:
    for i in (3, 1, 2):
        ledger_store.record_execution(run(execution_id=f"i{i}", at=T0 + timedelta(hours=i)))
    assert [e.execution_id for e in ledger_store.iter_all_executions()] == ["i1", "i2", "i3"]


def test_leader_lock_is_exclusive_within_a_process(ledger_store: LedgerStore) -> None:
    with ledger_store.leader_lock("scheduler") as first:
        assert first is True
        with ledger_store.leader_lock("scheduler") as second:
            assert second is False
        with ledger_store.leader_lock("other-lock") as unrelated:
            assert unrelated is True
    with ledger_store.leader_lock("scheduler") as again:
        assert again is True


def test_leader_lock_is_released_when_the_body_raises(ledger_store: LedgerStore) -> None:
    with pytest.raises(RuntimeError), ledger_store.leader_lock("scheduler") as held:
        assert held
        raise RuntimeError("boom")
    with ledger_store.leader_lock("scheduler") as again:
        assert again is True


def test_a_leader_lock_reports_held_until_released(ledger_store: LedgerStore) -> None:
    lock = ledger_store.leader_lock("scheduler")
    assert lock.held() is False  # not taken yet
    with lock as held:
        assert held is True
        assert lock.held() is True
        assert lock.held() is True  # asking again does not give it up
        other = ledger_store.leader_lock("scheduler")
        with other as second:
            assert second is False
            assert other.held() is False
    assert lock.held() is False
    with ledger_store.leader_lock("scheduler") as again:
        assert again is True


def test_advance_last_fired_is_a_compare_and_set(ledger_store: LedgerStore) -> None:
    t1, t2 = T0, T0 + timedelta(minutes=1)
    assert ledger_store.advance_last_fired("job", t1, updated_at=T0) is True  # row created
    state = ledger_store.get_trigger_state("job")
    assert state == TriggerState("job", last_fired_at=t1, updated_at=T0)
    assert ledger_store.advance_last_fired("job", t1) is False  # already there
    assert ledger_store.advance_last_fired("job", t1 - timedelta(minutes=1)) is False  # behind
    assert ledger_store.get_trigger_state("job").last_fired_at == t1
    assert ledger_store.advance_last_fired("job", t2) is True
    assert ledger_store.get_trigger_state("job").last_fired_at == t2
    # older_than: claim t2+1..t2+3 only if nothing at or after t2+1 was claimed
    t5 = t2 + timedelta(minutes=3)
    assert ledger_store.advance_last_fired("job", t5, older_than=t2) is False
    assert ledger_store.advance_last_fired("job", t5, older_than=t2 + timedelta(minutes=1))
    assert ledger_store.get_trigger_state("job").last_fired_at == t5


def test_advance_last_fired_keeps_the_other_fields_and_tenants_apart(
    ledger_store: LedgerStore,
) -> None:
    ledger_store.save_trigger_state(
        TriggerState("job", paused=True, migration_weight=0.5, shadow=True, updated_at=T0)
    )
    assert ledger_store.advance_last_fired("job", T0, updated_at=T0 + timedelta(hours=1))
    assert ledger_store.get_trigger_state("job") == TriggerState(
        "job",
        paused=True,
        migration_weight=0.5,
        shadow=True,
        last_fired_at=T0,
        updated_at=T0 + timedelta(hours=1),
    )
    # the same name in another tenant is another row
    assert ledger_store.advance_last_fired("job", T0, tenant_id="acme") is True
    assert ledger_store.get_trigger_state("job", tenant_id="acme").paused is False
    # a row saved without last_fired_at (NULL) is advanced
    ledger_store.save_trigger_state(TriggerState("fresh", paused=True, updated_at=T0))
    assert ledger_store.advance_last_fired("fresh", T0) is True
    assert ledger_store.get_trigger_state("fresh").paused is True


def _race(stores: list[LedgerStore], name: str, instant: datetime) -> list[bool]:
    """Every store claims ``instant`` at the same moment, each from its own thread."""
    import threading

    barrier = threading.Barrier(len(stores))
    wins: list[bool] = []
    guard = threading.Lock()

    def claim(store: LedgerStore) -> None:
        barrier.wait()
        won = store.advance_last_fired(name, instant)
        with guard:
            wins.append(won)

    threads = [threading.Thread(target=claim, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return wins


@pytest.mark.parametrize("existing", [False, True], ids=["missing-row", "existing-row"])
def test_of_racing_advances_to_one_instant_exactly_one_wins(
    ledger_url: str, existing: bool
) -> None:
    from owlclaw_runtime.ledger import open_store

    stores = [open_store(ledger_url) for _ in range(2)]  # two "processes": own pools
    try:
        if existing:
            stores[0].advance_last_fired("__scheduler__/lock", T0)
        for round_ in range(1, 11):
            instant = T0 + timedelta(minutes=round_)
            wins = _race([stores[i % 2] for i in range(4)], "__scheduler__/lock", instant)
            assert sorted(wins) == [False, False, False, True], round_
            assert stores[1].get_trigger_state("__scheduler__/lock").last_fired_at == instant
    finally:
        for store in stores:
            store.close()


def heartbeat(worker_id: str = "w-1", **changes: object) -> WorkerHeartbeat:
    values: dict[str, object] = {
        "worker_id": worker_id,
        "app_name": "debian-web",
        "host": "web-1",
        "pid": 4242,
        "backend": "local",
        "started_at": T0,
        "last_seen": T0 + timedelta(seconds=5),
        "module_path": "/srv/app/owlclaw_app.py",
        "module_sha256": "a" * 64,
        "module_fingerprint": "b" * 64,
        "triggers": ("backup_db", "session_gc"),
        "interval_seconds": 5.0,
        "details": {"recovered": ["completed interrupted cutover of backup_db"]},
    }
    values.update(changes)
    return WorkerHeartbeat(**values)  # type: ignore[arg-type]


def test_a_heartbeat_round_trips_and_is_replaced_by_the_next(ledger_store: LedgerStore) -> None:
    first = heartbeat()
    ledger_store.record_heartbeat(first)
    assert ledger_store.heartbeats() == [first]
    later = replace(first, last_seen=T0 + timedelta(seconds=10), stale_module=True, details={})
    ledger_store.record_heartbeat(later)
    (got,) = ledger_store.heartbeats("debian-web")
    assert got == later
    assert got.last_seen.utcoffset() == timedelta(0)
    assert isinstance(got.triggers, tuple)


def test_heartbeats_filter_by_app_and_tenant_and_are_removed_by_worker(
    ledger_store: LedgerStore,
) -> None:
    a = heartbeat("w-a")
    b = heartbeat("w-b", app_name="rhel-batch", started_at=T0 + timedelta(seconds=1))
    c = heartbeat("w-a", tenant_id="acme", triggers=())  # the same id in another tenant
    for h in (b, a, c):
        ledger_store.record_heartbeat(h)
    assert ledger_store.heartbeats() == [a, b]  # oldest start first
    assert ledger_store.heartbeats("rhel-batch") == [b]
    assert ledger_store.heartbeats("nope") == []
    assert ledger_store.heartbeats(tenant_id="acme") == [c]
    assert ledger_store.remove_heartbeat("w-a") is True
    assert ledger_store.remove_heartbeat("w-a") is False
    assert ledger_store.heartbeats() == [b]
    assert ledger_store.heartbeats(tenant_id="acme") == [c]  # untouched


def test_journal_pending_lists_only_pending_rows_oldest_first(ledger_store: LedgerStore) -> None:
    assert ledger_store.journal_pending() == []
    ids = [
        ledger_store.journal_append(
            JournalEntry(job=job, action="cutover", at=T0, user="ops", status=status)
        )
        for job, status in (("a", "pending"), ("b", "done"), ("c", "pending"))
    ]
    assert [e.id for e in ledger_store.journal_pending()] == [ids[0], ids[2]]
    ledger_store.journal_update_status(ids[0], "done")
    (left,) = ledger_store.journal_pending()
    assert (left.job, left.status) == ("c", "pending")
    assert LedgerStore.journal_pending(ledger_store) == [left]  # the base default agrees


APPS = ("web1", "web2", "default")


@settings(max_examples=40, deadline=None)
@given(
    writes=st.lists(
        st.tuples(
            st.sampled_from(APPS),
            st.sampled_from(("e2scrub_all", "backup")),
            st.sampled_from(("r1", "r2", "r3")),
            st.sampled_from((S.SUCCESS, S.FAILED, S.SKIPPED, S.FALLBACK)),
        ),
        max_size=25,
    )
)
def test_each_app_reads_back_exactly_its_own_writes(
    writes: list[tuple[str, str, str, ExecutionStatus]],
) -> None:
    """Whatever the apps write, in any order and with clashing ids and event names, every app
    reads back exactly the last row it wrote per execution id, and nothing of the others'."""
    store = SqlLedgerStore("sqlite://")
    try:
        views = {name: store.for_app(name) for name in APPS}
        model: dict[tuple[str, str], tuple[str, ExecutionStatus]] = {}
        for minute, (app, event, execution_id, status) in enumerate(writes):
            at = T0 + timedelta(minutes=minute)
            views[app].record_execution(run(event, status, at=at, execution_id=execution_id))
            model[(app, execution_id)] = (event, status)
        for app, view in views.items():
            mine = {k[1]: v for k, v in model.items() if k[0] == app}
            got = {e.execution_id: (e.event_name, e.status) for e in view.history(limit=100)}
            assert got == mine, app
            for event in ("e2scrub_all", "backup"):
                counted = [s for ev, s in mine.values() if ev == event and s != S.SKIPPED]
                assert view.stats(event).overall.executions == len(counted)
                assert len(view.recent_outcomes(event, 100)) == len(counted)
    finally:
        store.close()
