"""Configuration: defaults < owlclaw.yaml < environment < arguments, and errors that say where."""

from __future__ import annotations

from pathlib import Path

import pytest
from owlclaw_runtime.config import (
    EmailChannel,
    SlackChannel,
    WebhookChannel,
    load_settings,
)
from owlclaw_runtime.errors import ConfigurationError


def write(tmp_path: Path, text: str, name: str = "owlclaw.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_any_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./owlclaw.yaml here
    settings = load_settings(environ={})
    assert settings.ledger_url is None
    assert settings.backend == "local"
    assert settings.cron.max_concurrent == 10
    assert settings.cron.notifications.notify_on_failures == [1, 3, 5]
    assert settings.cron.notifications.enabled is False
    assert settings.logging.format == "json"
    assert settings.metrics.http_port is None
    assert settings.ledger_url_for(tmp_path) == f"sqlite:///{tmp_path.resolve()}/owlclaw-ledger.db"


def test_precedence_yaml_then_env_then_arguments(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        "backend: hatchet\n"
        "ledger_url: sqlite:///from-yaml.db\n"
        "cron:\n  max_concurrent: 3\n  retry: {max_retries: 7}\n"
        "logging: {level: debug, format: console}\n",
    )
    env = {
        "OWLCLAW_CONFIG": str(config),
        "OWLCLAW_CRON__MAX_CONCURRENT": "5",
        "OWLCLAW_LOGGING__FORMAT": "json",
    }
    only_yaml = load_settings(environ={"OWLCLAW_CONFIG": str(config)})
    assert only_yaml.cron.max_concurrent == 3
    assert only_yaml.logging.level == "DEBUG"
    assert only_yaml.logging.format == "console"

    with_env = load_settings(environ=env)
    assert with_env.cron.max_concurrent == 5  # env beats YAML
    assert with_env.logging.format == "json"
    assert with_env.logging.level == "DEBUG"  # YAML still fills what env leaves
    assert with_env.cron.retry.max_retries == 7
    assert with_env.backend == "hatchet"

    with_args = load_settings(environ=env, cron={"max_concurrent": 9}, backend="local")
    assert with_args.cron.max_concurrent == 9  # arguments beat env
    assert with_args.cron.retry.max_retries == 7  # a nested argument merges, not replaces
    assert with_args.backend == "local"


def test_flat_ledger_url_environment_name_keeps_working(tmp_path: Path) -> None:
    config = write(tmp_path, "ledger_url: sqlite:///yaml.db\n")
    settings = load_settings(
        config_file=config,
        environ={"OWLCLAW_LEDGER_URL": "postgresql+psycopg://u:p@127.0.0.1/db"},
    )
    assert settings.ledger_url == "postgresql+psycopg://u:p@127.0.0.1/db"
    assert settings.ledger_url_for(tmp_path) == settings.ledger_url


def test_default_config_file_is_read_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "tenant_id: acme\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings(environ={}).tenant_id == "acme"


def test_os_environ_is_the_default_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OWLCLAW_METRICS__HTTP_PORT", "9464")
    monkeypatch.delenv("OWLCLAW_CONFIG", raising=False)
    assert load_settings().metrics.http_port == 9464


def test_invalid_yaml_value_names_file_line_and_key(tmp_path: Path) -> None:
    config = write(tmp_path, "backend: local\ncron:\n  max_concurrent: 0\n")
    with pytest.raises(ConfigurationError) as info:
        load_settings(config_file=config, environ={})
    assert str(info.value) == f"{config}:3: cron.max_concurrent: must be >= 1"
    assert info.value.field == "cron.max_concurrent"
    assert info.value.line == 3


def test_invalid_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_settings(
            config_file=write(tmp_path, ""), environ={"OWLCLAW_CRON__MAX_CONCURRENT": "x"}
        )
    assert str(info.value) == (
        "environment OWLCLAW_CRON__MAX_CONCURRENT: cron.max_concurrent: must be an integer, got 'x'"
    )


def test_invalid_argument_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_settings(config_file=write(tmp_path, ""), environ={}, backend="k8s")
    assert str(info.value) == "argument: backend: must be one of 'local' or 'hatchet', got 'k8s'"


def test_environment_value_overriding_a_bad_yaml_value_wins(tmp_path: Path) -> None:
    config = write(tmp_path, "cron:\n  max_concurrent: 0\n")
    settings = load_settings(config_file=config, environ={"OWLCLAW_CRON__MAX_CONCURRENT": "2"})
    assert settings.cron.max_concurrent == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cron:\n  bogus: 1\n", ":2: cron.bogus: unknown key"),
        ("logging:\n  level: loud\n", ":2: logging.level: must be one of"),
        ("ledger_url: just-a-file.db\n", ":1: ledger_url: must be a database URL"),
        (
            "cron:\n  notifications:\n    channels:\n      - type: slack\n"
            "        webhook_url: ftp://example\n",
            ":5: cron.notifications.channels.0.webhook_url: must be an http:// or https:// URL",
        ),
        (
            "cron:\n  notifications:\n    channels:\n      - type: pager\n",
            ":4: cron.notifications.channels.0: type must be one of",
        ),
        ("cron:\n  notifications:\n    notify_on_failures: [0, 3]\n", "every count must be >= 1"),
        ("metrics:\n  http_port: 70000\n", ":2: metrics.http_port: must be <= 65535"),
    ],
    ids=[
        "unknown-key",
        "bad-level",
        "bad-url",
        "bad-webhook",
        "bad-channel-type",
        "bad-count",
        "bad-port",
    ],
)
def test_yaml_errors_name_key_and_line(tmp_path: Path, text: str, expected: str) -> None:
    config = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as info:
        load_settings(config_file=config, environ={})
    assert str(info.value).startswith(str(config))
    assert expected in str(info.value)


def test_broken_yaml_and_non_mapping_are_reported_with_a_line(tmp_path: Path) -> None:
    broken = write(tmp_path, "cron:\n  max_concurrent: [1,\n", "broken.yaml")
    with pytest.raises(ConfigurationError) as info:
        load_settings(config_file=broken, environ={})
    assert str(info.value).startswith(f"{broken}:")
    assert "invalid YAML" in str(info.value)
    scalar = write(tmp_path, "- 1\n- 2\n", "list.yaml")
    with pytest.raises(ConfigurationError, match="top level must be a mapping"):
        load_settings(config_file=scalar, environ={})


def test_missing_config_file_named_by_environment_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigurationError) as info:
        load_settings(environ={"OWLCLAW_CONFIG": str(missing)})
    assert str(info.value).startswith(f"{missing}: cannot read configuration file")


def test_notification_channels_are_typed(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        "cron:\n"
        "  notifications:\n"
        "    enabled: true\n"
        "    notify_on_failures: [5, 1, 1]\n"
        "    channels:\n"
        "      - {type: slack, webhook_url: 'https://hooks.example/T1'}\n"
        "      - {type: webhook, url: 'http://127.0.0.1:9/x', headers: {X-Team: ops}}\n"
        "      - {type: email, smtp_host: 127.0.0.1, smtp_port: 2525, recipients: [ops@x.org],\n"
        "         password: hunter2, username: bot}\n",
    )
    notif = load_settings(config_file=config, environ={}).cron.notifications
    assert notif.notify_on_failures == [1, 5]
    slack, hook, email = notif.channels
    assert isinstance(slack, SlackChannel) and slack.webhook_url == "https://hooks.example/T1"
    assert isinstance(hook, WebhookChannel) and hook.headers == {"X-Team": "ops"}
    assert isinstance(email, EmailChannel) and email.smtp_port == 2525
    assert "hunter2" not in repr(email)  # secrets stay out of reprs and logs
    assert email.password is not None and email.password.get_secret_value() == "hunter2"


def test_hatchet_settings_produce_the_sdk_environment(tmp_path: Path) -> None:
    settings = load_settings(
        config_file=write(tmp_path, "hatchet: {host_port: 'localhost:7077', tls_strategy: none}\n"),
        environ={"OWLCLAW_HATCHET__TOKEN": "eyJabc"},
    )
    assert settings.hatchet.client_env() == {
        "HATCHET_CLIENT_TOKEN": "eyJabc",
        "HATCHET_CLIENT_HOST_PORT": "localhost:7077",
        "HATCHET_CLIENT_TLS_STRATEGY": "none",
    }


def test_apply_settings_fills_unset_trigger_fields_and_the_code_wins(tmp_path: Path) -> None:
    from owlclaw_runtime import OwlClawApp
    from owlclaw_runtime.config import apply_settings

    app = OwlClawApp("cfg", ledger=f"sqlite:///{tmp_path / 'l.db'}", app_dir=tmp_path)

    @app.cron("0 * * * *", event_name="pinned", migration_weight=0.0, max_retries=1)
    def pinned(context: dict) -> None:
        """Sets its own retries."""

    @app.cron("0 * * * *", event_name="loose", migration_weight=0.0)
    def loose(context: dict) -> None:
        """Leaves everything to configuration."""

    config = write(
        tmp_path,
        "tenant_id: acme\n"
        "ledger_url: sqlite:///configured.db\n"
        "hatchet: {host_port: 'engine:7077'}\n"
        "cron:\n"
        "  max_concurrent: 3\n"
        "  default_timeout: 600\n"
        "  retry: {max_retries: 5, base_delay: 10}\n"
        "  governance:\n"
        "    max_daily_runs: 4\n"
        "    circuit_breaker: {window_size: 6}\n",
    )
    environ: dict[str, str] = {}
    changed = apply_settings(app, load_settings(config_file=config, environ={}), environ=environ)
    registry = app.cron_registry
    pinned_cfg, loose_cfg = registry.get_trigger("pinned"), registry.get_trigger("loose")
    assert pinned_cfg.max_retries == 1  # written in the code: kept
    assert loose_cfg.max_retries == 5
    for cfg in (pinned_cfg, loose_cfg):
        assert cfg.retry_delay_seconds == 10
        assert cfg.max_daily_runs == 4
        assert cfg.breaker_window == 6
        assert cfg.max_duration == 600
        assert cfg.retry_backoff_factor == 2.0  # not configured: the trigger default stays
    assert app.max_concurrent == 3 and app.tenant_id == "acme"
    assert environ == {
        "OWLCLAW_LEDGER_URL": "sqlite:///configured.db",
        "HATCHET_CLIENT_HOST_PORT": "engine:7077",
    }
    assert changed["loose.max_retries"] == 5 and "pinned.max_retries" not in changed
    # nothing configured: nothing changes
    untouched = OwlClawApp("cfg2", ledger=f"sqlite:///{tmp_path / 'm.db'}", app_dir=tmp_path)
    assert (
        apply_settings(untouched, load_settings(config_file="/dev/null", environ={}), environ={})
        == {}
    )
    assert untouched.max_concurrent == 10
    app.close()


def test_backend_options_for_create_backend(tmp_path: Path) -> None:
    local = load_settings(config_file="/dev/null", environ={})
    assert local.backend_options() == {}
    hatchet = load_settings(
        config_file="/dev/null",
        environ={"OWLCLAW_BACKEND": "hatchet", "OWLCLAW_HATCHET__SLOTS": "4"},
    )
    assert hatchet.backend_options() == {"slots": 4}
    named = load_settings(
        config_file="/dev/null", environ={}, backend="hatchet", hatchet={"worker_name": "w1"}
    )
    assert named.backend_options() == {"worker_name": "w1"}


def test_prepare_worker_applies_settings_and_installs_observers(tmp_path: Path) -> None:
    from owlclaw_runtime import OwlClawApp
    from owlclaw_runtime.observability.metrics import CronMetrics
    from owlclaw_runtime.observability.setup import prepare_worker

    app = OwlClawApp("prep", ledger=f"sqlite:///{tmp_path / 'l.db'}", app_dir=tmp_path)

    @app.cron("0 * * * *", event_name="job", migration_weight=0.0)
    def job(context: dict) -> None:
        """A job."""

    settings = load_settings(
        config_file="/dev/null",
        environ={},
        cron={"max_concurrent": 2, "retry": {"max_retries": 0}},
        logging={"destination": str(tmp_path / "w.log")},
    )
    obs = prepare_worker(app, settings)
    assert app.max_concurrent == 2
    assert app.cron_registry.get_trigger("job").max_retries == 0
    assert isinstance(obs.metrics, CronMetrics) and obs.metrics in app.observers
    assert "cron_trigger_registered" in (tmp_path / "w.log").read_text()
    obs.close()
    app.close()
