"""One call that wires metrics, logs and notifications into an app from :class:`Settings`.

``owlmigrate run`` uses it; a hand-written worker can too::

    settings = load_settings()
    obs = install_observability(app, settings)
    handle = serve(app, settings.metrics.http_port) if settings.metrics.http_port else None
    ...
    obs.close()
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from owlclaw_runtime.config import Settings, apply_settings, load_settings
from owlclaw_runtime.observability.hooks import RuntimeObserver
from owlclaw_runtime.observability.logging import CronLogger, configure_logging
from owlclaw_runtime.observability.metrics import CronMetrics
from owlclaw_runtime.observability.notify import ErrorNotifier


@dataclass
class Observability:
    """The observers installed on an app."""

    logger: CronLogger
    metrics: CronMetrics | None = None
    notifier: ErrorNotifier | None = None

    @property
    def observers(self) -> list[RuntimeObserver]:
        found: list[RuntimeObserver | None] = [self.metrics, self.logger, self.notifier]
        return [o for o in found if o is not None]

    def close(self, timeout: float = 10.0) -> None:
        """Deliver queued notifications (within ``timeout``) and stop the notifier thread."""
        if self.notifier is not None:
            self.notifier.close(timeout)


def install_observability(
    app: Any, settings: Settings | None = None, *, configure_logs: bool = True
) -> Observability:
    """Configure logging and attach a :class:`CronLogger`, a :class:`CronMetrics` (unless
    ``metrics.enabled`` is false) and an :class:`ErrorNotifier` (when notifications are enabled
    and have channels) to ``app`` with ``app.add_observer``.

    Triggers registered before this call are replayed to the new observers
    (``trigger_registered``), so every trigger has its metric series and its log line.
    """
    settings = settings if settings is not None else load_settings()
    if configure_logs:
        configure_logging(settings)
    installed = Observability(logger=CronLogger())
    if settings.metrics.enabled:
        installed.metrics = CronMetrics()
    notifications = settings.cron.notifications
    if notifications.enabled and notifications.channels:
        installed.notifier = ErrorNotifier(notifications)
    registry = getattr(app, "cron_registry", None)
    existing = list(registry.list_triggers()) if registry is not None else []
    for observer in installed.observers:
        app.add_observer(observer)
        for config in existing:
            observer.trigger_registered(config)
    return installed


def prepare_worker(app: Any, settings: Settings | None = None) -> Observability:
    """Everything a worker does with the configuration before ``app.start``: apply it to the
    app (:func:`~owlclaw_runtime.config.apply_settings`) and install the observers
    (:func:`install_observability`). ``settings`` defaults to :func:`load_settings`."""
    settings = settings if settings is not None else load_settings()
    apply_settings(app, settings)
    return install_observability(app, settings)


__all__ = ["Observability", "install_observability", "prepare_worker"]
