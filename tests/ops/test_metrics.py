"""CronMetrics: the seed's names, labels and buckets on an app-owned registry."""

from __future__ import annotations

from owlclaw_runtime.observability.metrics import (
    COST_BUCKETS,
    DELAY_BUCKETS,
    DURATION_BUCKETS,
    METRIC_NAMES,
    CronMetrics,
)
from owlclaw_runtime.triggers.models import ExecutionStatus
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from .helpers import config, execution


def samples(metrics: CronMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_every_seed_metric_is_exported_with_its_type() -> None:
    metrics = CronMetrics()
    metrics.trigger_registered(config())
    families = {
        f.name: f.type
        for f in text_string_to_metric_families(metrics.render().decode())
        if not f.name.endswith("_created")  # the client's creation-time series
    }
    # prometheus-client strips the _total suffix from counter family names
    assert families == {
        "owlclaw_cron_executions": "counter",
        "owlclaw_cron_execution_duration_seconds": "histogram",
        "owlclaw_cron_trigger_delay_seconds": "histogram",
        "owlclaw_cron_execution_cost_usd": "histogram",
        "owlclaw_cron_llm_calls": "counter",
        "owlclaw_cron_active_tasks": "gauge",
        "owlclaw_cron_circuit_breaker_open": "gauge",
    }
    text = metrics.render().decode()
    for name in METRIC_NAMES:
        assert f"# TYPE {name} " in text


def test_buckets_are_the_seeds() -> None:
    metrics = CronMetrics()
    cfg = config()
    metrics.execution_started(cfg, execution())
    metrics.execution_finished(cfg, execution(cost_usd=0.02), 0)
    got = samples(metrics)

    def bounds(name: str) -> list[float]:
        return sorted(
            float(dict(labels)["le"])
            for (n, labels) in got
            if n == f"{name}_bucket" and dict(labels)["le"] != "+Inf"
        )

    assert bounds("owlclaw_cron_execution_duration_seconds") == list(DURATION_BUCKETS)
    assert bounds("owlclaw_cron_trigger_delay_seconds") == list(DELAY_BUCKETS)
    assert bounds("owlclaw_cron_execution_cost_usd") == list(COST_BUCKETS)
    assert list(DURATION_BUCKETS) == [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300]


def test_executions_are_counted_by_status_and_decision_mode() -> None:
    metrics = CronMetrics()
    cfg = config()
    metrics.execution_finished(cfg, execution(decision_mode="agent", llm_calls=3, cost_usd=0.4), 0)
    metrics.execution_finished(cfg, execution(decision_mode="agent", llm_calls=2), 0)
    metrics.execution_finished(cfg, execution(ExecutionStatus.FALLBACK), 0)
    metrics.execution_finished(cfg, execution(ExecutionStatus.FAILED), 1)
    metrics.execution_finished(cfg, execution(ExecutionStatus.SKIPPED, duration=0), 0)
    got = samples(metrics)

    def count(status: str, mode: str) -> float:
        key = (("decision_mode", mode), ("event_name", "backup_db"), ("status", status))
        return got.get(("owlclaw_cron_executions_total", key), 0.0)

    assert count("success", "agent") == 2
    assert count("fallback", "fallback") == 1
    assert count("failed", "fallback") == 1
    assert count("skipped", "fallback") == 1
    label = (("event_name", "backup_db"),)
    assert got[("owlclaw_cron_llm_calls_total", label)] == 5
    # skipped runs did no work: 4 durations and costs, not 5
    assert got[("owlclaw_cron_execution_duration_seconds_count", label)] == 4
    assert got[("owlclaw_cron_execution_duration_seconds_sum", label)] == 6.0
    assert got[("owlclaw_cron_execution_cost_usd_count", label)] == 4
    assert abs(got[("owlclaw_cron_execution_cost_usd_sum", label)] - 0.4) < 1e-9


def test_trigger_delay_is_measured_for_scheduled_runs_only() -> None:
    metrics = CronMetrics()
    cfg = config()
    metrics.execution_started(cfg, execution(delay=0.75))
    metrics.execution_started(cfg, execution(delay=40, trigger_type="manual"))
    got = samples(metrics)
    label = (("event_name", "backup_db"),)
    assert got[("owlclaw_cron_trigger_delay_seconds_count", label)] == 1
    assert got[("owlclaw_cron_trigger_delay_seconds_sum", label)] == 0.75
    assert got[("owlclaw_cron_trigger_delay_seconds_bucket", (*label, ("le", "0.5")))] == 0
    assert got[("owlclaw_cron_trigger_delay_seconds_bucket", (*label, ("le", "1.0")))] == 1


def test_breaker_gauge_is_per_trigger_and_follows_transitions() -> None:
    metrics = CronMetrics()
    a, b = config("a"), config("b")
    metrics.trigger_registered(a)
    metrics.trigger_registered(b)

    def gauge(name: str) -> float:
        return samples(metrics)[("owlclaw_cron_circuit_breaker_open", (("event_name", name),))]

    assert gauge("a") == 0 and gauge("b") == 0
    metrics.breaker_changed(a, "open", "closed")
    assert gauge("a") == 1 and gauge("b") == 0
    metrics.breaker_changed(a, "half_open", "open")
    assert gauge("a") == 0
    metrics.breaker_changed(a, "open", "half_open")
    metrics.breaker_changed(b, "open", "closed")
    assert gauge("a") == 1 and gauge("b") == 1
    metrics.breaker_changed(a, "closed", "half_open")
    assert gauge("a") == 0 and gauge("b") == 1


def test_active_tasks_gauge() -> None:
    metrics = CronMetrics()
    metrics.active_changed(3)
    assert samples(metrics)[("owlclaw_cron_active_tasks", ())] == 3
    metrics.active_changed(0)
    assert samples(metrics)[("owlclaw_cron_active_tasks", ())] == 0


def test_registries_are_per_app_and_never_global() -> None:
    first, second = CronMetrics(), CronMetrics()  # a second app must not collide
    first.execution_finished(config(), execution(), 0)
    assert first.registry is not REGISTRY and second.registry is not first.registry
    assert REGISTRY.get_sample_value("owlclaw_cron_active_tasks") is None
    key = (
        "owlclaw_cron_executions_total",
        (("decision_mode", "fallback"), ("event_name", "backup_db"), ("status", "success")),
    )
    assert samples(first)[key] == 1
    assert key not in samples(second)
    mine = CollectorRegistry()
    assert CronMetrics(registry=mine).registry is mine
