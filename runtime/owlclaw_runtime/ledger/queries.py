"""The per-run statements of the SQL ledger, built once: building a statement costs more than
running it on an index. Each is a range scan of one covering index (schema.py), whose first two
columns, tenant and app, every statement fixes."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from owlclaw_runtime.ledger import schema as s
from owlclaw_runtime.triggers.models import ExecutionStatus

ex = s.executions

TENANT: sa.BindParameter[str] = sa.bindparam("tenant", type_=sa.String)
APP: sa.BindParameter[str] = sa.bindparam("app", type_=sa.String)
EVENT: sa.BindParameter[str] = sa.bindparam("event", type_=sa.String)
DAILY_USAGE = sa.select(
    sa.func.count(), sa.func.coalesce(sa.func.sum(ex.c.cost_usd), 0.0)
).where(  # ix_owlclaw_exec_usage
    ex.c.tenant_id == TENANT,
    ex.c.app_name == APP,
    ex.c.event_name == EVENT,
    ex.c.triggered_at >= sa.bindparam("start"),
    ex.c.triggered_at < sa.bindparam("end"),
    ex.c.status != ExecutionStatus.SKIPPED.value,
)
LAST_SUCCESS = (  # ix_owlclaw_exec_success, backwards, first row
    sa.select(ex.c.completed_at)
    .where(
        ex.c.tenant_id == TENANT,
        ex.c.app_name == APP,
        ex.c.event_name == EVENT,
        ex.c.succeeded.is_(True),
        ex.c.completed_at.is_not(None),
    )
    .order_by(ex.c.completed_at.desc())
    .limit(1)
)


def _governance_figures_query(cooldown: bool, daily: bool) -> sa.Select[Any]:
    """One statement answering the pre-run reads a trigger needs (scalar subqueries over the
    same covering indexes): one round trip instead of two on PostgreSQL."""
    columns: list[Any] = []
    if daily:
        daily_rows = DAILY_USAGE.with_only_columns(sa.func.count()).scalar_subquery()
        daily_cost = DAILY_USAGE.with_only_columns(
            sa.func.coalesce(sa.func.sum(ex.c.cost_usd), 0.0)
        ).scalar_subquery()
        columns += [daily_rows.label("runs"), daily_cost.label("cost")]
    if cooldown:
        columns.append(LAST_SUCCESS.scalar_subquery().label("last_success"))
    return sa.select(*columns)


RECENT_OUTCOMES = (  # ix_owlclaw_exec_outcomes (…, triggered_at, id) backwards, first n rows
    sa.select(ex.c.succeeded)
    .where(
        ex.c.tenant_id == TENANT,
        ex.c.app_name == APP,
        ex.c.event_name == EVENT,
        ex.c.counted.is_(True),
        ex.c.triggered_at.is_not(None),
    )
    .order_by(ex.c.triggered_at.desc(), ex.c.id.desc())
    .limit(sa.bindparam("n", type_=sa.Integer))
)
GOVERNANCE_FIGURES = {
    (cooldown, daily): _governance_figures_query(cooldown, daily)
    for cooldown in (False, True)
    for daily in (False, True)
    if cooldown or daily
}
GET_EXECUTION = sa.select(ex).where(
    ex.c.tenant_id == TENANT, ex.c.app_name == APP, ex.c.execution_id == sa.bindparam("id")
)
GET_BREAKER = sa.select(s.breakers.c.state, s.breakers.c.opened_at).where(
    s.breakers.c.tenant_id == TENANT,
    s.breakers.c.app_name == APP,
    s.breakers.c.event_name == EVENT,
)
ALL_BREAKERS = sa.select(s.breakers.c.event_name, s.breakers.c.state, s.breakers.c.opened_at).where(
    s.breakers.c.tenant_id == TENANT, s.breakers.c.app_name == APP
)
GET_TRIGGER_STATE = sa.select(s.trigger_states).where(
    s.trigger_states.c.tenant_id == TENANT,
    s.trigger_states.c.app_name == APP,
    s.trigger_states.c.event_name == EVENT,
)
