"""``owlmigrate run``: starts the backend, serves /healthz, stops gracefully."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from owlmigrate.cli import cli

APP = '''
from owlclaw_runtime import OwlClawApp

app = OwlClawApp("run-test")


@app.cron("0 3 * * *", migration_weight=0.0)
def nightly(context):
    """Nightly job."""
'''


@pytest.fixture
def app_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "app.py"
    path.write_text(APP)
    monkeypatch.chdir(tmp_path)  # the default ledger file lands here, not in the repo
    for name in list(os.environ):
        if name.startswith("OWLCLAW_"):
            monkeypatch.delenv(name)
    # the worker's structured log goes to a file (CliRunner's stderr is closed afterwards)
    monkeypatch.setenv("OWLCLAW_LOGGING__DESTINATION", str(tmp_path / "worker.log"))
    return path


def test_run_stops_after_max_runtime_and_reports_json(app_file: Path) -> None:
    result = CliRunner().invoke(
        cli, ["run", "--app", str(app_file), "--max-runtime", "0.3", "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["backend"] == "local"
    assert summary["triggers"] == 1
    assert summary["stopped_by"] == "max_runtime"
    assert summary["http_url"] is None
    assert 0.3 <= summary["runtime_seconds"] < 10
    assert "owlmigrate: running 1 trigger(s) on local\n" in result.stderr
    assert "owlmigrate: stopping (max_runtime)\n" in result.stderr


def test_run_until_an_instant_in_the_past_stops_at_once(app_file: Path) -> None:
    result = CliRunner().invoke(
        cli, ["run", "--app", str(app_file), "--until", "2020-01-01T00:00:00Z"]
    )
    assert result.exit_code == 0, result.output
    assert "owlmigrate: stopping (max_runtime)\n" in result.stderr
    assert result.stderr.endswith("s\n") and "owlmigrate: stopped after" in result.stderr


def test_run_refuses_a_malformed_until(app_file: Path) -> None:
    result = CliRunner().invoke(cli, ["run", "--app", str(app_file), "--until", "tomorrow"])
    assert result.exit_code == 2
    assert "expected an ISO instant" in result.stderr


def test_run_hatchet_without_a_token_says_what_is_missing(
    app_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HATCHET_CLIENT_TOKEN", raising=False)
    result = CliRunner().invoke(
        cli, ["run", "--app", str(app_file), "--backend", "hatchet", "--max-runtime", "1"]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("owlmigrate: HATCHET_CLIENT_TOKEN is not set")
    assert "docs/backends.md" in result.stderr


def test_run_unknown_app_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.py"
    result = CliRunner().invoke(cli, ["run", "--app", str(missing)])
    # exit 1 or 2 is owlmigrate.commands.status.reports_errors' call (shared by every command)
    assert result.exit_code in (1, 2)
    assert result.stderr == f"owlmigrate: {missing}: no such app file or directory\n"


def test_sigterm_stops_a_running_worker_gracefully(app_file: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OWLCLAW_LEDGER_URL"}
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("owlmigrate")),
            "run",
            "--app",
            str(app_file),
            "--http-port",
            "0",
            "--max-runtime",
            "60",
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=app_file.parent,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"on (http://127\.0\.0\.1:\d+)$", line.strip())
        assert match, line
        with urllib.request.urlopen(match.group(1) + "/healthz", timeout=10) as response:
            health = json.loads(response.read())
        assert health["checks"]["backend"]["name"] == "local"
        assert health["checks"]["backend"]["ok"] is True
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "owlmigrate: stopping (SIGTERM)" in err
    assert "owlmigrate: stopped after" in err


def test_run_takes_backend_and_endpoint_from_the_configuration(
    app_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OWLCLAW_METRICS__HTTP_PORT", "0")
    result = CliRunner().invoke(
        cli, ["run", "--app", str(app_file), "--max-runtime", "0.3", "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", summary["http_url"])
    # observability was installed: the structured log names the trigger
    lines = [json.loads(line) for line in (app_file.parent / "worker.log").read_text().splitlines()]
    assert any(
        line.get("event") == "cron_trigger_registered" and line.get("event_name") == "nightly"
        for line in lines
    )
    monkeypatch.setenv("OWLCLAW_BACKEND", "hatchet")
    monkeypatch.delenv("HATCHET_CLIENT_TOKEN", raising=False)
    result = CliRunner().invoke(cli, ["run", "--app", str(app_file), "--max-runtime", "1"])
    assert result.exit_code == 1
    assert result.stderr.startswith("owlmigrate: HATCHET_CLIENT_TOKEN is not set")
    # the option wins over the configuration
    result = CliRunner().invoke(
        cli, ["run", "--app", str(app_file), "--backend", "local", "--max-runtime", "0.1"]
    )
    assert result.exit_code == 0, result.output
