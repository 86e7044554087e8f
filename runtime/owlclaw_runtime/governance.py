"""Governance: the checks a run must pass before it starts, recorded in ``governance_checks``.

Fixes over OwlClaw (reference/owlclaw.md section 3.9, bugs 2, 6 and 7):
- daily limits count only real executions (never skipped rows, manual-trigger bookkeeping or
  management events) over the trigger's **local** day in its own timezone, so a DST day has
  23 or 25 hours and a Tokyo job's day does not start at 09:00 local;
- cooldown runs from the ``completed_at`` of the last *successful* execution;
- ``max_cost_per_run`` and ``max_duration`` are enforced by the pipeline (an agent run costing
  more is a failure; ``max_duration`` is the execution timeout), not merely flagged;
- the breaker is the half-open one of :mod:`owlclaw_runtime.breaker`.

Manual runs (``trigger_now``) are an explicit operator action: they skip the frequency limits
(cooldown, daily runs and cost) but still honour the breaker, concurrency and cost per run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from owlclaw_runtime.breaker import BreakerDecision, CircuitBreaker
from owlclaw_runtime.ledger.base import GovernanceFigures, LedgerStore
from owlclaw_runtime.triggers.models import CronTriggerConfig


@dataclass
class GovernanceResult:
    """Outcome of the pre-run checks."""

    allowed: bool
    skip_reason: str | None = None
    checks: dict[str, Any] = field(default_factory=dict)
    breaker_trial: bool = False
    breaker_transition: tuple[str, str] | None = None


def local_day_bounds(instant: datetime, timezone: str) -> tuple[datetime, datetime]:
    """The UTC bounds ``[start, end)`` of the local calendar day holding ``instant``.

    Midnight is taken in the zone itself, so the day is 23 hours long on a spring-forward day
    and 25 hours on a fall-back day."""
    zone = ZoneInfo(timezone)
    local_date = instant.astimezone(zone).date()
    start = datetime.combine(local_date, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(local_date + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


class CronGovernance:
    """Runs breaker, cooldown and daily checks against the ledger (synchronous; the pipeline
    calls it from a worker thread)."""

    def __init__(
        self, ledger: LedgerStore, breaker: CircuitBreaker, *, tenant_id: str = "default"
    ) -> None:
        self._ledger = ledger
        self.breaker = breaker
        self._tenant = tenant_id

    @staticmethod
    def _has_limits(config: CronTriggerConfig) -> bool:
        """A cooldown or a daily limit: the checks after the breaker."""
        return (
            config.cooldown_seconds > 0
            or config.max_daily_runs is not None
            or config.max_daily_cost is not None
        )

    @classmethod
    def reads_ledger(cls, config: CronTriggerConfig, *, trigger_type: str = "cron") -> bool:
        """Whether the checks after the breaker query the ledger for this run: only a cooldown
        (``last_success_at``) or a daily limit (``daily_usage``) does, and a manual run skips
        both."""
        return trigger_type != "manual" and cls._has_limits(config)

    def check_cached(
        self, config: CronTriggerConfig, now: datetime, *, trigger_type: str = "cron"
    ) -> GovernanceResult | None:
        """The whole check when it needs no query (no cooldown or daily limit to read, the
        breaker's closed state cached): the event loop may run it inline, without a thread
        hop or a database round trip. ``None`` means: call :meth:`check` in a thread."""
        limited = self._has_limits(config)
        if limited and trigger_type != "manual":
            return None  # a cooldown or daily limit to read
        decision = self.breaker.check_cached(config, now)
        if decision is None:
            return None
        if not limited:
            # Nothing but the (closed, cached) breaker to check: the common case, answered
            # without the general path, since every run due at a wake-up goes through here.
            breaker = {"passed": True, "state": decision.state}
            return GovernanceResult(True, None, {"breaker": breaker})
        return self.check(config, now, trigger_type=trigger_type, decision=decision)

    def check(
        self,
        config: CronTriggerConfig,
        now: datetime,
        *,
        trigger_type: str = "cron",
        decision: BreakerDecision | None = None,
    ) -> GovernanceResult:
        """Every pre-run check in order; stops at the first that refuses. ``decision`` is the
        breaker's, when already taken (:meth:`check_cached`)."""
        checks: dict[str, Any] = {}
        name = config.event_name
        manual = trigger_type == "manual"

        if decision is None:
            decision = self.breaker.check(config, now)
        checks["breaker"] = {"passed": decision.allowed, "state": decision.state}
        if not decision.allowed:
            return GovernanceResult(
                False, "breaker_open", checks, breaker_transition=decision.transition
            )
        result = GovernanceResult(
            True, None, checks, decision.trial, breaker_transition=decision.transition
        )

        cooldown = config.cooldown_seconds > 0
        daily = config.max_daily_runs is not None or config.max_daily_cost is not None
        figures = GovernanceFigures()
        bounds: tuple[datetime, datetime] | None = None
        if (cooldown or daily) and not manual:
            # both reads in one round trip (LedgerStore.governance_figures)
            bounds = local_day_bounds(now, config.timezone) if daily else None
            figures = self._ledger.governance_figures(
                name, cooldown=cooldown, daily=bounds, tenant_id=self._tenant
            )

        if cooldown:
            if manual:
                checks["cooldown"] = {"passed": True, "bypassed": "manual"}
            else:
                last = figures.last_success_at
                elapsed = None if last is None else (now - last).total_seconds()
                ok = elapsed is None or elapsed >= config.cooldown_seconds
                checks["cooldown"] = {
                    "passed": ok,
                    "elapsed_seconds": elapsed,
                    "limit_seconds": config.cooldown_seconds,
                }
                if not ok:
                    return self._refuse(result, config, "cooldown")

        if daily:
            if manual:
                checks["daily"] = {"passed": True, "bypassed": "manual"}
            else:
                assert bounds is not None
                start = bounds[0]
                runs, cost = figures.daily_runs or 0, figures.daily_cost or 0.0
                if config.max_daily_runs is not None:
                    ok = runs < config.max_daily_runs
                    checks["daily_runs"] = {
                        "passed": ok,
                        "runs": runs,
                        "limit": config.max_daily_runs,
                        "day_start": start.isoformat(),
                    }
                    if not ok:
                        return self._refuse(result, config, "max_daily_runs")
                if config.max_daily_cost is not None:
                    ok = cost < config.max_daily_cost
                    checks["daily_cost"] = {
                        "passed": ok,
                        "cost_usd": cost,
                        "limit_usd": config.max_daily_cost,
                        "day_start": start.isoformat(),
                    }
                    if not ok:
                        return self._refuse(result, config, "max_daily_cost")
        return result

    def _refuse(
        self, result: GovernanceResult, config: CronTriggerConfig, reason: str
    ) -> GovernanceResult:
        if result.breaker_trial:
            self.breaker.abandon_trial(config.event_name)
        result.allowed = False
        result.skip_reason = reason
        result.breaker_trial = False
        return result
