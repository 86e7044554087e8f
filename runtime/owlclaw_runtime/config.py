"""Runtime configuration: defaults < ``owlclaw.yaml`` < environment < explicit arguments.

OwlClaw's configuration had keys nothing read (``max_concurrent``, ``default_timeout_seconds``,
``notifications.channels``: reference/owlclaw.md section 3.7). Every key here has a reader:
the ledger URL and backend (app and ``owlmigrate run``), Hatchet (the Hatchet backend),
``cron.*`` (trigger defaults and the worker's concurrency), logging (:mod:`.observability.logging`),
notifications (:mod:`.observability.notify`) and the metrics/health endpoint
(:mod:`.observability.http`).

- The YAML file is ``$OWLCLAW_CONFIG`` or ``./owlclaw.yaml`` when that file exists.
- Environment variables use the ``OWLCLAW_`` prefix and ``__`` for nesting, e.g.
  ``OWLCLAW_CRON__MAX_CONCURRENT=4``; ``OWLCLAW_LEDGER_URL`` is the flat name of ``ledger_url``.
- An invalid value raises :class:`~owlclaw_runtime.errors.ConfigurationError` naming the source
  (file and line, the environment variable, or the argument) and the dotted key.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from owlclaw_runtime.errors import ConfigurationError

ENV_PREFIX = "OWLCLAW_"
CONFIG_ENV = "OWLCLAW_CONFIG"
DEFAULT_CONFIG_FILE = "owlclaw.yaml"
DEFAULT_LEDGER_FILE = "owlclaw-ledger.db"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class HatchetSettings(_Section):
    """Connection to a Hatchet engine. ``None`` leaves the SDK's own ``HATCHET_CLIENT_*``
    environment variables (and token claims) in charge (reference/hatchet.md section 2)."""

    token: SecretStr | None = None
    host_port: str | None = None  # gRPC address, e.g. localhost:7077
    server_url: str | None = None  # REST base URL, e.g. http://localhost:8888
    tls_strategy: Literal["tls", "mtls", "none"] | None = None
    namespace: str | None = None
    worker_name: str | None = None  # default: owlclaw-<app name>
    slots: int | None = Field(default=None, ge=1)  # worker slots; default: the SDK's

    def client_env(self) -> dict[str, str]:
        """The ``HATCHET_CLIENT_*`` variables these settings pin (unset ones are left out)."""
        env: dict[str, str] = {}
        if self.token is not None:
            env["HATCHET_CLIENT_TOKEN"] = self.token.get_secret_value()
        for name, value in (
            ("HOST_PORT", self.host_port),
            ("SERVER_URL", self.server_url),
            ("TLS_STRATEGY", self.tls_strategy),
            ("NAMESPACE", self.namespace),
        ):
            if value is not None:
                env[f"HATCHET_CLIENT_{name}"] = value
        return env


class BreakerDefaults(_Section):
    """Circuit-breaker defaults for triggers that do not set their own."""

    window_size: int = Field(default=10, ge=1)
    failure_threshold: float = Field(default=0.5, gt=0.0, le=1.0)
    recovery_timeout: float = Field(default=300.0, ge=0.0)


class GovernanceDefaults(_Section):
    """Governance defaults applied to triggers that leave a limit unset (``None`` = no limit).

    Unlike OwlClaw's ``configure()``, nothing here silently caps a trigger at 24 runs a day."""

    max_cost_per_run: float | None = Field(default=None, ge=0.0)
    max_daily_cost: float | None = Field(default=None, ge=0.0)
    max_daily_runs: int | None = Field(default=None, ge=1)
    cooldown_seconds: float = Field(default=0.0, ge=0.0)
    circuit_breaker: BreakerDefaults = Field(default_factory=BreakerDefaults)


class RetryDefaults(_Section):
    """Retry defaults: delay = min(base_delay * backoff_factor**retry, max_delay)."""

    enabled: bool = True
    max_retries: int = Field(default=3, ge=0)
    base_delay: float = Field(default=60.0, ge=0.0)
    backoff_factor: float = Field(default=2.0, ge=1.0)
    max_delay: float = Field(default=300.0, ge=0.0)


class SlackChannel(_Section):
    """A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat): ``{"text": ...}``."""

    type: Literal["slack"]
    webhook_url: str
    username: str | None = None
    channel: str | None = None

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _check_http_url(value)


class WebhookChannel(_Section):
    """A generic webhook: the notification as a JSON object in a POST body."""

    type: Literal["webhook"]
    url: str
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _check_http_url(value)


class EmailChannel(_Section):
    """Email over SMTP (smtplib); ``starttls`` upgrades a plain connection, ``ssl`` uses SMTPS."""

    type: Literal["email"]
    smtp_host: str
    smtp_port: int = Field(default=25, ge=1, le=65535)
    sender: str = "owlmigrate@localhost"
    recipients: list[str] = Field(min_length=1)
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False
    ssl: bool = False


NotificationChannel = Annotated[
    SlackChannel | WebhookChannel | EmailChannel, Field(discriminator="type")
]


class NotificationSettings(_Section):
    """When and where failures and breaker changes are reported (observability.notify)."""

    enabled: bool = False
    # OwlClaw's seed: notify on the 1st, 3rd and 5th consecutive failure (section 2.6).
    notify_on_failures: list[int] = Field(default_factory=lambda: [1, 3, 5])
    notify_breaker: bool = True
    timeout_seconds: float = Field(default=5.0, gt=0.0)
    channels: list[NotificationChannel] = Field(default_factory=list)

    @field_validator("notify_on_failures")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(n < 1 for n in value):
            raise ValueError("every count must be >= 1")
        return sorted(set(value))


class CronSettings(_Section):
    """Worker and trigger defaults."""

    max_concurrent: int = Field(default=10, ge=1)  # executions in flight per worker
    default_timeout: float | None = Field(default=None, gt=0.0)  # max_duration when unset
    catch_up: bool = False
    governance: GovernanceDefaults = Field(default_factory=GovernanceDefaults)
    retry: RetryDefaults = Field(default_factory=RetryDefaults)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)


class LoggingSettings(_Section):
    """structlog output: ``format`` json or console; ``destination`` stderr, stdout or a file."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    format: Literal["json", "console"] = "json"
    destination: str = "stderr"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("destination")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must be stderr, stdout or a file path")
        return value


class MetricsSettings(_Section):
    """The ``/metrics``, ``/healthz`` and ``/readyz`` endpoint of ``owlmigrate run``."""

    enabled: bool = True
    http_port: int | None = Field(default=None, ge=0, le=65535)  # None: no endpoint
    http_host: str = "127.0.0.1"


_LOAD_CONTEXT: contextvars.ContextVar[tuple[PydanticBaseSettingsSource, ...] | None] = (
    contextvars.ContextVar("owlclaw_settings_sources", default=None)
)


class Settings(BaseSettings):
    """All runtime settings. Build with :func:`load_settings` to get source-named errors."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_assignment=True,
    )

    ledger_url: str | None = None  # None: sqlite file owlclaw-ledger.db in the app directory
    tenant_id: str = "default"
    backend: Literal["local", "hatchet"] = "local"
    hatchet: HatchetSettings = Field(default_factory=HatchetSettings)
    cron: CronSettings = Field(default_factory=CronSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)

    @field_validator("ledger_url")
    @classmethod
    def _url_shape(cls, value: str | None) -> str | None:
        if value is not None and "://" not in value:
            raise ValueError(
                "must be a database URL such as sqlite:///path/ledger.db or "
                "postgresql+psycopg://user:pass@host/db"
            )
        return value

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Highest priority first: explicit arguments, environment, the YAML file.
        loaded = _LOAD_CONTEXT.get()
        if loaded is not None:
            return loaded
        yaml_data = _read_yaml(_config_path(os.environ))[0]
        return (init_settings, env_settings, _DictSource(settings_cls, yaml_data))

    def backend_options(self) -> dict[str, Any]:
        """Keyword arguments for ``schedulers.create_backend(self.backend, app, **options)``."""
        if self.backend != "hatchet":
            return {}
        options = {"worker_name": self.hatchet.worker_name, "slots": self.hatchet.slots}
        return {k: v for k, v in options.items() if v is not None}

    def ledger_url_for(self, app_dir: str | Path) -> str:
        """The configured ledger URL, or the default SQLite file in ``app_dir``."""
        if self.ledger_url:
            return self.ledger_url
        path = Path(app_dir).resolve() / DEFAULT_LEDGER_FILE
        return f"sqlite:///{path}"


class _DictSource(PydanticBaseSettingsSource):
    """A settings source over an already-parsed mapping (the YAML file)."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


class _MappingEnvSource(EnvSettingsSource):
    """The environment source, reading a given mapping instead of ``os.environ`` (tests,
    embedding) with the same prefix and nesting rules."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = dict(environ)
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in self._environ.items()}


def _check_http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
    return value


def _config_path(environ: Mapping[str, str]) -> Path | None:
    explicit = environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit)
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


def _read_yaml(path: Path | None) -> tuple[dict[str, Any], dict[tuple[str, ...], int]]:
    """The file's mapping and the 1-based line of every key path in it."""
    if path is None:
        return {}, {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read configuration file: {exc.strerror}", path=path
        ) from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigurationError(f"invalid YAML: {problem}", path=path, line=line) from exc
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ConfigurationError("the top level must be a mapping of keys", path=path, line=1)
    lines: dict[tuple[str, ...], int] = {}
    _collect_lines(node, (), lines)
    return data, lines


def _collect_lines(node: Any, prefix: tuple[str, ...], out: dict[tuple[str, ...], int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = (*prefix, str(key_node.value))
            out[key] = key_node.start_mark.line + 1
            _collect_lines(value_node, key, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            key = (*prefix, str(index))
            out[key] = item.start_mark.line + 1
            _collect_lines(item, key, out)


def _has_path(data: Any, loc: tuple[str, ...]) -> bool:
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return False
    return True


def _describe_error(err: Mapping[str, Any]) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    got = err.get("input")
    comparisons = {
        "greater_than_equal": ("ge", ">="),
        "greater_than": ("gt", ">"),
        "less_than_equal": ("le", "<="),
        "less_than": ("lt", "<"),
    }
    if kind in comparisons:
        key, op = comparisons[kind]
        return f"must be {op} {ctx.get(key)}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}, got {got!r}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"must be an integer, got {got!r}"
    if kind in ("float_parsing", "float_type"):
        return f"must be a number, got {got!r}"
    if kind in ("bool_parsing", "bool_type"):
        return f"must be true or false, got {got!r}"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "is required"
    if kind == "union_tag_invalid":
        return f"type must be one of {ctx.get('expected_tags')}, got {ctx.get('tag')!r}"
    message = str(err.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")


def _env_name(loc: tuple[str, ...]) -> str:
    return ENV_PREFIX + "__".join(part.upper() for part in loc)


def _source_of(
    loc: tuple[str, ...],
    overrides: dict[str, Any],
    env_data: dict[str, Any],
    yaml_data: dict[str, Any],
    yaml_path: Path | None,
    yaml_lines: dict[tuple[str, ...], int],
) -> tuple[str, Path | None, int | None]:
    """Which source supplied the value at ``loc`` (highest priority first)."""
    for depth in range(len(loc), 0, -1):
        prefix = loc[:depth]
        if _has_path(overrides, prefix):
            return "argument", None, None
        if _has_path(env_data, prefix):
            return f"environment {_env_name(prefix)}", None, None
        if _has_path(yaml_data, prefix):
            return "", yaml_path, yaml_lines.get(prefix)
    return "default", None, None


def load_settings(
    *,
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build :class:`Settings` from defaults, the YAML file, the environment and ``overrides``
    (in increasing priority). Nested overrides are dicts: ``cron={"max_concurrent": 2}``.

    ``config_file`` replaces ``$OWLCLAW_CONFIG``; ``environ`` replaces ``os.environ``.
    Raises ConfigurationError naming the source and dotted key of the first invalid value.
    """
    env_map = os.environ if environ is None else environ
    yaml_path = Path(config_file) if config_file is not None else _config_path(env_map)
    yaml_data, yaml_lines = _read_yaml(yaml_path)
    env_source = _MappingEnvSource(Settings, env_map)
    env_data = env_source()
    sources = (
        InitSettingsSource(Settings, init_kwargs=overrides),
        env_source,
        _DictSource(Settings, yaml_data),
    )
    token = _LOAD_CONTEXT.set(sources)
    try:
        return Settings()
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        loc = tuple(str(part) for part in first["loc"])
        # A discriminated union adds the tag to the location; drop it so the key is real.
        loc = tuple(p for p in loc if p not in ("slack", "webhook", "email"))
        source, path, line = _source_of(loc, overrides, env_data, yaml_data, yaml_path, yaml_lines)
        key = ".".join(loc) or "(top level)"
        message = f"{key}: {_describe_error(first)}"
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more)"
        if path is None:
            message = f"{source}: {message}"
        raise ConfigurationError(message, path=path, line=line, field=key) from None
    finally:
        _LOAD_CONTEXT.reset(token)


# trigger field <- (settings section path, settings key); applied only when the trigger left
# the field unset and the setting was configured (in a file, the environment or an argument)
_TRIGGER_DEFAULTS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("max_cost_per_run", ("cron", "governance"), "max_cost_per_run"),
    ("max_daily_cost", ("cron", "governance"), "max_daily_cost"),
    ("max_daily_runs", ("cron", "governance"), "max_daily_runs"),
    ("cooldown_seconds", ("cron", "governance"), "cooldown_seconds"),
    ("breaker_window", ("cron", "governance", "circuit_breaker"), "window_size"),
    ("breaker_threshold", ("cron", "governance", "circuit_breaker"), "failure_threshold"),
    ("breaker_recovery_seconds", ("cron", "governance", "circuit_breaker"), "recovery_timeout"),
    ("retry_on_failure", ("cron", "retry"), "enabled"),
    ("max_retries", ("cron", "retry"), "max_retries"),
    ("retry_delay_seconds", ("cron", "retry"), "base_delay"),
    ("retry_backoff_factor", ("cron", "retry"), "backoff_factor"),
    ("retry_max_delay_seconds", ("cron", "retry"), "max_delay"),
    ("max_duration", ("cron",), "default_timeout"),
    ("catch_up", ("cron",), "catch_up"),
)


def _configured(settings: Settings, section: tuple[str, ...], key: str) -> tuple[bool, Any]:
    model: BaseModel = settings
    for part in section:
        if part not in model.model_fields_set:
            return False, None
        model = getattr(model, part)
    return key in model.model_fields_set, getattr(model, key)


def apply_settings(
    app: Any, settings: Settings, *, environ: MutableMapping[str, str] | None = None
) -> dict[str, Any]:
    """Make the configuration take effect on an app before it starts; returns what changed.

    - ``cron.max_concurrent`` and ``tenant_id``, when configured, replace the app's values;
    - trigger defaults (governance, breaker, retry, ``default_timeout`` as ``max_duration``,
      ``catch_up``) fill every trigger field the ``@app.cron`` call left unset; a value written
      in the code always wins (OwlClaw's ``configure()`` overwrote them all);
    - ``ledger_url`` and ``hatchet.*`` are exported to the environment (``OWLCLAW_LEDGER_URL``,
      ``HATCHET_CLIENT_*``) where the ledger opener and hatchet-sdk read them.
    """
    env = os.environ if environ is None else environ
    changed: dict[str, Any] = {}
    if "max_concurrent" in settings.cron.model_fields_set and "cron" in settings.model_fields_set:
        app.max_concurrent = settings.cron.max_concurrent
        changed["max_concurrent"] = settings.cron.max_concurrent
    if "tenant_id" in settings.model_fields_set:
        app.tenant_id = settings.tenant_id
        changed["tenant_id"] = settings.tenant_id
    registry = getattr(app, "cron_registry", None)
    for config in list(registry.list_triggers()) if registry is not None else []:
        for field_name, section, key in _TRIGGER_DEFAULTS:
            configured, value = _configured(settings, section, key)
            if not configured or value is None or field_name in config.model_fields_set:
                continue
            setattr(config, field_name, value)
            changed[f"{config.event_name}.{field_name}"] = value
    if settings.ledger_url and env.get("OWLCLAW_LEDGER_URL") != settings.ledger_url:
        env["OWLCLAW_LEDGER_URL"] = settings.ledger_url
        changed["OWLCLAW_LEDGER_URL"] = "(set)"
    for name, value in settings.hatchet.client_env().items():
        if env.get(name) != value:
            env[name] = value
            changed[name] = "(set)"
    return changed


__all__ = [
    "CONFIG_ENV",
    "DEFAULT_LEDGER_FILE",
    "BreakerDefaults",
    "CronSettings",
    "EmailChannel",
    "GovernanceDefaults",
    "HatchetSettings",
    "LoggingSettings",
    "MetricsSettings",
    "NotificationChannel",
    "NotificationSettings",
    "RetryDefaults",
    "Settings",
    "SlackChannel",
    "WebhookChannel",
    "apply_settings",
    "load_settings",
]
