"""Registry management: durable pause/resume, trigger_now, status and history."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from owlclaw_runtime.agent.base import AgentResult
from owlclaw_runtime.ledger import LedgerStore
from owlclaw_runtime.triggers.models import ExecutionStatus
from runtime_helpers import Clock, RecordingBackend, ScriptedAgent, new_app


async def test_pause_and_resume_are_durable_across_a_new_app(ledger_store: LedgerStore) -> None:
    app, clock, _ = new_app(ledger_store)
    app.cron_registry.register(
        "job", "0 * * * *", fallback_handler=lambda: None, migration_weight=0.0
    )
    state = await app.cron_registry.pause_trigger("job", actor="ops")
    assert state.paused

    # a brand-new app (a restarted worker) on the same ledger stays paused
    app2, _, _ = new_app(ledger_store, clock=clock)
    app2.cron_registry.register(
        "job", "0 * * * *", fallback_handler=lambda: None, migration_weight=0.0
    )
    (skipped,) = await app2.dispatch("job", scheduled_at=clock())
    assert (skipped.status, skipped.skip_reason) == (ExecutionStatus.SKIPPED, "paused")
    assert app2.cron_registry.get_trigger_status("job")["paused"] is True

    await app2.cron_registry.resume_trigger("job")
    (ran,) = await app2.dispatch("job", scheduled_at=clock())
    assert ran.status == ExecutionStatus.FALLBACK
    events = [(e.action, e.actor) for e in ledger_store.events("job")]
    assert events[:2] == [("resume", None), ("pause", "ops")]
    # management events are not executions
    assert ledger_store.stats("job").overall.executions == 1


async def test_pause_and_resume_reach_the_backend(ledger_store: LedgerStore) -> None:
    app, _, _ = new_app(ledger_store)
    app.cron_registry.register(
        "job", "0 * * * *", fallback_handler=lambda: None, migration_weight=0.0
    )
    backend = RecordingBackend(app)
    await app.start(backend)
    await app.cron_registry.pause_trigger("job")
    await app.cron_registry.resume_trigger("job")
    await app.stop()
    assert backend.actions == [("pause", "job"), ("resume", "job")]
    with pytest.raises(KeyError):
        await app.cron_registry.pause_trigger("nope")


async def test_trigger_now_without_backend_passes_context_to_the_fallback(
    ledger_store: LedgerStore,
) -> None:
    app, _, _ = new_app(ledger_store)
    got: list[dict] = []

    @app.cron("0 3 * * *", migration_weight=0.0)
    def nightly(context: dict) -> None:
        got.append(context)

    execution_id = await app.cron_registry.trigger_now("nightly", reason="hotfix", n=3)
    assert got[0]["reason"] == "hotfix" and got[0]["n"] == 3
    assert got[0]["trigger_type"] == "manual"
    stored = ledger_store.get_execution(execution_id)
    assert stored is not None
    assert (stored.trigger_type, stored.status) == ("manual", ExecutionStatus.FALLBACK)
    assert stored.context["reason"] == "hotfix"
    (event,) = ledger_store.events("nightly")
    assert event.action == "manual_trigger"
    assert event.details["execution_id"] == execution_id
    assert event.details["context"] == {"reason": "hotfix", "n": "3"}


async def test_trigger_now_passes_context_to_the_agent(ledger_store: LedgerStore) -> None:
    agent = ScriptedAgent()
    app, _, _ = new_app(ledger_store, agent=agent)
    app.cron_registry.register("job", "0 * * * *", focus="ops", migration_weight=1.0)
    execution_id = await app.cron_registry.trigger_now("job", ticket="OPS-1")
    payload = agent.calls[0]["payload"]
    assert payload["ticket"] == "OPS-1" and payload["trigger_type"] == "manual"
    assert agent.calls[0]["focus"] == "ops"
    assert ledger_store.get_execution(execution_id).status == ExecutionStatus.SUCCESS


async def test_trigger_now_runs_in_shadow_but_not_when_paused(ledger_store: LedgerStore) -> None:
    app, _, _ = new_app(ledger_store)
    ran: list[int] = []
    app.cron_registry.register(
        "job",
        "0 * * * *",
        fallback_handler=lambda: ran.append(1),
        migration_weight=0.0,
        shadow=True,
    )
    shadow_id = await app.cron_registry.trigger_now("job")
    assert ran == [1] and ledger_store.get_execution(shadow_id).status == ExecutionStatus.FALLBACK
    await app.cron_registry.pause_trigger("job")
    paused_id = await app.cron_registry.trigger_now("job")
    paused = ledger_store.get_execution(paused_id)
    assert paused.status == ExecutionStatus.SKIPPED and paused.skip_reason == "paused"
    assert ran == [1]


async def test_trigger_now_goes_through_a_started_backend(ledger_store: LedgerStore) -> None:
    app, _, _ = new_app(ledger_store)
    app.cron_registry.register(
        "job", "0 * * * *", fallback_handler=lambda: None, migration_weight=0.0
    )
    backend = RecordingBackend(app)
    await app.start(backend)
    execution_id = await app.cron_registry.trigger_now("job", a="b")
    await app.stop()
    assert backend.actions == [("trigger_now", "job")]
    stored = ledger_store.get_execution(execution_id)
    assert stored is not None and stored.backend == "recording"
    assert ledger_store.events("job")[0].details["execution_id"] == execution_id


async def test_status_splits_agent_and_fallback(ledger_store: LedgerStore) -> None:
    clock = Clock(datetime(2026, 3, 28, 23, 0, tzinfo=UTC))
    agent = ScriptedAgent(
        [
            AgentResult(run_id="1", status="completed", cost_usd=0.1),
            AgentResult(run_id="2", status="failed", error="x"),
        ]
    )
    app, _, _ = new_app(ledger_store, agent=agent, clock=clock)
    app.cron_registry.register(
        "job",
        "30 1 * * *",
        fallback_handler=lambda: None,
        migration_weight=1.0,
        timezone="Europe/London",
        fallback_strategy="never",
        retry_on_failure=False,
        priority=3,
    )
    await app.dispatch("job", scheduled_at=clock(), runs=2)
    await app.cron_registry.pause_trigger("job")
    await app.dispatch("job", scheduled_at=clock())
    status = app.cron_registry.get_trigger_status("job", count=2)
    assert status["paused"] is True and status["enabled"] is False
    assert status["migration_weight"] == 1.0 and status["priority"] == 3
    assert status["agent"]["executions"] == 2 and status["agent"]["successes"] == 1
    assert status["agent"]["total_cost_usd"] == pytest.approx(0.1)
    assert status["fallback"]["executions"] == 0
    assert status["success_rate"] == pytest.approx(0.5)
    assert status["skipped"] == 1
    assert status["breaker"] == {"state": "closed", "opened_at": None}
    # 2026-03-29 is the UK spring-forward day: 01:30 local does not exist that day, so the
    # daemon runs it right after the jump (01:00 UTC); the next day it is 01:30 BST = 00:30 UTC
    assert [r["utc"] for r in status["next_runs"]] == [
        "2026-03-29T01:00:00Z",
        "2026-03-30T00:30:00Z",
    ]
    assert status["next_runs"][1]["local"] == "2026-03-30T01:30:00+01:00"


async def test_history_is_newest_first_and_redacted(ledger_store: LedgerStore) -> None:
    app, clock, _ = new_app(ledger_store)

    def leaky() -> None:
        raise OSError("mysql --password=s3cret failed")

    app.cron_registry.register(
        "job", "* * * * *", fallback_handler=leaky, migration_weight=0.0, retry_on_failure=False
    )
    for _ in range(3):
        await app.dispatch("job", scheduled_at=clock())
        clock.advance(minutes=1)
    history = app.cron_registry.get_execution_history("job", limit=2)
    assert len(history) == 2
    assert history[0]["triggered_at"] == "2026-03-02T12:02:00Z"
    assert history[1]["triggered_at"] == "2026-03-02T12:01:00Z"
    assert "s3cret" not in history[0]["error_message"]
    assert "s3cret" not in history[0]["error_traceback"]
    assert history[0]["status"] == "failed"
