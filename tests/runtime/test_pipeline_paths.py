"""The dispatch pipeline: decision, agent/fallback by strategy, retries, timeouts, cost, ledger
rows and observers, on a real ledger (SQLite, and PostgreSQL when available)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from owlclaw_runtime.agent.base import AgentResult
from owlclaw_runtime.agent.loading import normalize_agent_result
from owlclaw_runtime.ledger import LedgerError, LedgerStore, SqlLedgerStore, TriggerState
from owlclaw_runtime.pipeline import PipelineRunFailed
from owlclaw_runtime.triggers.models import ExecutionStatus
from runtime_helpers import (
    ExplodingObserver,
    RecordingObserver,
    ScriptedAgent,
    new_app,
)

AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
FAILED = AgentResult(run_id="r-failed", status="failed", error="model said no")


def _app(store: LedgerStore, **kw: Any):
    return new_app(store, **kw)


async def test_fallback_path_records_everything(ledger_store: LedgerStore) -> None:
    app, clock, _ = _app(ledger_store)
    # the strict mode: the row is committed as running before the job starts (the default
    # queues it while the job starts: test_pipeline_start_path.py)
    app.pipeline.running_row_before_start = True
    seen: list[dict[str, Any]] = []

    @app.cron("30 2 * * *", migration_weight=0.0, timezone="Europe/London")
    async def backup(context: dict) -> None:
        row = ledger_store.get_execution(context["execution_id"])
        assert row is not None and row.status == ExecutionStatus.RUNNING
        seen.append(context)

    (execution,) = await app.dispatch("backup", scheduled_at=AT)
    assert execution.status == ExecutionStatus.FALLBACK
    stored = ledger_store.get_execution(execution.execution_id)
    assert stored is not None
    assert stored.status == ExecutionStatus.FALLBACK
    assert stored.decision_mode == "fallback"
    assert stored.scheduled_at == AT and stored.triggered_at == clock()
    assert stored.migration_weight == 0.0
    assert stored.governance_checks["decision"]["mode"] == "fallback"
    assert stored.governance_checks["breaker"]["state"] == "closed"
    assert stored.backend == "inline" and stored.trigger_type == "cron"
    assert stored.duration_seconds is not None and stored.duration_seconds >= 0
    ctx = seen[0]
    assert ctx["trigger_type"] == "cron" and ctx["event_name"] == "backup"
    assert ctx["cron_expression"] == "30 2 * * *" and ctx["timezone"] == "Europe/London"
    assert ctx["scheduled_at"] == "2026-03-02T12:00:00Z"


async def test_runs_k_times_with_multiplicity(ledger_store: LedgerStore) -> None:
    app, _, _ = _app(ledger_store)
    count: list[int] = []

    @app.cron("0,30 2 * * *", migration_weight=0.0)
    def twice() -> None:
        count.append(1)

    results = await app.dispatch("twice", scheduled_at=AT, runs=2)
    assert len(count) == 2
    assert [r.context["run_index"] for r in results] == [0, 1]
    assert len({r.execution_id for r in results}) == 2
    assert await app.dispatch("twice", scheduled_at=AT, runs=0) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        await app.dispatch("twice", scheduled_at=datetime(2026, 1, 1))


async def test_weight_one_runs_the_agent_with_focus_and_payload(ledger_store: LedgerStore) -> None:
    agent = ScriptedAgent(
        [AgentResult(run_id="a1", status="completed", llm_calls=2, cost_usd=0.03)]
    )
    app, _, _ = _app(ledger_store, agent=agent, tenant_id="acme")
    ran: list[int] = []

    @app.cron("0 * * * *", focus="inventory", migration_weight=1.0)
    def job() -> None:
        ran.append(1)

    (execution,) = await app.dispatch("job", scheduled_at=AT, context={"k": "v"})
    assert execution.status == ExecutionStatus.SUCCESS and ran == []
    call = agent.calls[0]
    assert call["event_name"] == "job" and call["focus"] == "inventory"
    assert call["tenant_id"] == "acme" and call["payload"]["k"] == "v"
    stored = ledger_store.get_execution(execution.execution_id, tenant_id="acme")
    assert stored is not None
    assert (stored.decision_mode, stored.agent_run_id, stored.llm_calls) == ("agent", "a1", 2)
    assert stored.cost_usd == pytest.approx(0.03)
    assert ledger_store.get_execution(execution.execution_id) is None  # other tenant


async def test_previous_run_reaches_the_agent(ledger_store: LedgerStore) -> None:
    agent = ScriptedAgent()
    app, _, _ = _app(ledger_store, agent=agent)
    app.cron_registry.register("job", "0 * * * *", migration_weight=1.0)
    (first,) = await app.dispatch("job", scheduled_at=AT)
    await app.dispatch("job", scheduled_at=AT)
    assert "previous_run" not in agent.calls[0]["payload"]
    prev = agent.calls[1]["payload"]["previous_run"]
    assert prev["execution_id"] == first.execution_id and prev["status"] == "success"


async def test_seeded_decision_matches_the_weight(ledger_store: LedgerStore) -> None:
    agent = ScriptedAgent()
    app, _, _ = _app(ledger_store, agent=agent, seed=1234)
    app.cron_registry.register(
        "half", "* * * * *", fallback_handler=lambda: None, migration_weight=0.3
    )
    results = await app.dispatch("half", scheduled_at=AT, runs=100)
    agent_share = sum(r.decision_mode == "agent" for r in results) / 100
    assert 0.15 < agent_share < 0.45
    # the same seed gives the same decisions
    app2, _, _ = _app(ledger_store, agent=ScriptedAgent(), seed=1234)
    app2.cron_registry.register(
        "half", "* * * * *", fallback_handler=lambda: None, migration_weight=0.3
    )
    again = await app2.dispatch("half", scheduled_at=AT, runs=100)
    assert [r.decision_mode for r in again] == [r.decision_mode for r in results]


@pytest.mark.parametrize(
    ("strategy", "status", "fallback_runs"),
    [("on_failure", "fallback", 1), ("always", "fallback", 1), ("never", "failed", 0)],
)
async def test_failed_agent_result_is_a_failure_handled_by_strategy(
    ledger_store: LedgerStore, strategy: str, status: str, fallback_runs: int
) -> None:
    agent = ScriptedAgent(default=FAILED)
    app, _, _ = _app(ledger_store, agent=agent)
    ran: list[int] = []

    @app.cron("0 * * * *", migration_weight=1.0, fallback_strategy=strategy, retry_on_failure=False)
    def job() -> None:
        ran.append(1)

    (execution,) = await app.dispatch("job", scheduled_at=AT)
    assert execution.status.value == status
    assert len(ran) == fallback_runs
    assert "model said no" in (execution.error_message or "")
    assert execution.decision_mode == "agent"


async def test_always_runs_the_fallback_after_a_successful_agent(ledger_store: LedgerStore) -> None:
    agent = ScriptedAgent()
    app, _, _ = _app(ledger_store, agent=agent)
    ran: list[int] = []
    app.cron_registry.register(
        "job",
        "0 * * * *",
        fallback_handler=lambda: ran.append(1),
        migration_weight=1.0,
        fallback_strategy="always",
    )
    (execution,) = await app.dispatch("job", scheduled_at=AT)
    assert execution.status == ExecutionStatus.SUCCESS and ran == [1] and len(agent.calls) == 1


async def test_agent_exception_without_fallback_stays_failed(ledger_store: LedgerStore) -> None:
    agent = ScriptedAgent(default=RuntimeError("provider down"))
    app, _, _ = _app(ledger_store, agent=agent)
    app.cron_registry.register("job", "0 * * * *", migration_weight=1.0, retry_on_failure=False)
    (execution,) = await app.dispatch("job", scheduled_at=AT)
    # OwlClaw turned this into "skipped: no fallback handler"; it is a failure
    assert execution.status == ExecutionStatus.FAILED
    assert execution.skip_reason is None
    assert execution.error_message == "RuntimeError: provider down"
    assert "provider down" in (execution.error_traceback or "")


async def test_skipped_agent_result_is_skipped(ledger_store: LedgerStore) -> None:
    agent = ScriptedAgent(default={"status": "skipped", "run_id": "r", "reason": "agent_paused"})
    app, _, _ = _app(ledger_store, agent=agent)
    ran: list[int] = []
    app.cron_registry.register(
        "job", "0 * * * *", fallback_handler=lambda: ran.append(1), migration_weight=1.0
    )
    (execution,) = await app.dispatch("job", scheduled_at=AT)
    assert execution.status == ExecutionStatus.SKIPPED
    assert execution.skip_reason == "agent_skipped: agent_paused"
    assert ran == []
    assert ledger_store.stats("job").overall.executions == 0


async def test_retries_with_exponential_backoff_then_success(ledger_store: LedgerStore) -> None:
    app, _, sleep = _app(ledger_store)
    attempts: list[int] = []

    @app.cron(
        "0 * * * *",
        migration_weight=0.0,
        max_retries=4,
        retry_delay_seconds=10,
        retry_backoff_factor=3,
        retry_max_delay_seconds=50,
    )
    def flaky() -> None:
        attempts.append(1)
        if len(attempts) < 4:
            raise OSError("disk busy")

    (execution,) = await app.dispatch("flaky", scheduled_at=AT)
    assert execution.status == ExecutionStatus.FALLBACK
    assert sleep.delays == [10, 30, 50]
    assert execution.retry_count == 3
    assert ledger_store.get_execution(execution.execution_id).retry_count == 3


async def test_retries_exhausted_is_a_failure(ledger_store: LedgerStore) -> None:
    app, _, sleep = _app(ledger_store)
    attempts: list[int] = []

    @app.cron("0 * * * *", migration_weight=0.0, max_retries=2, retry_delay_seconds=1)
    def broken() -> None:
        attempts.append(1)
        raise OSError("nope")

    (execution,) = await app.dispatch("broken", scheduled_at=AT)
    assert execution.status == ExecutionStatus.FAILED and len(attempts) == 3
    assert sleep.delays == [1, 2] and execution.retry_count == 2


@pytest.mark.parametrize("error", [ValueError("bad input"), TypeError("bad type")])
async def test_value_and_type_errors_are_not_retried(
    ledger_store: LedgerStore, error: Exception
) -> None:
    app, _, sleep = _app(ledger_store)
    attempts: list[int] = []

    def bad() -> None:
        attempts.append(1)
        raise error

    app.cron_registry.register("bad", "0 * * * *", fallback_handler=bad, migration_weight=0.0)
    (execution,) = await app.dispatch("bad", scheduled_at=AT)
    assert execution.status == ExecutionStatus.FAILED and attempts == [1] and sleep.delays == []


async def test_raise_on_failure_records_then_raises_without_retrying(
    ledger_store: LedgerStore,
) -> None:
    app, _, sleep = _app(ledger_store)

    def boom() -> None:
        raise OSError("legacy exit 2")

    app.cron_registry.register("job", "0 * * * *", fallback_handler=boom, migration_weight=0.0)
    with pytest.raises(PipelineRunFailed, match="legacy exit 2") as info:
        await app.dispatch("job", scheduled_at=AT, raise_on_failure=True, retry_count=2)
    assert sleep.delays == []
    (execution,) = info.value.executions
    stored = ledger_store.get_execution(execution.execution_id)
    assert stored is not None and stored.status == ExecutionStatus.FAILED
    assert stored.retry_count == 2


async def test_max_duration_times_out_async_and_sync_fallbacks(ledger_store: LedgerStore) -> None:
    app, _, _ = _app(ledger_store)

    async def slow_async() -> None:
        await asyncio.sleep(5)

    def slow_sync() -> None:
        time.sleep(1.5)

    for name, fn in (("a", slow_async), ("s", slow_sync)):
        app.cron_registry.register(
            name,
            "0 * * * *",
            fallback_handler=fn,
            migration_weight=0.0,
            max_duration=0.1,
            retry_on_failure=False,
        )
        started = time.perf_counter()
        (execution,) = await app.dispatch(name, scheduled_at=AT)
        assert time.perf_counter() - started < 1.2  # the 1.5 s job was not awaited
        assert execution.status == ExecutionStatus.FAILED
        assert "timed out after 0.1s" in (execution.error_message or "")


async def test_agent_timeout_falls_back(ledger_store: LedgerStore) -> None:
    agent = ScriptedAgent(default=2.0)
    app, _, _ = _app(ledger_store, agent=agent)
    ran: list[int] = []
    app.cron_registry.register(
        "job",
        "0 * * * *",
        fallback_handler=lambda: ran.append(1),
        migration_weight=1.0,
        max_duration=0.05,
        retry_on_failure=False,
    )
    (execution,) = await app.dispatch("job", scheduled_at=AT)
    assert execution.status == ExecutionStatus.FALLBACK and ran == [1]
    assert "timed out" in (execution.error_message or "")


async def test_agent_over_cost_per_run_is_a_non_retried_failure(ledger_store: LedgerStore) -> None:
    agent = ScriptedAgent(default=AgentResult(run_id="c", status="completed", cost_usd=0.5))
    app, _, sleep = _app(ledger_store, agent=agent)
    app.cron_registry.register(
        "job", "0 * * * *", migration_weight=1.0, max_cost_per_run=0.1, max_retries=3
    )
    (execution,) = await app.dispatch("job", scheduled_at=AT)
    assert execution.status == ExecutionStatus.FAILED
    assert "max_cost_per_run" in (execution.error_message or "")
    assert execution.cost_usd == pytest.approx(0.5)
    assert execution.governance_checks["cost_per_run"]["passed"] is False
    assert sleep.delays == [] and len(agent.calls) == 1


async def test_cost_accumulates_over_retries(ledger_store: LedgerStore) -> None:
    agent = ScriptedAgent(
        [
            AgentResult(run_id="1", status="failed", cost_usd=0.02, error="x"),
            AgentResult(run_id="2", status="completed", cost_usd=0.03),
        ]
    )
    app, _, _ = _app(ledger_store, agent=agent)
    app.cron_registry.register("job", "0 * * * *", migration_weight=1.0, retry_delay_seconds=0)
    (execution,) = await app.dispatch("job", scheduled_at=AT)
    assert execution.status == ExecutionStatus.SUCCESS and execution.retry_count == 1
    assert execution.cost_usd == pytest.approx(0.05) and execution.agent_run_id == "2"


class _LegacyResult:
    def __init__(self, exit_code: int, output_tail: str) -> None:
        self.exit_code = exit_code
        self.output_tail = output_tail


class _LegacyJobFailed(Exception):
    def __init__(self, result: _LegacyResult) -> None:
        super().__init__(f"exit {result.exit_code}")
        self.result = result


async def test_legacy_exit_code_and_output_tail_are_kept(ledger_store: LedgerStore) -> None:
    app, _, _ = _app(ledger_store)

    async def fails() -> None:
        raise _LegacyJobFailed(_LegacyResult(3, "error: PGPASSWORD=hunter2 rejected"))

    async def works() -> _LegacyResult:
        return _LegacyResult(0, "backup ok")

    app.cron_registry.register(
        "f", "0 * * * *", fallback_handler=fails, migration_weight=0.0, retry_on_failure=False
    )
    app.cron_registry.register("w", "0 * * * *", fallback_handler=works, migration_weight=0.0)
    (failed,) = await app.dispatch("f", scheduled_at=AT)
    (worked,) = await app.dispatch("w", scheduled_at=AT)
    stored = ledger_store.get_execution(failed.execution_id)
    assert stored is not None and stored.exit_code == 3
    assert stored.output_tail == "error: PGPASSWORD=*** rejected"
    assert (worked.exit_code, worked.output_tail) == (0, "backup ok")


async def test_fallback_arity_and_callable_objects(ledger_store: LedgerStore) -> None:
    app, _, _ = _app(ledger_store)
    got: list[Any] = []

    class AsyncCallable:
        async def __call__(self, context: dict) -> None:
            got.append(("obj", context["event_name"]))

    def no_args() -> None:
        got.append(("none", None))

    app.cron_registry.register(
        "o", "0 * * * *", fallback_handler=AsyncCallable(), migration_weight=0.0
    )
    app.cron_registry.register("n", "0 * * * *", fallback_handler=no_args, migration_weight=0.0)
    await app.dispatch("o", scheduled_at=AT)
    await app.dispatch("n", scheduled_at=AT)
    assert got == [("obj", "o"), ("none", None)]


async def test_shadow_records_one_skipped_row_per_due_run(ledger_store: LedgerStore) -> None:
    app, _, _ = _app(ledger_store)
    ran: list[int] = []
    app.cron_registry.register(
        "job",
        "0 * * * *",
        fallback_handler=lambda: ran.append(1),
        migration_weight=0.0,
        shadow=True,
    )
    results = await app.dispatch("job", scheduled_at=AT, runs=2)
    assert ran == []
    assert [(r.status.value, r.skip_reason) for r in results] == [("skipped", "shadow")] * 2
    stats = ledger_store.stats("job")
    assert stats.skipped == 2 and stats.overall.executions == 0


async def test_ledger_overrides_reach_a_running_app_within_the_ttl(
    ledger_store: LedgerStore,
) -> None:
    agent = ScriptedAgent()
    app, _, _ = _app(ledger_store, agent=agent, state_ttl_seconds=0.05)
    app.cron_registry.register(
        "job", "0 * * * *", fallback_handler=lambda: None, migration_weight=0.0
    )
    (first,) = await app.dispatch("job", scheduled_at=AT)
    assert first.decision_mode == "fallback"
    # another process (owlmigrate step) raises the weight in the ledger
    ledger_store.save_trigger_state(TriggerState(event_name="job", migration_weight=1.0))
    await asyncio.sleep(0.06)
    (second,) = await app.dispatch("job", scheduled_at=AT)
    assert second.decision_mode == "agent" and second.migration_weight == 1.0
    ledger_store.save_trigger_state(
        TriggerState(event_name="job", migration_weight=1.0, shadow=True)
    )
    await asyncio.sleep(0.06)
    (third,) = await app.dispatch("job", scheduled_at=AT)
    assert third.skip_reason == "shadow"


async def test_observers_see_the_lifecycle_and_their_errors_are_ignored(
    ledger_store: LedgerStore,
) -> None:
    recorder = RecordingObserver()
    app, _, _ = _app(ledger_store, observers=[ExplodingObserver(), recorder])
    app.cron_registry.register(
        "job",
        "0 * * * *",
        fallback_handler=lambda: 1 / 0,
        migration_weight=0.0,
        retry_on_failure=False,
    )
    await app.dispatch("job", scheduled_at=AT)
    await app.dispatch("job", scheduled_at=AT)
    assert recorder.names("registered") == ["job"]
    assert recorder.names("fired") == [("job", AT, 1)] * 2
    assert len(recorder.names("started")) == 2
    assert recorder.names("finished") == [("failed", 1), ("failed", 2)]
    assert recorder.names("active") == [1, 0, 1, 0]


async def test_nothing_to_run_is_a_failure(ledger_store: LedgerStore) -> None:
    app, _, _ = _app(ledger_store)
    app.cron_registry.register("job", "0 * * * *", migration_weight=0.0, retry_on_failure=False)
    (execution,) = await app.dispatch("job", scheduled_at=AT)
    assert execution.status == ExecutionStatus.FAILED
    assert "no agent is configured" in (execution.error_message or "")


def test_normalize_owlclaw_dict_results() -> None:
    ok = normalize_agent_result(
        {"status": "completed", "run_id": "r", "tool_calls_total": 3, "final_response": "hi"}
    )
    assert (ok.status, ok.llm_calls, ok.output) == ("completed", 3, "hi")
    failed = normalize_agent_result({"status": "failed", "error": "run timed out after 300s"})
    assert failed.status == "failed" and failed.error == "run timed out after 300s"
    assert normalize_agent_result({"status": "weird"}).status == "failed"
    assert normalize_agent_result({"status": "success"}).status == "completed"
    with pytest.raises(TypeError):
        normalize_agent_result("done")


async def test_a_cancelled_run_leaves_no_running_row(ledger_store: LedgerStore) -> None:
    recorder = RecordingObserver()
    app, _, _ = _app(ledger_store, observers=[recorder])
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.sleep(60)

    app.cron_registry.register("job", "0 * * * *", fallback_handler=forever, migration_weight=0.0)
    task = asyncio.create_task(app.dispatch("job", scheduled_at=AT))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (row,) = ledger_store.history("job")
    assert row.status == ExecutionStatus.FAILED
    assert row.error_message == "cancelled before the run finished (worker stopping)"
    assert app.pipeline.inflight == 0


async def test_weight_raised_without_an_agent_keeps_running_the_fallback(
    ledger_store: LedgerStore, caplog: pytest.LogCaptureFixture
) -> None:
    app, _, _ = _app(ledger_store)
    ran: list[int] = []
    app.cron_registry.register(
        "job", "0 * * * *", fallback_handler=lambda: ran.append(1), migration_weight=0.0
    )
    ledger_store.save_trigger_state(TriggerState(event_name="job", migration_weight=1.0))
    with caplog.at_level("WARNING", logger="owlclaw_runtime.pipeline"):
        results = await app.dispatch("job", scheduled_at=AT, runs=2)
    assert [r.status for r in results] == [ExecutionStatus.FALLBACK] * 2 and ran == [1, 1]
    assert results[0].governance_checks["decision"]["agent_configured"] is False
    warnings = [r for r in caplog.records if "no agent is configured" in r.getMessage()]
    assert len(warnings) == 1


class _FlakyStore(SqlLedgerStore):
    """The real SQLite store whose writes of terminal rows fail ``failures`` times (a database
    blip while a job runs)."""

    def __init__(self, url: str, failures: int) -> None:
        super().__init__(url)
        self.failures = failures

    def record_executions(self, executions: Any) -> None:
        # the pipeline writes through the batch API (group commit)
        if any(e.status.is_terminal for e in executions) and self.failures > 0:
            self.failures -= 1
            raise LedgerError("database is locked")
        super().record_executions(executions)


@pytest.mark.parametrize(("failures", "recorded"), [(2, True), (5, False)])
async def test_terminal_rows_survive_a_database_blip(
    tmp_path: Any, failures: int, recorded: bool
) -> None:
    store = _FlakyStore(f"sqlite:///{tmp_path / 'l.db'}", failures)
    try:
        app, _, _ = _app(store)
        app.pipeline.commit_retry_delays = (0.0, 0.0, 0.0)
        app.cron_registry.register(
            "job", "0 * * * *", fallback_handler=lambda: None, migration_weight=0.0
        )
        if recorded:
            (execution,) = await app.dispatch("job", scheduled_at=AT)
            assert store.get_execution(execution.execution_id).status == ExecutionStatus.FALLBACK
        else:
            with pytest.raises(LedgerError, match="database is locked"):
                await app.dispatch("job", scheduled_at=AT)
            # the run is not lost silently: its running row is there, and the error surfaced
            (row,) = store.history("job")
            assert row.status == ExecutionStatus.RUNNING
    finally:
        store.close()
