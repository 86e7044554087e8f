"""Property: the governance queries agree with a plain-Python model of the same rows, per
tenant, on SQLite and PostgreSQL (random statuses, modes, times with ties, costs, durations)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from owlclaw_runtime.ledger import LedgerStore
from owlclaw_runtime.triggers.models import CronExecution, ExecutionStatus

T0 = datetime(2026, 3, 1, tzinfo=UTC)
DAY_START, DAY_END = T0 + timedelta(hours=2), T0 + timedelta(hours=6)


@dataclass(frozen=True)
class Row:
    tenant: str
    status: ExecutionStatus
    mode: str
    minute: int  # triggered at T0 + minute*10 min; equal minutes are ties
    cents: int
    duration: float | None


rows_strategy = st.lists(
    st.builds(
        Row,
        tenant=st.sampled_from(["a", "b"]),
        status=st.sampled_from(list(ExecutionStatus)),
        mode=st.sampled_from(["agent", "fallback"]),
        minute=st.integers(0, 50),
        cents=st.integers(0, 300),
        duration=st.one_of(st.none(), st.floats(0, 100, allow_nan=False)),
    ),
    max_size=25,
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(rows=rows_strategy, n=st.integers(0, 8))
def test_governance_queries_match_the_model(
    ledger_store: LedgerStore, rows: list[Row], n: int
) -> None:
    event = f"job-{uuid.uuid4().hex}"  # the store is shared by the examples: isolate by name
    for row in rows:
        at = T0 + timedelta(minutes=10 * row.minute)
        ledger_store.record_execution(
            CronExecution(
                event_name=event,
                status=row.status,
                tenant_id=row.tenant,
                triggered_at=at,
                completed_at=None if row.duration is None else at + timedelta(seconds=row.duration),
                duration_seconds=row.duration,
                decision_mode=row.mode,
                cost_usd=row.cents / 100,
            )
        )
    for tenant in ("a", "b", "nobody"):
        mine = [(i, r) for i, r in enumerate(rows) if r.tenant == tenant]
        counted = [(i, r) for i, r in mine if r.status.counts_as_execution]
        newest_first = sorted(counted, key=lambda p: (p[1].minute, p[0]), reverse=True)
        assert ledger_store.recent_outcomes(event, n, tenant_id=tenant) == [
            r.status.is_success for _, r in newest_first[:n]
        ]

        in_day = [
            r
            for _, r in mine
            if r.status != ExecutionStatus.SKIPPED
            and DAY_START <= T0 + timedelta(minutes=10 * r.minute) < DAY_END
        ]
        count, cost = ledger_store.daily_usage(
            event, start=DAY_START, end=DAY_END, tenant_id=tenant
        )
        assert count == len(in_day)
        assert cost == pytest.approx(sum(r.cents for r in in_day) / 100)

        completions = [
            T0 + timedelta(minutes=10 * r.minute, seconds=r.duration)
            for _, r in mine
            if r.status.is_success and r.duration is not None
        ]
        assert ledger_store.last_success_at(event, tenant_id=tenant) == (
            max(completions) if completions else None
        )

        stats = ledger_store.stats(event, tenant_id=tenant)
        for side, mode in (
            (stats.overall, None),
            (stats.agent, "agent"),
            (stats.fallback, "fallback"),
        ):
            part = [r for _, r in counted if mode is None or r.mode == mode]
            assert side.executions == len(part)
            assert side.successes == sum(r.status.is_success for r in part)
            assert side.failures == sum(r.status == ExecutionStatus.FAILED for r in part)
            durations = [r.duration for r in part if r.duration is not None]
            if durations:
                assert side.average_duration_seconds == pytest.approx(
                    sum(durations) / len(durations)
                )
            else:
                assert side.average_duration_seconds is None
        assert stats.skipped == sum(r.status == ExecutionStatus.SKIPPED for _, r in mine)
