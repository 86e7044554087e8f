"""``OwlClawApp.cron``: names, descriptions, fallbacks, validation, and start/stop."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import pytest
from owlclaw_runtime.app import OwlClawApp
from owlclaw_runtime.errors import ConfigurationError
from owlclaw_runtime.ledger import LedgerStore, TriggerState
from runtime_helpers import RecordingBackend, ScriptedAgent, new_app


def test_name_description_and_fallback_default_to_the_function(ledger_store: LedgerStore) -> None:
    app, _, _ = new_app(ledger_store)

    @app.cron("0 * * * *", migration_weight=0.0)
    async def hourly_check(context: dict) -> str:
        """Check the inventory.

        More details."""
        return "done"

    config = app.cron_registry.get_trigger("hourly_check")
    assert config is not None
    assert config.description == "Check the inventory.\n\nMore details."
    assert config.fallback_handler is not None
    assert config.fallback_handler.__name__ == "hourly_check"
    # functools.wraps keeps the metadata, and the wrapper still calls the function
    assert hourly_check.__name__ == "hourly_check"
    assert hourly_check.__doc__.startswith("Check the inventory.")
    assert inspect.iscoroutinefunction(hourly_check)
    assert asyncio.run(hourly_check({})) == "done"
    assert hourly_check.event_name == "hourly_check"


def test_explicit_name_focus_description_fallback_and_config(ledger_store: LedgerStore) -> None:
    app, _, _ = new_app(ledger_store)

    def legacy() -> int:
        return 3

    @app.cron(
        "25 9 * * 1-5",
        event_name="morning",
        focus=["trading", "risk"],
        description="Morning decision",
        fallback=legacy,
        timezone="Asia/Shanghai",
        dialect="cronie",
        semantics="wallclock",
        migration_weight=0.0,
        priority=5,
    )
    def decide() -> int:
        """ignored docstring"""
        return 1

    config = app.cron_registry.get_trigger("morning")
    assert config is not None
    assert config.focus == ["trading", "risk"]
    assert config.description == "Morning decision"
    assert config.fallback_handler is legacy
    assert (config.timezone, config.dialect, config.semantics, config.priority) == (
        "Asia/Shanghai",
        "cronie",
        "wallclock",
        5,
    )
    assert not inspect.iscoroutinefunction(decide)
    assert decide() == 1
    assert [c.event_name for c in app.cron_registry.list_triggers()] == ["morning"]


def test_fallback_none_means_agent_only(ledger_store: LedgerStore) -> None:
    app, _, _ = new_app(ledger_store)

    @app.cron("0 * * * *", fallback=None)
    async def agent_only() -> None:
        raise AssertionError("must never run as a fallback")

    config = app.cron_registry.get_trigger("agent_only")
    assert config is not None and config.fallback_handler is None


def test_unknown_key_is_named(ledger_store: LedgerStore) -> None:
    app, _, _ = new_app(ledger_store)
    with pytest.raises(ConfigurationError, match="unknown key 'max_dialy_runs'") as info:

        @app.cron("0 * * * *", max_dialy_runs=3)
        def job() -> None: ...

    assert info.value.field == "max_dialy_runs"
    assert "job" not in app.cron_registry


def test_invalid_value_is_named(ledger_store: LedgerStore) -> None:
    app, _, _ = new_app(ledger_store)
    with pytest.raises(ConfigurationError, match="migration_weight") as info:
        app.cron_registry.register("w", "0 * * * *", migration_weight=1.5)
    assert info.value.field == "migration_weight"


def test_duplicate_names_are_refused(ledger_store: LedgerStore) -> None:
    app, _, _ = new_app(ledger_store)
    app.cron_registry.register("dup", "0 * * * *", migration_weight=0.0)
    with pytest.raises(ConfigurationError, match="already registered"):
        app.cron_registry.register("dup", "5 * * * *", migration_weight=0.0)


@pytest.mark.parametrize(
    ("expression", "dialect"),
    [("61 * * * *", "debian"), ("* * * *", "debian"), ("0 0 * * * *", "cronie")],
    ids=["minute-out-of-range", "four-fields", "six-fields"],
)
def test_invalid_expressions_are_refused_for_their_dialect(
    ledger_store: LedgerStore, expression: str, dialect: str
) -> None:
    app, _, _ = new_app(ledger_store)
    with pytest.raises(ConfigurationError, match="invalid cron expression") as info:
        app.cron_registry.register("bad", expression, dialect=dialect, migration_weight=0.0)
    assert info.value.field == "expression"
    assert "bad" not in app.cron_registry


def test_unknown_timezone_is_refused(ledger_store: LedgerStore) -> None:
    app, _, _ = new_app(ledger_store)
    with pytest.raises(ConfigurationError, match="unknown timezone 'Mars/Olympus'"):
        app.cron_registry.register("tz", "0 * * * *", timezone="Mars/Olympus")


def test_unknown_trigger_lookup_names_the_known_ones(ledger_store: LedgerStore) -> None:
    app, _, _ = new_app(ledger_store)
    app.cron_registry.register("a", "0 * * * *", migration_weight=0.0)
    assert app.cron_registry.get_trigger("zzz") is None
    with pytest.raises(ConfigurationError, match=r"no cron trigger named 'zzz' \(known: a\)"):
        app.cron_registry.require("zzz")


async def test_start_refuses_weight_above_zero_without_agent(ledger_store: LedgerStore) -> None:
    app, _, _ = new_app(ledger_store)
    app.cron_registry.register("safe", "0 * * * *", fallback_handler=print, migration_weight=0.0)
    app.cron_registry.register("agentic", "0 * * * *", fallback_handler=print, migration_weight=0.5)
    app.cron_registry.register("only_agent", "0 * * * *", migration_weight=0.0)
    with pytest.raises(ConfigurationError) as info:
        await app.start(RecordingBackend(app))
    message = str(info.value)
    assert "agentic (migration_weight 0.5)" in message
    assert "only_agent (no fallback)" in message
    assert "safe" not in message
    assert app.backend is None


async def test_start_refusal_uses_the_ledger_weight_override(ledger_store: LedgerStore) -> None:
    app, _, _ = new_app(ledger_store)
    app.cron_registry.register("job", "0 * * * *", fallback_handler=print, migration_weight=0.0)
    ledger_store.save_trigger_state(TriggerState(event_name="job", migration_weight=0.1))
    with pytest.raises(ConfigurationError, match=r"job \(migration_weight 0.1\)"):
        await app.start(RecordingBackend(app))


async def test_start_and_stop_with_a_backend_instance(ledger_store: LedgerStore) -> None:
    app, _, _ = new_app(ledger_store, agent=ScriptedAgent())
    app.cron_registry.register("job", "0 * * * *", fallback_handler=print, migration_weight=0.5)
    backend = RecordingBackend(app)
    assert await app.start(backend) is backend
    assert backend.started and app.backend is backend and app.backend_name == "recording"
    with pytest.raises(RuntimeError, match="already started"):
        await app.start(backend)
    await app.stop()
    assert not backend.started and app.backend is None and app.backend_name == "inline"


async def test_start_by_unknown_backend_name_is_a_configuration_error(
    ledger_store: LedgerStore,
) -> None:
    app, _, _ = new_app(ledger_store)
    with pytest.raises(ConfigurationError, match="backend"):
        await app.start("carrier-pigeon")
    assert app.backend is None


async def test_stop_waits_for_in_flight_runs(ledger_store: LedgerStore) -> None:
    app, clock, _ = new_app(ledger_store)
    finished: list[bool] = []

    @app.cron("* * * * *", migration_weight=0.0)
    async def slow() -> None:
        await asyncio.sleep(0.2)
        finished.append(True)

    await app.start(RecordingBackend(app))
    task = asyncio.create_task(app.dispatch("slow", scheduled_at=clock()))
    await asyncio.sleep(0.05)
    assert app.pipeline.inflight == 1
    await app.stop()
    assert finished == [True]
    (execution,) = ledger_store.history("slow")
    assert execution.status.value == "fallback"
    await task


def test_agent_by_import_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_agent_mod.py").write_text(
        "class Agent:\n"
        "    async def trigger_event(self, event_name, *, focus=None, payload=None,"
        " tenant_id='default'):\n"
        "        return {'status': 'completed', 'run_id': 'x'}\n"
        "INSTANCE = Agent()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    by_class = OwlClawApp("a", agent="my_agent_mod:Agent", ledger=f"sqlite:///{tmp_path}/l.db")
    assert type(by_class.agent).__name__ == "Agent"
    by_instance = OwlClawApp(
        "b", agent="my_agent_mod:INSTANCE", ledger=f"sqlite:///{tmp_path}/l.db"
    )
    assert by_instance.agent is not None and by_instance.agent.__class__.__name__ == "Agent"
    for spec, message in [
        ("no_colon", "module:attr"),
        ("nonexistent_mod_xyz:A", "cannot import"),
        ("my_agent_mod:Missing", "no attribute 'Missing'"),
        ("os:sep", "no trigger_event"),
    ]:
        with pytest.raises(ConfigurationError, match=message):
            _ = OwlClawApp("c", agent=spec).agent


def test_app_arguments_are_validated() -> None:
    with pytest.raises(ConfigurationError, match="max_concurrent"):
        OwlClawApp("x", max_concurrent=0)
    with pytest.raises(ConfigurationError, match="name"):
        OwlClawApp(" ")


def test_default_ledger_lives_in_the_app_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OWLCLAW_LEDGER_URL", raising=False)
    app = OwlClawApp("x", app_dir=tmp_path)
    try:
        assert app.ledger.history() == []
        assert (tmp_path / "owlclaw-ledger.db").exists()
    finally:
        app.close()


def test_run_blocks_until_stop_is_requested(tmp_path: Path) -> None:
    app = OwlClawApp("x", ledger=f"sqlite:///{tmp_path}/l.db")
    backend = RecordingBackend(app)

    async def main() -> None:
        asyncio.get_running_loop().call_later(0.05, app.request_stop)
        await app.serve(backend)

    asyncio.run(main())
    assert backend.started is False
    assert app.backend is None


def test_a_never_firing_expression_registers_with_a_warning(
    ledger_store: LedgerStore, caplog: pytest.LogCaptureFixture
) -> None:
    app, _, _ = new_app(ledger_store)
    with caplog.at_level("WARNING", logger="owlclaw_runtime.triggers"):
        app.cron_registry.register("feb31", "0 0 31 2 *", migration_weight=0.0)
    assert "feb31" in app.cron_registry
    assert app.cron_registry.next_runs("feb31") == []
    assert any("never fires" in r.getMessage() for r in caplog.records)
