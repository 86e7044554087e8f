"""``step`` and the soft ``rollback``: move ``migration_weight`` with guardrails, journaled."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from owlclaw_runtime.ledger import (
    LedgerStore,
)

from owlmigrate.atomic import crash_point
from owlmigrate.errors import FindingError
from owlmigrate.journal import (
    Evidence,
    GuardrailPolicy,
    replay,
    resolve_rollback_target,
    resolve_step_target,
    state_of,
    step_refusals,
)
from owlmigrate.migration._base import AppDir, _entry, _event, _save_state, _select, _session
from owlmigrate.rewrite.codemods import (
    CodemodError,
    read_cron_keywords,
    set_cron_keywords,
    weight_code,
)

# ---------------------------------------------------------------------------------------------
# step and soft rollback


@dataclass
class WeightResult:
    """Per job: ``{"from": w0, "to": w1, "status": ...}``; refusals are raised, not returned."""

    jobs: dict[str, dict[str, Any]]
    forced: bool = False
    recovered: list[str] = field(default_factory=list)
    waited_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _agent_configured(app: AppDir) -> tuple[bool, str | None]:
    from owlclaw_runtime.errors import OwlClawError
    from owlclaw_runtime.loader import load_app

    try:
        loaded = load_app(app.path)
        return loaded.agent is not None, None
    except OwlClawError as exc:
        return False, f"the app's agent cannot be loaded: {exc}"


def evidence_for(
    store: LedgerStore,
    name: str,
    weight: float,
    *,
    tenant_id: str = "default",
    policy: GuardrailPolicy | None = None,
) -> Evidence:
    """The report's guardrail figures at ``weight`` (the fallback baseline at 0, the agent above
    it; skipped rows never count) and the breaker state."""
    from owlmigrate.report import Thresholds, guardrail_figures

    policy = policy or GuardrailPolicy()
    thresholds = Thresholds(
        min_executions=policy.min_executions, max_failure_rate=policy.max_failure_rate
    )
    figures = guardrail_figures(store, name, weight, tenant_id=tenant_id, thresholds=thresholds)
    breaker = store.get_breaker(name, tenant_id=tenant_id).state
    return Evidence(
        executions=figures.guardrail_executions,
        failures=figures.guardrail_failures,
        breaker=breaker,
    )


def _apply_weights(
    app: AppDir,
    store: LedgerStore,
    action: str,
    plan: dict[str, tuple[float, float, str | None]],
    *,
    tenant_id: str,
    forced: bool,
    reason: str | None,
    extra: dict[str, dict[str, Any]],
) -> dict[str, int]:
    """Journal, rewrite the module, override the ledger weight, mark done (crash points between)."""
    module = app.read_module()
    current = read_cron_keywords(module, "migration_weight", path=str(app.module_path))
    rows: dict[str, int] = {}
    for name, (old, new, literal) in plan.items():
        if name not in current:
            raise CodemodError(
                f"no single @app.cron decorator with event_name={name!r}", path=app.module_path
            )
        old_literal = current[name]
        rows[name] = store.journal_append(
            _entry(
                name,
                action,
                {"migration_weight": old, "literal": old_literal},
                {
                    "migration_weight": new,
                    "literal": literal or weight_code(new),
                    **extra.get(name, {}),
                },
                reason=reason,
                forced=forced,
            )
        )
    module = set_cron_keywords(
        module,
        {(n, "migration_weight"): lit or weight_code(new) for n, (_, new, lit) in plan.items()},
        path=str(app.module_path),
    ).source
    crash_point(f"{action}.journaled")
    app.write_module(module)
    crash_point(f"{action}.module_written")
    for name, (_old, new, _literal) in plan.items():
        _save_state(store, name, tenant_id, migration_weight=new)
        _event(store, name, action, tenant_id, {"migration_weight": new, "forced": forced})
    crash_point(f"{action}.state_saved")
    for entry_id in rows.values():
        store.journal_update_status(entry_id, "done")
    return rows


def step(
    app_dir: str | Path,
    jobs: Iterable[str] = (),
    *,
    all_jobs: bool = False,
    to: float | None = None,
    by: float | None = None,
    force: bool = False,
    policy: GuardrailPolicy | None = None,
    ledger_url: str | None = None,
    tenant_id: str = "default",
    reason: str | None = None,
) -> WeightResult:
    """Move ``migration_weight`` to ``to`` (or by ``by``) when the ledger's evidence allows.

    All-or-nothing: when any job is refused nothing changes and :class:`FindingError` lists every
    reason. ``force`` overrides the guardrails (never the [0, 1] bounds) and is journaled.
    """
    policy = policy or GuardrailPolicy()
    with _session(app_dir, ledger_url) as (app, store, notes):
        names = _select(app, jobs, all_jobs)
        states = replay(store.journal())
        result = WeightResult(jobs={}, forced=force, recovered=notes)
        plan: dict[str, tuple[float, float, str | None]] = {}
        refusals: list[str] = []
        agent: tuple[bool, str | None] | None = None
        for name in names:
            state = state_of(states, name)
            target = resolve_step_target(state, to=to, by=by)
            if target == state.weight:
                result.jobs[name] = {"from": state.weight, "to": target, "status": "unchanged"}
                continue
            evidence = evidence_for(store, name, state.weight, tenant_id=tenant_id, policy=policy)
            going_up = target > state.weight
            if going_up and target > 0.0 and agent is None:
                agent = _agent_configured(app)
            configured, agent_problem = agent if agent is not None else (False, None)
            evidence = replace(evidence, agent_configured=configured)
            reasons = step_refusals(state, target, evidence, policy)
            if agent_problem and going_up and target > 0.0:
                reasons = [r for r in reasons if not r.startswith("no agent")] + [agent_problem]
            if reasons and not force:
                refusals.extend(f"{name}: {r}" for r in reasons)
            plan[name] = (state.weight, target, None)
            result.jobs[name] = {
                "from": state.weight,
                "to": target,
                "status": "stepped",
                "overridden": reasons if force else [],
                "evidence": {
                    "executions": evidence.executions,
                    "failures": evidence.failures,
                    "breaker": evidence.breaker,
                },
            }
        if refusals:
            raise FindingError(
                "step refused (use --force to override):\n  " + "\n  ".join(refusals)
            )
        if plan:
            _apply_weights(
                app,
                store,
                "step",
                plan,
                tenant_id=tenant_id,
                forced=force,
                reason=reason,
                extra={n: {"overridden": result.jobs[n]["overridden"]} for n in plan},
            )
        return result


def soft_rollback(
    app: AppDir,
    store: LedgerStore,
    names: list[str],
    *,
    tenant_id: str,
    reason: str | None,
) -> dict[str, dict[str, Any]]:
    """Weight back to the previous step (or 0), writing back the exact literal it had."""
    states = replay(store.journal())
    plan: dict[str, tuple[float, float, str | None]] = {}
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        state = state_of(states, name)
        target, literal = resolve_rollback_target(state)
        if target == state.weight and len(state.weights) == 1:
            out[name] = {"from": state.weight, "to": target, "status": "unchanged"}
            continue
        plan[name] = (state.weight, target, literal)
        out[name] = {"from": state.weight, "to": target, "status": "rolled back"}
    if plan:
        _apply_weights(
            app, store, "rollback", plan, tenant_id=tenant_id, forced=False, reason=reason, extra={}
        )
    return out
