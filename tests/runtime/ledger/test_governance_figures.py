"""``governance_figures``: the pre-run reads in one statement answer exactly what the single
queries answer (SQLite and PostgreSQL), and the base-class default agrees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from owlclaw_runtime.ledger import GovernanceFigures, LedgerStore
from owlclaw_runtime.triggers.models import CronExecution, ExecutionStatus

T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
S = ExecutionStatus
STATUSES = [S.SUCCESS, S.FAILED, S.FALLBACK, S.SKIPPED, S.RUNNING]


def _load(store: LedgerStore) -> None:
    rows = []
    for i in range(60):
        at = T0 + timedelta(hours=i * 1.7)
        status = STATUSES[(i * 7) % len(STATUSES)]
        rows.append(
            CronExecution(
                event_name=("a", "b")[i % 2],
                status=status,
                execution_id=f"e{i}",
                tenant_id=("t1", "t2")[(i // 2) % 2],
                triggered_at=at,
                completed_at=None if status == S.RUNNING else at + timedelta(seconds=30),
                cost_usd=0.01 * (i % 5),
            )
        )
    store.record_executions(rows)


@pytest.mark.parametrize("cooldown", [False, True])
@pytest.mark.parametrize("daily", [False, True])
def test_one_statement_answers_like_the_single_queries(
    ledger_store: LedgerStore, cooldown: bool, daily: bool
) -> None:
    _load(ledger_store)
    for tenant in ("t1", "t2", "nobody"):
        for event in ("a", "b", "unknown"):
            for day in range(4):
                bounds = (T0 + timedelta(days=day), T0 + timedelta(days=day + 1))
                got = ledger_store.governance_figures(
                    event, cooldown=cooldown, daily=bounds if daily else None, tenant_id=tenant
                )
                runs, cost = ledger_store.daily_usage(
                    event, start=bounds[0], end=bounds[1], tenant_id=tenant
                )
                last = ledger_store.last_success_at(event, tenant_id=tenant)
                assert got.daily_runs == (runs if daily else None)
                assert got.daily_cost == (pytest.approx(cost) if daily else None)
                assert got.last_success_at == (last if cooldown else None)
                default = LedgerStore.governance_figures(
                    ledger_store,
                    event,
                    cooldown=cooldown,
                    daily=bounds if daily else None,
                    tenant_id=tenant,
                )
                assert default.daily_runs == got.daily_runs
                assert default.last_success_at == got.last_success_at
    # the data really has something to find
    some = ledger_store.governance_figures(
        "a", cooldown=True, daily=(T0, T0 + timedelta(days=1)), tenant_id="t1"
    )
    assert some.daily_runs and some.daily_runs > 0 and some.last_success_at is not None


def test_nothing_asked_reads_nothing(ledger_store: LedgerStore) -> None:
    assert ledger_store.governance_figures("a", cooldown=False, daily=None) == GovernanceFigures()
