"""ErrorNotifier against real servers on loopback: webhooks over http.server, email via aiosmtpd."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from owlclaw_runtime.config import (
    EmailChannel,
    LoggingSettings,
    NotificationSettings,
    SlackChannel,
    WebhookChannel,
    load_settings,
)
from owlclaw_runtime.observability.logging import configure_logging
from owlclaw_runtime.observability.notify import (
    ErrorNotifier,
    JsonWebhook,
    Notification,
    SlackWebhook,
    SmtpEmail,
)
from owlclaw_runtime.triggers.models import ExecutionStatus

from .helpers import config, execution, free_port, webhook_server


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler protocol
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


def fail_run(notifier: ErrorNotifier, count: int, name: str = "backup_db") -> None:
    failed = execution(
        ExecutionStatus.FAILED,
        name,
        error_message="exit status 2: PGPASSWORD=hunter22 pg_dump",
        exit_code=2,
        retry_count=1,
    )
    notifier.execution_finished(config(name), failed, count)


def test_slack_webhook_on_first_third_and_fifth_consecutive_failure() -> None:
    with webhook_server() as (url, received):
        settings = NotificationSettings(
            enabled=True,
            channels=[SlackChannel(type="slack", webhook_url=f"{url}/hook", username="owl")],
        )
        notifier = ErrorNotifier(settings)
        for n in range(1, 7):
            fail_run(notifier, n)
        notifier.execution_finished(config(), execution(), 0)  # success: nothing
        assert notifier.flush(10)
        bodies = received.bodies()
        assert [b["text"].splitlines()[0] for b in bodies] == [
            "backup_db failed (1st consecutive failure)",
            "backup_db failed (3rd consecutive failure)",
            "backup_db failed (5th consecutive failure)",
        ]
        assert all(b["username"] == "owl" for b in bodies)
        assert received.requests[0]["path"] == "/hook"
        text = bodies[0]["text"]
        assert "Expression: 0 2 * * *" in text and "Exit Code: 2" in text
        assert "hunter22" not in text and "PGPASSWORD=***" in text
        assert notifier.delivered == 3 and notifier.failed == 0
        notifier.close()


def test_generic_webhook_gets_json_for_breaker_open_and_close() -> None:
    with webhook_server() as (url, received):
        notifier = ErrorNotifier(
            channels=[JsonWebhook(WebhookChannel(type="webhook", url=url, headers={"X-Ops": "1"}))]
        )
        cfg = config()
        notifier.breaker_changed(cfg, "open", "closed")
        notifier.breaker_changed(cfg, "half_open", "open")  # probing: same outage
        notifier.breaker_changed(cfg, "open", "half_open")  # trial failed: same outage
        notifier.breaker_changed(cfg, "half_open", "open")
        notifier.breaker_changed(cfg, "closed", "half_open")
        assert notifier.flush(10)
        bodies = received.bodies()
        assert [b["kind"] for b in bodies] == ["breaker_opened", "breaker_closed"]
        assert bodies[0]["event_name"] == "backup_db"
        assert bodies[0]["fields"]["State"] == "open"
        assert bodies[1]["title"] == "backup_db: circuit breaker closed"
        assert received.requests[0]["headers"]["X-Ops"] == "1"
        assert received.requests[0]["headers"]["Content-Type"] == "application/json"
        notifier.close()


def test_email_over_smtp(smtp: tuple[int, Inbox]) -> None:
    port, inbox = smtp
    channel = EmailChannel(
        type="email",
        smtp_host="127.0.0.1",
        smtp_port=port,
        sender="cron@example.org",
        recipients=["ops@example.org", "dba@example.org"],
    )
    notifier = ErrorNotifier(NotificationSettings(enabled=True, channels=[channel]))
    fail_run(notifier, 1, "nightly_report")
    assert notifier.flush(10)
    assert len(inbox.messages) == 1
    sender, rcpts, raw = inbox.messages[0]
    assert sender == "cron@example.org"
    assert rcpts == ["ops@example.org", "dba@example.org"]
    message = message_from_bytes(raw)
    assert message["Subject"] == "[owlmigrate] nightly_report failed (1st consecutive failure)"
    body = message.get_payload()
    assert "Event Name: nightly_report" in body and "hunter22" not in body
    notifier.close()


def test_settings_build_all_channels_and_disabled_sends_nothing(tmp_path: Path) -> None:
    text = (
        "cron:\n  notifications:\n    enabled: {enabled}\n    channels:\n"
        "      - {{type: slack, webhook_url: 'http://127.0.0.1:9/a'}}\n"
        "      - {{type: webhook, url: 'http://127.0.0.1:9/b'}}\n"
        "      - {{type: email, smtp_host: 127.0.0.1, recipients: [a@b.c]}}\n"
    )
    on = tmp_path / "on.yaml"
    on.write_text(text.format(enabled="true"))
    notifier = ErrorNotifier(load_settings(config_file=on, environ={}))
    assert [type(c) for c in notifier.channels] == [SlackWebhook, JsonWebhook, SmtpEmail]
    off = tmp_path / "off.yaml"
    off.write_text(text.format(enabled="false"))
    quiet = ErrorNotifier(load_settings(config_file=off, environ={}))
    assert quiet.channels == []
    fail_run(quiet, 1)
    assert quiet.flush(1) and quiet.delivered == 0 and quiet.failed == 0


def test_delivery_failures_are_logged_and_never_raise(tmp_path: Path) -> None:
    log_file = tmp_path / "n.log"
    configure_logging(LoggingSettings(destination=str(log_file)))
    dead_port = free_port()  # nothing listens here
    with webhook_server(status=500) as (url, _received):
        notifier = ErrorNotifier(
            NotificationSettings(
                enabled=True,
                timeout_seconds=2,
                channels=[
                    WebhookChannel(type="webhook", url=f"http://127.0.0.1:{dead_port}/x"),
                    SlackChannel(type="slack", webhook_url=url),
                    EmailChannel(
                        type="email",
                        smtp_host="127.0.0.1",
                        smtp_port=dead_port,
                        recipients=["a@b.c"],
                    ),
                ],
            )
        )
        fail_run(notifier, 1)
        assert notifier.flush(15)
    assert notifier.failed == 3 and notifier.delivered == 0
    events = [json.loads(line) for line in log_file.read_text().splitlines()]
    failures = [e for e in events if e["event"] == "notification_failed"]
    assert sorted(e["channel"] for e in failures) == ["email", "slack", "webhook"]
    assert any("HTTP 500" in e["error"] for e in failures)
    notifier.close()


def test_a_slow_endpoint_never_blocks_the_run() -> None:
    with webhook_server(delay=1.5) as (url, received):
        notifier = ErrorNotifier(
            NotificationSettings(
                enabled=True,
                timeout_seconds=0.3,
                channels=[WebhookChannel(type="webhook", url=url)],
            )
        )
        started = time.monotonic()
        for n in (1, 3, 5):
            fail_run(notifier, n)
        assert time.monotonic() - started < 0.2  # the hook returns at once
        assert notifier.flush(10)
        assert notifier.failed == 3  # each timed out after 0.3 s
        notifier.close()
        assert received.arrived.wait(5)


def test_custom_counts_and_breaker_notifications_can_be_turned_off() -> None:
    sent: list[Notification] = []

    class Collect(JsonWebhook):
        name = "collect"

        def send(self, notification: Notification, timeout: float) -> None:
            sent.append(notification)

    settings = NotificationSettings(enabled=True, notify_on_failures=[2], notify_breaker=False)
    notifier = ErrorNotifier(
        settings, channels=[Collect(WebhookChannel(type="webhook", url="http://x"))]
    )
    for n in (1, 2, 3):
        fail_run(notifier, n)
    notifier.breaker_changed(config(), "open", "closed")
    assert notifier.flush(5)
    assert [n.fields["Consecutive Failures"] for n in sent] == [2]
    assert sent[0].title == "backup_db failed (2nd consecutive failure)"
    notifier.close()


async def test_install_observability_wires_all_three_into_a_real_app(tmp_path: Path) -> None:
    from owlclaw_runtime import OwlClawApp
    from owlclaw_runtime.observability.logging import CronLogger
    from owlclaw_runtime.observability.metrics import CronMetrics
    from owlclaw_runtime.observability.setup import install_observability

    app = OwlClawApp("wired", ledger=f"sqlite:///{tmp_path / 'l.db'}", app_dir=tmp_path)

    @app.cron("0 5 * * *", event_name="early", migration_weight=0.0, retry_on_failure=False)
    def early(context: dict) -> None:
        """Always fails."""
        raise RuntimeError("PGPASSWORD=hunter22 psql failed")

    log_file = tmp_path / "w.log"
    with webhook_server() as (url, received):
        settings = load_settings(
            environ={},
            config_file="/dev/null",
            logging={"destination": str(log_file)},
            cron={
                "notifications": {"enabled": True, "channels": [{"type": "webhook", "url": url}]}
            },
        )
        obs = install_observability(app, settings)
        assert [type(o) for o in obs.observers] == [CronMetrics, CronLogger, ErrorNotifier]
        assert all(o in app.observers for o in obs.observers)
        # registered before install: replayed, so the series exists already
        assert 'owlclaw_cron_circuit_breaker_open{event_name="early"} 0.0' in (
            obs.metrics.render().decode()
        )
        await app.cron_registry.trigger_now("early")
        obs.close()
        bodies = received.bodies()
    assert [b["kind"] for b in bodies] == ["failure"]
    assert "hunter22" not in json.dumps(bodies)
    events = [json.loads(line)["event"] for line in log_file.read_text().splitlines()]
    assert "cron_trigger_registered" in events and "cron_execution_failed" in events
    assert "hunter22" not in log_file.read_text()
    app.close()


def test_metrics_can_be_disabled_and_notifier_needs_channels() -> None:
    from owlclaw_runtime.observability.setup import install_observability

    class Bare:
        observers: list = []

        def add_observer(self, observer: object) -> None:
            self.observers.append(observer)

    settings = load_settings(
        environ={},
        config_file="/dev/null",
        metrics={"enabled": False},
        cron={"notifications": {"enabled": True}},
    )
    obs = install_observability(Bare(), settings, configure_logs=False)
    assert obs.metrics is None and obs.notifier is None and len(obs.observers) == 1
    obs.close()


@pytest.fixture
def tls_smtp(tmp_path: Path) -> Iterator[tuple[int, Inbox, list[tuple[str, str]]]]:
    """aiosmtpd requiring STARTTLS and AUTH, with a self-signed certificate made by openssl."""
    import shutil
    import ssl
    import subprocess

    from aiosmtpd.smtp import AuthResult, LoginPassword

    openssl = shutil.which("openssl")
    assert openssl, "openssl is part of the base system"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    logins: list[tuple[str, str]] = []

    def authenticate(server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            logins.append((auth_data.login.decode(), auth_data.password.decode()))
            ok = auth_data.login == b"bot" and auth_data.password == b"s3cret-pw"
            return AuthResult(success=ok)
        return AuthResult(success=False)

    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        auth_require_tls=True,
        authenticator=authenticate,
        auth_required=True,
    )
    controller.start()
    try:
        yield port, inbox, logins
    finally:
        controller.stop()


def test_email_with_starttls_and_login(
    tls_smtp: tuple[int, Inbox, list[tuple[str, str]]], tmp_path: Path
) -> None:
    port, inbox, logins = tls_smtp
    log_file = tmp_path / "n.log"
    configure_logging(LoggingSettings(destination=str(log_file)))

    def channel(password: str, starttls: bool = True) -> EmailChannel:
        return EmailChannel(
            type="email",
            smtp_host="127.0.0.1",
            smtp_port=port,
            recipients=["ops@x.org"],
            username="bot",
            password=password,
            starttls=starttls,
        )

    good = ErrorNotifier(NotificationSettings(enabled=True, channels=[channel("s3cret-pw")]))
    fail_run(good, 1)
    assert good.flush(15) and good.delivered == 1
    assert len(inbox.messages) == 1 and logins == [("bot", "s3cret-pw")]
    good.close()

    # aiosmtpd leaves a refused login hanging: the short timeout ends it
    wrong = ErrorNotifier(
        NotificationSettings(enabled=True, timeout_seconds=1, channels=[channel("nope-pw")])
    )
    plain = ErrorNotifier(
        NotificationSettings(enabled=True, channels=[channel("s3cret-pw", starttls=False)])
    )
    for notifier in (wrong, plain):
        fail_run(notifier, 1)
        assert notifier.flush(15) and notifier.failed == 1 and notifier.delivered == 0
        notifier.close()
    assert len(inbox.messages) == 1
    text = log_file.read_text()
    assert text.count("notification_failed") == 2
    assert "s3cret-pw" not in text and "nope-pw" not in text
