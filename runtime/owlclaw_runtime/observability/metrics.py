"""Prometheus metrics for cron executions, on a registry the app owns.

OwlClaw registered its metrics on prometheus-client's global registry, so a second app in the
same process hit a duplicate-timeseries error that was swallowed and the metrics silently moved
to memory, where nothing could scrape them (reference/owlclaw.md section 3.9, item 13). Here every
:class:`CronMetrics` has its own ``CollectorRegistry`` and the names, labels and buckets are the
seed's (section 2.7), with the breaker gauge labelled by trigger.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from owlclaw_runtime.observability.hooks import RuntimeObserver
from owlclaw_runtime.triggers.models import CronExecution, CronTriggerConfig, ExecutionStatus

DURATION_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)
DELAY_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60)
COST_BUCKETS = (0.001, 0.01, 0.1, 0.5, 1, 5, 10)

METRIC_NAMES = (
    "owlclaw_cron_executions_total",
    "owlclaw_cron_execution_duration_seconds",
    "owlclaw_cron_trigger_delay_seconds",
    "owlclaw_cron_execution_cost_usd",
    "owlclaw_cron_llm_calls_total",
    "owlclaw_cron_active_tasks",
    "owlclaw_cron_circuit_breaker_open",
)

CONTENT_TYPE = CONTENT_TYPE_LATEST


def _seconds_between(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return (later - earlier).total_seconds()


class CronMetrics(RuntimeObserver):
    """A :class:`RuntimeObserver` that keeps the seed's seven metrics.

    ``registry`` defaults to a fresh ``CollectorRegistry`` (never the process-global one), so any
    number of apps and tests can each have their own.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.executions = Counter(
            "owlclaw_cron_executions_total",
            "Cron executions that reached a terminal status.",
            ["event_name", "status", "decision_mode"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "owlclaw_cron_execution_duration_seconds",
            "Wall time of cron executions, agent or fallback.",
            ["event_name"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.delay = Histogram(
            "owlclaw_cron_trigger_delay_seconds",
            "Time from the scheduled instant to the start of the execution.",
            ["event_name"],
            buckets=DELAY_BUCKETS,
            registry=self.registry,
        )
        self.cost = Histogram(
            "owlclaw_cron_execution_cost_usd",
            "LLM cost of each counted cron execution, in US dollars.",
            ["event_name"],
            buckets=COST_BUCKETS,
            registry=self.registry,
        )
        self.llm_calls = Counter(
            "owlclaw_cron_llm_calls_total",
            "LLM calls made by agent-driven cron executions.",
            ["event_name"],
            registry=self.registry,
        )
        self.active = Gauge(
            "owlclaw_cron_active_tasks",
            "Cron executions currently in flight in this worker.",
            registry=self.registry,
        )
        self.breaker_open = Gauge(
            "owlclaw_cron_circuit_breaker_open",
            "1 while the trigger's circuit breaker is open, else 0 (closed or half-open).",
            ["event_name"],
            registry=self.registry,
        )

    # -- RuntimeObserver -------------------------------------------------------------------

    def trigger_registered(self, config: CronTriggerConfig) -> None:
        # Export the series at 0 from the start, so alerts and dashboards see every trigger.
        self.breaker_open.labels(event_name=config.event_name).set(0)
        self.llm_calls.labels(event_name=config.event_name)

    def execution_started(self, config: CronTriggerConfig, execution: CronExecution) -> None:
        # Trigger delay (NFR-1) is only meaningful for scheduled runs; OwlClaw never measured it.
        if execution.trigger_type == "manual":
            return
        delay = _seconds_between(execution.triggered_at, execution.scheduled_at)
        if delay is not None:
            self.delay.labels(event_name=config.event_name).observe(max(delay, 0.0))

    def execution_finished(
        self, config: CronTriggerConfig, execution: CronExecution, consecutive_failures: int
    ) -> None:
        status = ExecutionStatus(execution.status)
        self.executions.labels(
            event_name=config.event_name,
            status=status.value,
            decision_mode=execution.decision_mode,
        ).inc()
        if not status.counts_as_execution:
            return  # skipped runs did no work: no duration, cost or LLM calls to record
        duration = execution.duration_seconds
        if duration is None:
            duration = _seconds_between(execution.completed_at, execution.started_at)
        if duration is not None:
            self.duration.labels(event_name=config.event_name).observe(max(duration, 0.0))
        self.cost.labels(event_name=config.event_name).observe(max(execution.cost_usd, 0.0))
        if execution.llm_calls:
            self.llm_calls.labels(event_name=config.event_name).inc(execution.llm_calls)

    def breaker_changed(self, config: CronTriggerConfig, state: str, previous: str) -> None:
        self.breaker_open.labels(event_name=config.event_name).set(1 if state == "open" else 0)

    def active_changed(self, active: int) -> None:
        self.active.set(active)

    # -- exposition ------------------------------------------------------------------------

    def refresh_breakers(self, app: Any) -> None:
        """Set the breaker gauge of every trigger from the ledger, the source of truth shared
        by every worker and CLI (a breaker opened by runs elsewhere shows here too).
        ``/metrics`` calls it before each scrape; a ledger error leaves the gauges as they are."""
        registry = getattr(app, "cron_registry", None)
        if registry is None:
            return
        tenant = getattr(app, "tenant_id", "default")
        try:
            ledger = app.ledger
            states = {
                c.event_name: ledger.get_breaker(c.event_name, tenant_id=tenant).state
                for c in registry.list_triggers()
            }
        except Exception:  # the health check reports ledger trouble; metrics stay up
            return
        for name, state in states.items():
            self.breaker_open.labels(event_name=name).set(1 if state == "open" else 0)

    def render(self) -> bytes:
        """The registry in the Prometheus text format (what ``/metrics`` serves)."""
        return generate_latest(self.registry)


__all__ = [
    "CONTENT_TYPE",
    "COST_BUCKETS",
    "DELAY_BUCKETS",
    "DURATION_BUCKETS",
    "METRIC_NAMES",
    "CronMetrics",
]
