"""CronLogger + configure_logging: the seed's event names, levels, formats, and no secrets."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import structlog
from owlclaw_runtime.config import LoggingSettings, load_settings
from owlclaw_runtime.observability.logging import CronLogger, configure_logging
from owlclaw_runtime.triggers.models import ExecutionStatus

from .helpers import config, execution


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_events_use_the_seed_names_and_levels(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "worker.log"
    configure_logging(LoggingSettings(destination=str(log_file), level="DEBUG"))
    observer = CronLogger()
    cfg = config()
    observer.trigger_registered(cfg)
    observer.trigger_fired(cfg, execution().scheduled_at, 2)
    observer.execution_started(cfg, execution(delay=0.5))
    observer.execution_finished(cfg, execution(), 0)
    observer.execution_finished(cfg, execution(ExecutionStatus.FAILED, error_message="boom"), 3)
    observer.execution_finished(cfg, execution(ExecutionStatus.SKIPPED, skip_reason="paused"), 0)
    observer.breaker_changed(cfg, "open", "closed")
    observer.breaker_changed(cfg, "half_open", "open")
    observer.breaker_changed(cfg, "closed", "half_open")
    got = [(e["event"], e["level"]) for e in lines(log_file)]
    assert got == [
        ("cron_trigger_registered", "info"),
        ("cron_trigger_fired", "info"),
        ("cron_execution_started", "info"),
        ("cron_execution_completed", "info"),
        ("cron_execution_failed", "error"),
        ("cron_execution_skipped", "warning"),
        ("cron_circuit_breaker_opened", "critical"),
        ("cron_circuit_breaker_half_open", "info"),
        ("cron_circuit_breaker_closed", "info"),
    ]
    records = lines(log_file)
    assert records[1]["runs"] == 2 and records[1]["scheduled_at"] == "2026-03-01T02:00:00+00:00"
    assert records[2]["delay_seconds"] == 0.5
    assert records[4]["consecutive_failures"] == 3 and records[4]["error_message"] == "boom"
    assert records[5]["skip_reason"] == "paused"
    assert all(r["event_name"] == "backup_db" and r["timestamp"].endswith("Z") for r in records)


def test_level_filters_lower_events(tmp_path: Path) -> None:
    log_file = tmp_path / "w.log"
    configure_logging(LoggingSettings(destination=str(log_file), level="warning"))
    observer = CronLogger()
    cfg = config()
    observer.execution_finished(cfg, execution(), 0)
    observer.execution_finished(cfg, execution(ExecutionStatus.SKIPPED), 0)
    assert [r["event"] for r in lines(log_file)] == ["cron_execution_skipped"]


def test_no_secret_reaches_the_log(tmp_path: Path) -> None:
    log_file = tmp_path / "w.log"
    configure_logging(load_settings(environ={}, logging={"destination": str(log_file)}))
    observer = CronLogger()
    failing = execution(
        ExecutionStatus.FAILED,
        error_message="pg_dump postgresql://app:s3cretpw@db/prod failed; PGPASSWORD=hunter22",
    )
    observer.execution_finished(config(), failing, 1)
    log = structlog.get_logger("test")
    log.info("custom", api_key="AKIAABCDEFGHIJKLMNOP", nested={"token": "tok-123", "ok": "fine"})
    logging.getLogger("some.library").warning("connecting with --password=opensesame")
    text = log_file.read_text()
    for secret in ("s3cretpw", "hunter22", "AKIAABCDEFGHIJKLMNOP", "tok-123", "opensesame"):
        assert secret not in text
    records = lines(log_file)
    assert records[0]["error_message"] == (
        "pg_dump postgresql://app:***@db/prod failed; PGPASSWORD=***"
    )
    assert records[1]["api_key"] == "***" and records[1]["nested"] == {
        "token": "***",
        "ok": "fine",
    }
    assert records[2]["event"] == "connecting with --password=***"
    assert records[2]["logger"] == "some.library"


def test_exceptions_are_rendered_and_redacted(tmp_path: Path) -> None:
    log_file = tmp_path / "w.log"
    configure_logging(LoggingSettings(destination=str(log_file)))
    try:
        raise RuntimeError("login failed for mysql -psupersecret")
    except RuntimeError:
        structlog.get_logger("t").exception("job_crashed")
    record = lines(log_file)[0]
    assert "RuntimeError" in record["exception"]
    assert "supersecret" not in log_file.read_text()


def test_console_format_is_human_readable(tmp_path: Path) -> None:
    log_file = tmp_path / "w.log"
    configure_logging(LoggingSettings(destination=str(log_file), format="console"))
    CronLogger().execution_finished(config(), execution(), 0)
    text = log_file.read_text()
    assert "cron_execution_completed" in text and "event_name=backup_db" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def test_stdout_destination(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(LoggingSettings(destination="stdout"))
    CronLogger().trigger_registered(config())
    out = capsys.readouterr().out
    assert json.loads(out.splitlines()[-1])["event"] == "cron_trigger_registered"
