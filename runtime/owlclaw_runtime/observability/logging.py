"""Structured logs with the seed's event names, and no secret in any of them.

OwlClaw's ``CronLogger`` used the standard library with its own message names
(reference/owlclaw.md sections 2.8 and 3.9); this one uses structlog with the names from the
design (``cron_trigger_registered`` ... ``cron_circuit_breaker_opened``). Every string that
reaches a log line, from our code or from a library through the standard ``logging`` module,
passes :func:`redact_event` first.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any, TextIO

import structlog

from owlclaw_runtime.config import LoggingSettings, Settings
from owlclaw_runtime.observability.hooks import RuntimeObserver
from owlclaw_runtime.redact import MASK, is_secret_name, redact
from owlclaw_runtime.triggers.models import CronExecution, CronTriggerConfig, ExecutionStatus

LOGGER_NAME = "owlclaw.cron"
_HANDLER_MARK = "_owlclaw_handler"
_open_files: list[TextIO] = []


def _redact_value(key: str | None, value: Any) -> Any:
    if key is not None and is_secret_name(key) and value not in (None, ""):
        return MASK
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(None, v) for v in value]
    if isinstance(value, BaseException):
        return redact(f"{type(value).__name__}: {value}")
    return value


def redact_event(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: redact every string value (nested too) and mask any value whose key
    looks secret (``password``, ``token``, ``api_key`` ...)."""
    for key in list(event_dict):
        event_dict[key] = _redact_value(None if key == "event" else key, event_dict[key])
    return event_dict


def _redact_rendered(logger: Any, method_name: str, event_dict: Any) -> Any:
    # Tracebacks are rendered into a string by format_exc_info; redact them once more.
    if isinstance(event_dict, MutableMapping) and isinstance(event_dict.get("exception"), str):
        event_dict["exception"] = redact(event_dict["exception"])
    return event_dict


def _open_destination(destination: str) -> TextIO:
    if destination == "stderr":
        return sys.stderr
    if destination == "stdout":
        return sys.stdout
    path = Path(destination)
    path.parent.mkdir(parents=True, exist_ok=True)
    stream: TextIO = path.open("a", encoding="utf-8", buffering=1)  # line-buffered: tail -f works
    _open_files.append(stream)
    return stream


def configure_logging(settings: Settings | LoggingSettings | None = None) -> None:
    """Set up structlog (and route the standard ``logging`` module through the same redaction
    and renderer) from ``settings.logging``: level, ``json`` or ``console``, and destination
    (``stderr``, ``stdout`` or a file path, appended to). Calling it again replaces the setup."""
    if settings is None:
        cfg = LoggingSettings()
    elif isinstance(settings, Settings):
        cfg = settings.logging
    else:
        cfg = settings
    for stream in _open_files:
        stream.close()
    _open_files.clear()
    stream = _open_destination(cfg.destination)
    level = logging.getLevelNamesMapping()[cfg.level]
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=True)
        if cfg.format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_event,
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            _redact_rendered,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.WriteLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    # Libraries log through the standard module; give them the same processors and output.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _redact_rendered,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


class CronLogger(RuntimeObserver):
    """A :class:`RuntimeObserver` writing one structured line per runtime event.

    Levels follow the seed: skipped runs are warnings, an opening breaker is critical."""

    def __init__(self, logger: Any = None) -> None:
        self._logger = logger

    @property
    def log(self) -> Any:
        # Looked up on each use, so configure_logging() after construction still applies.
        return self._logger if self._logger is not None else structlog.get_logger(LOGGER_NAME)

    def trigger_registered(self, config: CronTriggerConfig) -> None:
        self.log.info(
            "cron_trigger_registered",
            event_name=config.event_name,
            expression=config.expression,
            timezone=config.timezone,
            dialect=config.dialect,
            semantics=config.semantics,
            migration_weight=config.migration_weight,
            enabled=config.enabled,
        )

    def trigger_fired(self, config: CronTriggerConfig, scheduled_at: Any, runs: int) -> None:
        self.log.info(
            "cron_trigger_fired",
            event_name=config.event_name,
            scheduled_at=_iso(scheduled_at),
            runs=runs,
        )

    def execution_started(self, config: CronTriggerConfig, execution: CronExecution) -> None:
        delay = None
        if execution.triggered_at is not None and execution.scheduled_at is not None:
            delay = round((execution.triggered_at - execution.scheduled_at).total_seconds(), 3)
        self.log.info(
            "cron_execution_started",
            event_name=config.event_name,
            execution_id=execution.execution_id,
            trigger_type=execution.trigger_type,
            decision_mode=execution.decision_mode,
            migration_weight=execution.migration_weight,
            scheduled_at=_iso(execution.scheduled_at),
            delay_seconds=delay,
            retry_count=execution.retry_count,
        )

    def execution_finished(
        self, config: CronTriggerConfig, execution: CronExecution, consecutive_failures: int
    ) -> None:
        status = ExecutionStatus(execution.status)
        fields: dict[str, Any] = {
            "event_name": config.event_name,
            "execution_id": execution.execution_id,
            "status": status.value,
            "trigger_type": execution.trigger_type,
            "decision_mode": execution.decision_mode,
            "duration_seconds": execution.duration_seconds,
            "retry_count": execution.retry_count,
        }
        if status is ExecutionStatus.SKIPPED:
            self.log.warning("cron_execution_skipped", skip_reason=execution.skip_reason, **fields)
        elif status is ExecutionStatus.FAILED:
            self.log.error(
                "cron_execution_failed",
                error_message=execution.error_message,
                exit_code=execution.exit_code,
                consecutive_failures=consecutive_failures,
                **fields,
            )
        else:
            self.log.info(
                "cron_execution_completed",
                cost_usd=execution.cost_usd,
                llm_calls=execution.llm_calls,
                exit_code=execution.exit_code,
                **fields,
            )

    def breaker_changed(self, config: CronTriggerConfig, state: str, previous: str) -> None:
        if state == "open":
            self.log.critical(
                "cron_circuit_breaker_opened", event_name=config.event_name, previous=previous
            )
        elif state == "closed":
            self.log.info(
                "cron_circuit_breaker_closed", event_name=config.event_name, previous=previous
            )
        else:
            self.log.info(
                "cron_circuit_breaker_half_open", event_name=config.event_name, previous=previous
            )


__all__ = ["LOGGER_NAME", "CronLogger", "configure_logging", "redact_event"]
