"""``owlmigrate trigger`` and ``owlmigrate status`` through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from owlclaw_runtime.ledger import open_store

from owlmigrate.cli import cli

APP = '''
from datetime import datetime, timezone
from owlclaw_runtime import OwlClawApp

app = OwlClawApp("cli-app", clock=lambda: datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc))

@app.cron("30 2 * * *", timezone="Europe/London", migration_weight=0.0)
def backup(context):
    """Nightly backup."""
    print("backup for", context.get("reason"))

@app.cron("*/15 * * * *", migration_weight=0.0, retry_on_failure=False)
def broken():
    raise RuntimeError("exit status 3")
'''


@pytest.fixture
def app_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("OWLCLAW_LEDGER_URL", raising=False)
    path = tmp_path / "app.py"
    path.write_text(APP)
    return path


def _ledger(app_file: Path):
    return open_store(f"sqlite:///{app_file.parent / 'owlclaw-ledger.db'}", app_name="cli-app")


def test_trigger_success_exits_0_and_passes_context(app_file: Path) -> None:
    result = CliRunner().invoke(
        cli, ["trigger", "backup", "--app", str(app_file), "--context", "reason=hotfix"]
    )
    assert result.exit_code == 0, result.output
    store = _ledger(app_file)
    try:
        (execution,) = store.history("backup")
    finally:
        store.close()
    assert execution.context["reason"] == "hotfix"
    assert execution.trigger_type == "manual"
    assert result.stdout == (
        f"backup: fallback (fallback, execution {execution.execution_id}, "
        f"{execution.duration_seconds:.2f}s)\n"
    )
    assert result.stderr == "backup for hotfix\n"  # the job's own output, off stdout


def test_trigger_failure_exits_1_with_json(app_file: Path) -> None:
    result = CliRunner().invoke(cli, ["trigger", "broken", "--app", f"{app_file}:app", "--json"])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["status"] == "failed" and data["trigger_type"] == "manual"
    assert data["error_message"] == "RuntimeError: exit status 3"
    assert data["triggered_at"] == "2026-03-02T12:00:00Z"


def test_trigger_skipped_exits_1(app_file: Path) -> None:
    import asyncio

    from owlclaw_runtime.loader import load_app

    app = load_app(app_file)
    asyncio.run(app.cron_registry.pause_trigger("backup"))
    app.close()
    result = CliRunner().invoke(cli, ["trigger", "backup", "--app", str(app_file)])
    assert result.exit_code == 1
    assert result.output.startswith("backup: skipped (fallback, execution ")
    assert result.output.endswith(": paused\n")


def test_trigger_usage_errors_exit_2(app_file: Path) -> None:
    runner = CliRunner()
    unknown = runner.invoke(cli, ["trigger", "nope", "--app", str(app_file)])
    assert unknown.exit_code == 2
    assert "no cron trigger named 'nope' (known: backup, broken)" in unknown.output
    bad = runner.invoke(cli, ["trigger", "backup", "--app", str(app_file), "--context", "x"])
    assert bad.exit_code == 2 and "expected KEY=VALUE" in bad.output


def test_missing_app_exits_2_naming_it(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["status", "--app", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert result.output == f"owlmigrate: {tmp_path / 'none'}: no such app file or directory\n"


def test_status_json_has_exactly_the_contract_keys(app_file: Path) -> None:
    runner = CliRunner()
    runner.invoke(cli, ["trigger", "backup", "--app", str(app_file)])
    runner.invoke(cli, ["trigger", "broken", "--app", str(app_file)])
    result = runner.invoke(cli, ["status", "--app", str(app_file), "--json", "--next", "2"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert list(data) == ["triggers"]
    backup, broken = data["triggers"]
    assert set(backup) == {
        "event_name",
        "enabled",
        "expression",
        "timezone",
        "migration_weight",
        "next_runs",
        "success_rate",
        "breaker",
        "last_runs",
    }
    assert backup["event_name"] == "backup" and backup["enabled"] is True
    assert (backup["expression"], backup["timezone"]) == ("30 2 * * *", "Europe/London")
    assert backup["next_runs"] == ["2026-03-03T02:30:00Z", "2026-03-04T02:30:00Z"]
    assert backup["success_rate"] == 1.0 and backup["breaker"] == "closed"
    (run,) = backup["last_runs"]
    assert set(run) == {
        "execution_id",
        "status",
        "decision_mode",
        "scheduled_at",
        "triggered_at",
        "duration_seconds",
        "error_message",
    }
    assert (run["status"], run["decision_mode"]) == ("fallback", "fallback")
    assert broken["success_rate"] == 0.0
    assert broken["last_runs"][0]["error_message"] == "RuntimeError: exit status 3"
    assert broken["next_runs"] == [
        "2026-03-02T12:15:00Z",
        "2026-03-02T12:30:00Z",
    ]


def test_status_text_for_one_job(app_file: Path) -> None:
    runner = CliRunner()
    runner.invoke(cli, ["trigger", "broken", "--app", str(app_file)])
    result = runner.invoke(cli, ["status", "broken", "--app", str(app_file), "--last", "1"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == ("broken: enabled, */15 * * * * (UTC), weight 0, success 0%, breaker closed")
    assert lines[1] == "  next: 2026-03-02T12:15:00Z"
    assert lines[2].startswith("  2026-03-02T12:00:00Z failed (fallback) ")
    assert lines[2].endswith("s RuntimeError: exit status 3")
    assert len(lines) == 3


def test_status_of_a_generated_app_directory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("OWLCLAW_LEDGER_URL", raising=False)
    (tmp_path / "owlclaw_app.py").write_text(APP)
    (tmp_path / "owlmigrate.json").write_text(
        json.dumps({"format_version": 1, "module": "owlclaw_app.py", "attr": "app", "jobs": {}})
    )
    monkeypatch.chdir(tmp_path)  # --app defaults to the current directory
    result = CliRunner().invoke(cli, ["status", "--json"])
    assert result.exit_code == 0, result.output
    assert [t["event_name"] for t in json.loads(result.output)["triggers"]] == ["backup", "broken"]
    assert (tmp_path / "owlclaw-ledger.db").exists()


@pytest.mark.parametrize("name", ["trigger", "status"])
def test_help_has_an_example(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0 and "Example:" in result.output


def test_a_broken_app_exits_1_naming_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        "from owlclaw_runtime import OwlClawApp\napp = OwlClawApp('x')\n"
        "@app.cron('99 * * * *')\ndef job(): ...\n"
    )
    result = CliRunner().invoke(cli, ["trigger", "job", "--app", str(tmp_path / "app.py")])
    assert result.exit_code == 1
    assert result.output.startswith(f"owlmigrate: {tmp_path / 'app.py'}:3: ")
    assert "invalid cron expression '99 * * * *'" in result.output


def test_a_directory_without_manifest_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["status", "--app", str(tmp_path)])
    assert result.exit_code == 2
    assert "owlmigrate.json is missing" in result.output


def test_cli_applies_the_worker_configuration(
    app_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the same tenant and trigger defaults a worker would use (OWLCLAW_* environment)
    monkeypatch.setenv("OWLCLAW_TENANT_ID", "acme")
    result = CliRunner().invoke(cli, ["trigger", "backup", "--app", str(app_file), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["tenant_id"] == "acme"
    store = _ledger(app_file)
    try:
        assert store.history("backup") == []
        assert len(store.history("backup", tenant_id="acme")) == 1
    finally:
        store.close()
