"""The example apps run on the embedded default: each trigger fired once with trigger_now
against a temporary SQLite ledger, and its real effect checked."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from owlclaw_runtime import ExecutionStatus, load_app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "apps"
EXPECTED = {
    "inventory_check.py": ["hourly_inventory_check"],
    "trading_morning.py": ["trading_morning_decision"],
    "daily_report.py": ["daily_report"],
    "data_cleanup.py": ["weekly_data_cleanup"],
    "focus_skills.py": ["log_triage", "restock_planner"],
    "governance.py": ["sync_price_feed"],
}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OWLCLAW_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    monkeypatch.setenv("OWLMIGRATE_EXAMPLE_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("PRICE_FEED_DOWN", raising=False)
    monkeypatch.delenv("CLEAN_DIR", raising=False)
    return tmp_path / "data"


def test_every_example_file_is_covered() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_each_trigger_runs_once_and_is_recorded(env: Path, name: str) -> None:
    app = load_app(str(EXAMPLES / name))
    try:
        triggers = sorted(c.event_name for c in app.cron_registry.list_triggers())
        assert triggers == EXPECTED[name]
        for event_name in triggers:
            execution_id = await app.cron_registry.trigger_now(event_name, reason="test")
            execution = app.ledger.get_execution(execution_id)
            assert execution is not None
            assert execution.trigger_type == "manual"
            assert ExecutionStatus(execution.status).is_success, execution.error_message
            assert execution.context.get("reason") == "test"
    finally:
        app.close()


async def test_inventory_check_writes_the_low_stock_report(env: Path) -> None:
    app = load_app(str(EXAMPLES / "inventory_check.py"))
    execution_id = await app.cron_registry.trigger_now("hourly_inventory_check")
    assert app.ledger.get_execution(execution_id).decision_mode == "fallback"  # weight 0
    report = json.loads((env / "low_stock.json").read_text())
    assert report["checked"] == 5
    assert [(r["sku"], r["order"]) for r in report["low_stock"]] == [
        ("C-300", 200),  # out of stock: double order
        ("B-201", 20),
        ("A-101", 200),
    ]
    assert app.cron_registry.get_trigger("hourly_inventory_check").focus == "inventory_monitor"
    app.close()


async def test_trading_decision_fires_at_0930_new_york_across_dst(env: Path) -> None:
    app = load_app(str(EXAMPLES / "trading_morning.py"))
    await app.cron_registry.trigger_now("trading_morning_decision")
    assert json.loads((env / "trading_decision.json").read_text()) == {
        "symbol": "OWL",
        "as_of": "2026-02-27",
        "action": "buy",
    }
    registry = app.cron_registry
    # Friday 2026-03-06 (EST, UTC-5) then Monday 2026-03-09 after the spring-forward (EDT, UTC-4)
    runs = registry.next_runs(
        "trading_morning_decision", 2, after=datetime(2026, 3, 6, 12, tzinfo=UTC)
    )
    assert [r.isoformat() for r in runs] == [
        "2026-03-06T14:30:00+00:00",
        "2026-03-09T13:30:00+00:00",
    ]
    app.close()


async def test_daily_report_summarises_the_ledger(env: Path) -> None:
    app = load_app(str(EXAMPLES / "daily_report.py"))
    await app.cron_registry.trigger_now("daily_report")
    await app.cron_registry.trigger_now("daily_report")
    text = (env / "daily_report.md").read_text()
    assert text.startswith("# Cron report\n")
    assert "| daily_report | 1 | 1 | 0 | 0 |" in text  # the first run, seen by the second
    app.close()


async def test_data_cleanup_runs_the_legacy_shell_command(
    env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("CLEAN_DIR", str(cache))
    old, fresh, other = cache / "old.tmp", cache / "fresh.tmp", cache / "keep.log"
    for path in (old, fresh, other):
        path.write_text("x")
    ten_days_ago = time.time() - 10 * 86400
    os.utime(old, (ten_days_ago, ten_days_ago))
    os.utime(other, (ten_days_ago, ten_days_ago))
    app = load_app(str(EXAMPLES / "data_cleanup.py"))
    execution_id = await app.cron_registry.trigger_now("weekly_data_cleanup")
    execution = app.ledger.get_execution(execution_id)
    assert execution.exit_code == 0
    assert (execution.output_tail or "").strip().splitlines()[-1].strip() == "1"
    assert not old.exists() and fresh.exists() and other.exists()
    app.close()


async def test_focus_selects_the_skills_the_agent_sees(env: Path) -> None:
    app = load_app(str(EXAMPLES / "focus_skills.py"))
    agent = app.agent
    execution_id = await app.cron_registry.trigger_now("restock_planner")
    execution = app.ledger.get_execution(execution_id)
    assert execution.decision_mode == "agent" and execution.llm_calls == 1
    prompt = agent.prompts[-1]
    assert "inventory_monitor" in prompt and "inventory-restock" in prompt
    assert "pricing-review" not in prompt and "log-triage" not in prompt
    await app.cron_registry.trigger_now("log_triage")
    assert "log-triage" in agent.prompts[-1] and "inventory-restock" not in agent.prompts[-1]
    app.close()


async def test_governance_cooldown_skips_and_is_not_a_failure(env: Path) -> None:
    app = load_app(str(EXAMPLES / "governance.py"))
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    first = await app.dispatch("sync_price_feed", scheduled_at=now)
    second = await app.dispatch("sync_price_feed", scheduled_at=now + timedelta(minutes=10))
    assert ExecutionStatus(first[0].status) is ExecutionStatus.FALLBACK  # weight 0: the legacy body
    assert ExecutionStatus(second[0].status) is ExecutionStatus.SKIPPED
    assert "cooldown" in (second[0].skip_reason or "")
    stats = app.ledger.stats("sync_price_feed")
    assert stats.overall.executions == 1 and stats.overall.failures == 0 and stats.skipped == 1
    log = (env / "price_feed.log").read_text().splitlines()
    assert len(log) == 1
    app.close()
