"""Failure and breaker notifications: Slack-compatible webhooks, generic webhooks and email.

OwlClaw's ``ErrorNotifier`` notified only for failure counts 1, 3 and 5 but was called only when
the breaker opened with 6 or more failures, so it never fired; its configured channels were
strings nothing turned into senders (reference/owlclaw.md section 3.9, item 12). Here the
pipeline reports every finished run with its consecutive-failure count, the notifier sends on
the configured counts (1st, 3rd and 5th by default) and whenever a breaker opens or closes.

Delivery never blocks or breaks a run: notifications go to a background thread, each channel
has a short timeout, and a failed delivery is logged (``notification_failed``) and dropped.
"""

from __future__ import annotations

import abc
import json
import queue
import smtplib
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import structlog

from owlclaw_runtime.config import (
    EmailChannel,
    NotificationChannel,
    NotificationSettings,
    Settings,
    SlackChannel,
    WebhookChannel,
)
from owlclaw_runtime.observability.hooks import RuntimeObserver
from owlclaw_runtime.redact import redact
from owlclaw_runtime.triggers.models import CronExecution, CronTriggerConfig, ExecutionStatus

_log = structlog.get_logger("owlclaw.notify")


@dataclass(frozen=True)
class Notification:
    """What is sent: ``kind`` is ``failure``, ``breaker_opened`` or ``breaker_closed``."""

    kind: str
    event_name: str
    title: str
    fields: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def text(self) -> str:
        lines = [self.title]
        lines += [f"{name}: {value}" for name, value in self.fields.items() if value is not None]
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "event_name": self.event_name,
            "title": self.title,
            "text": self.text,
            "fields": self.fields,
            "at": self.at.isoformat(),
        }


class DeliveryError(Exception):
    """A channel could not deliver a notification."""


class Channel(abc.ABC):
    """One destination. ``send`` delivers synchronously within ``timeout`` seconds or raises
    :class:`DeliveryError` (or an ``OSError``); the notifier calls it from its own thread."""

    name: str

    @abc.abstractmethod
    def send(self, notification: Notification, timeout: float) -> None:
        """Deliver one notification."""


def _post_json(url: str, payload: dict[str, Any], headers: dict[str, str], timeout: float) -> None:
    body = json.dumps(payload).encode("utf-8")
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("User-Agent", "owlmigrate-notifier")
    for name, value in headers.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code} from {redact(url)}") from exc
    except urllib.error.URLError as exc:
        raise DeliveryError(f"cannot reach {redact(url)}: {exc.reason}") from exc
    if not 200 <= status < 300:
        raise DeliveryError(f"HTTP {status} from {redact(url)}")


class SlackWebhook(Channel):
    """Slack incoming-webhook payload (``{"text": ...}``), also understood by Mattermost and
    Rocket.Chat."""

    name = "slack"

    def __init__(self, config: SlackChannel) -> None:
        self.config = config

    def send(self, notification: Notification, timeout: float) -> None:
        payload: dict[str, Any] = {"text": notification.text}
        if self.config.username:
            payload["username"] = self.config.username
        if self.config.channel:
            payload["channel"] = self.config.channel
        _post_json(self.config.webhook_url, payload, {}, timeout)


class JsonWebhook(Channel):
    """The notification as a JSON object (:meth:`Notification.as_json`) in a POST body."""

    name = "webhook"

    def __init__(self, config: WebhookChannel) -> None:
        self.config = config

    def send(self, notification: Notification, timeout: float) -> None:
        _post_json(self.config.url, notification.as_json(), self.config.headers, timeout)


class SmtpEmail(Channel):
    """A plain-text email through an SMTP server (``smtplib``)."""

    name = "email"

    def __init__(self, config: EmailChannel) -> None:
        self.config = config

    def send(self, notification: Notification, timeout: float) -> None:
        cfg = self.config
        message = EmailMessage()
        message["Subject"] = f"[owlmigrate] {notification.title}"
        message["From"] = cfg.sender
        message["To"] = ", ".join(cfg.recipients)
        message.set_content(notification.text + "\n")
        smtp_class = smtplib.SMTP_SSL if cfg.ssl else smtplib.SMTP
        try:
            with smtp_class(cfg.smtp_host, cfg.smtp_port, timeout=timeout) as smtp:
                if cfg.starttls and not cfg.ssl:
                    smtp.starttls()
                if cfg.username and cfg.password is not None:
                    smtp.login(cfg.username, cfg.password.get_secret_value())
                smtp.send_message(message)
        except smtplib.SMTPException as exc:
            raise DeliveryError(f"SMTP {cfg.smtp_host}:{cfg.smtp_port}: {exc}") from exc


def build_channel(config: NotificationChannel) -> Channel:
    """The sender for one configured channel."""
    if isinstance(config, SlackChannel):
        return SlackWebhook(config)
    if isinstance(config, WebhookChannel):
        return JsonWebhook(config)
    return SmtpEmail(config)


_STOP = object()


class ErrorNotifier(RuntimeObserver):
    """A :class:`RuntimeObserver` that sends notifications on configured consecutive-failure
    counts and on breaker transitions (closed → open, and back to closed).

    ``channels`` overrides the ones built from ``settings`` (tests, custom senders).
    Sending happens on one daemon thread; :meth:`flush` waits for the queue to drain and
    :meth:`close` stops the thread.
    """

    def __init__(
        self,
        settings: NotificationSettings | Settings | None = None,
        *,
        channels: Sequence[Channel] | None = None,
    ) -> None:
        if isinstance(settings, Settings):
            settings = settings.cron.notifications
        self.settings = settings if settings is not None else NotificationSettings()
        if channels is not None:
            self.channels = list(channels)
        elif self.settings.enabled:
            self.channels = [build_channel(c) for c in self.settings.channels]
        else:
            self.channels = []
        self.delivered = 0
        self.failed = 0
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- RuntimeObserver -------------------------------------------------------------------

    def execution_finished(
        self, config: CronTriggerConfig, execution: CronExecution, consecutive_failures: int
    ) -> None:
        if ExecutionStatus(execution.status) is not ExecutionStatus.FAILED:
            return
        if consecutive_failures not in self.settings.notify_on_failures:
            return
        ordinal = _ordinal(consecutive_failures)
        self.notify(
            Notification(
                kind="failure",
                event_name=config.event_name,
                title=f"{config.event_name} failed ({ordinal} consecutive failure)",
                fields={
                    "Event Name": config.event_name,
                    "Expression": config.expression,
                    "Timezone": config.timezone,
                    "Scheduled At": _iso(execution.scheduled_at),
                    "Triggered At": _iso(execution.triggered_at),
                    "Decision Mode": execution.decision_mode,
                    "Error": redact(execution.error_message or "") or None,
                    "Exit Code": execution.exit_code,
                    "Retry Count": execution.retry_count,
                    "Consecutive Failures": consecutive_failures,
                    "Execution Id": execution.execution_id,
                },
            )
        )

    def breaker_changed(self, config: CronTriggerConfig, state: str, previous: str) -> None:
        if not self.settings.notify_breaker:
            return
        # Only real transitions: open -> half_open -> open is one outage, not a new one.
        if state == "open" and previous == "closed":
            kind, title = "breaker_opened", f"{config.event_name}: circuit breaker opened"
        elif state == "closed" and previous in ("open", "half_open"):
            kind, title = "breaker_closed", f"{config.event_name}: circuit breaker closed"
        else:
            return
        self.notify(
            Notification(
                kind=kind,
                event_name=config.event_name,
                title=title,
                fields={
                    "Event Name": config.event_name,
                    "Expression": config.expression,
                    "State": state,
                    "Previous": previous,
                },
            )
        )

    # -- delivery --------------------------------------------------------------------------

    def notify(self, notification: Notification) -> None:
        """Queue a notification for every channel; returns immediately."""
        if not self.channels:
            return
        self._ensure_thread()
        self._queue.put(notification)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued notification was attempted; False on timeout."""
        done = threading.Event()
        if self._thread is None:
            return True
        self._queue.put(done)
        return done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (within ``timeout``) and stop the sending thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="owlclaw-notifier", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            for channel in self.channels:
                self._deliver(channel, item)

    def _deliver(self, channel: Channel, notification: Notification) -> None:
        try:
            channel.send(notification, self.settings.timeout_seconds)
        except Exception as exc:  # any failure is logged and dropped: never break a run
            self.failed += 1
            _log.warning(
                "notification_failed",
                channel=channel.name,
                kind=notification.kind,
                event_name=notification.event_name,
                error=redact(f"{type(exc).__name__}: {exc}"),
            )
        else:
            self.delivered += 1
            _log.info(
                "notification_sent",
                channel=channel.name,
                kind=notification.kind,
                event_name=notification.event_name,
            )


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


__all__ = [
    "Channel",
    "DeliveryError",
    "ErrorNotifier",
    "JsonWebhook",
    "Notification",
    "SlackWebhook",
    "SmtpEmail",
    "build_channel",
]
