"""The migration report (FR-9): agent and fallback side by side, per job and per weight step.

Every execution in the ledger records the ``migration_weight`` it ran under and its
``decision_mode`` (``agent`` when the draw picked the agent, ``fallback`` otherwise). The report
groups a job's counted executions (success, fallback, failed; skipped rows are only counted
apart, as the ledger contract says) by that weight and compares the two sides:

- **agent side**: executions the agent was chosen for. Only ``success`` is an agent success; a
  ``fallback`` status on this side means the agent failed and the legacy job rescued the run,
  so it is an agent failure (``rescued``) even though the job's work was done. The ledger's own
  ``stats`` counts such rows as successes because the *job* succeeded; for deciding whether
  the agent can take more of the work, the agent's own outcome is what matters.
- **fallback side**: executions that ran the legacy job directly; ``fallback`` (or
  ``success``) is a success, ``failed`` a failure.

The recommendation walks the ladder 0 → 0.1 → 0.5 → 1.0 (DESIGN.md section 1). The step
guardrails of ``owlmigrate step`` use :func:`guardrail_figures`, the same numbers.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from owlclaw_runtime.ledger.base import LedgerStore
from owlclaw_runtime.triggers.models import CronExecution, ExecutionStatus

WEIGHT_STEPS: tuple[float, ...] = (0.0, 0.1, 0.5, 1.0)
_WEIGHT_DIGITS = 6  # weights equal to 6 decimals are one step (the ledger's tolerance is 1e-6)
_ERROR_KEY_CHARS = 80

Action = Literal["hold", "step_up", "rollback"]


@dataclass(frozen=True)
class Thresholds:
    """How much evidence a step up needs, and when to go back.

    ``min_executions`` counted executions at the current weight (agent executions above 0;
    fallback executions at 0, the baseline), with a failure rate under ``max_failure_rate``.
    At or above that rate with enough executions, the agent's step is rolled back. Outcome
    shares that differ by at least ``difference_share`` between the sides are listed."""

    min_executions: int = 5
    max_failure_rate: float = 0.2
    difference_share: float = 0.05

    def __post_init__(self) -> None:
        if self.min_executions < 1:
            raise ValueError("min_executions must be >= 1")
        if not 0.0 < self.max_failure_rate <= 1.0:
            raise ValueError("max_failure_rate must be in (0, 1]")


@dataclass(frozen=True)
class SideFigures:
    """One side (agent or fallback) at one weight step."""

    executions: int = 0
    successes: int = 0
    failures: int = 0
    rescued: int = 0  # agent side: the agent failed and the fallback did the job
    average_duration_seconds: float | None = None
    total_cost_usd: float = 0.0
    llm_calls: int = 0

    @property
    def success_rate(self) -> float | None:
        return None if self.executions == 0 else self.successes / self.executions

    @property
    def failure_rate(self) -> float | None:
        return None if self.executions == 0 else self.failures / self.executions

    def to_dict(self) -> dict[str, Any]:
        return {
            "executions": self.executions,
            "successes": self.successes,
            "failures": self.failures,
            "rescued": self.rescued,
            "success_rate": self.success_rate,
            "failure_rate": self.failure_rate,
            "average_duration_seconds": self.average_duration_seconds,
            "total_cost_usd": self.total_cost_usd,
            "llm_calls": self.llm_calls,
        }


@dataclass(frozen=True)
class OutcomeDifference:
    """An outcome (ok, rescued or failed; an exit code; an error) whose share differs between
    the sides. ``ok`` is the side doing the job itself (``success`` for the agent, ``fallback``
    for the fallback), so the two statuses' different names are not reported as a difference."""

    kind: str  # outcome (ok | rescued | failed) | exit_code | error
    value: str
    agent: int
    fallback: int
    agent_share: float
    fallback_share: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "value": self.value,
            "agent": self.agent,
            "fallback": self.fallback,
            "agent_share": self.agent_share,
            "fallback_share": self.fallback_share,
        }


@dataclass(frozen=True)
class StepFigures:
    """Both sides at one ``migration_weight``."""

    weight: float
    agent: SideFigures
    fallback: SideFigures
    skipped: int = 0
    differences: tuple[OutcomeDifference, ...] = ()

    @property
    def evidence(self) -> SideFigures:
        """The side a step up from this weight is judged on: the fallback baseline at 0, the
        agent above 0."""
        return self.fallback if self.weight == 0.0 else self.agent

    @property
    def guardrail_executions(self) -> int:
        return self.evidence.executions

    @property
    def guardrail_failures(self) -> int:
        return self.evidence.failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "migration_weight": self.weight,
            "agent": self.agent.to_dict(),
            "fallback": self.fallback.to_dict(),
            "skipped": self.skipped,
            "differences": [d.to_dict() for d in self.differences],
        }


@dataclass(frozen=True)
class Recommendation:
    """What to do next with a job's weight, and why."""

    action: Action
    current_weight: float
    to_weight: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "current_weight": self.current_weight,
            "to_weight": self.to_weight,
            "reason": self.reason,
        }

    def __str__(self) -> str:
        if self.action == "step_up":
            head = f"step up {self.current_weight:g} -> {self.to_weight:g}"
        elif self.action == "rollback":
            head = f"roll back {self.current_weight:g} -> {self.to_weight:g}"
        else:
            head = f"hold at {self.current_weight:g}"
        return f"{head}: {self.reason}"


@dataclass(frozen=True)
class JobReport:
    job: str
    current_weight: float
    agent_configured: bool | None
    steps: tuple[StepFigures, ...]
    recommendation: Recommendation

    def step(self, weight: float) -> StepFigures | None:
        """The figures at ``weight``, or None when nothing ran at it."""
        key = _weight_key(weight)
        return next((s for s in self.steps if s.weight == key), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "migration_weight": self.current_weight,
            "agent_configured": self.agent_configured,
            "steps": [s.to_dict() for s in self.steps],
            "recommendation": self.recommendation.to_dict(),
        }


@dataclass(frozen=True)
class Report:
    jobs: tuple[JobReport, ...]
    thresholds: Thresholds = field(default_factory=Thresholds)

    def job(self, name: str) -> JobReport:
        for report in self.jobs:
            if report.job == name:
                return report
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "thresholds": {
                "min_executions": self.thresholds.min_executions,
                "max_failure_rate": self.thresholds.max_failure_rate,
            },
            "jobs": [j.to_dict() for j in self.jobs],
        }


# -- figures ------------------------------------------------------------------------------


def _weight_key(weight: float) -> float:
    return round(float(weight), _WEIGHT_DIGITS) + 0.0  # + 0.0 turns -0.0 into 0.0


def _status(execution: CronExecution) -> ExecutionStatus:
    return ExecutionStatus(execution.status)


def _side(rows: list[CronExecution], *, agent: bool) -> SideFigures:
    successes = rescued = 0
    durations: list[float] = []
    for row in rows:
        status = _status(row)
        if agent:
            successes += status == ExecutionStatus.SUCCESS
            rescued += status == ExecutionStatus.FALLBACK
        else:
            successes += status.is_success
        if row.duration_seconds is not None:
            durations.append(row.duration_seconds)
    return SideFigures(
        executions=len(rows),
        successes=successes,
        failures=len(rows) - successes,
        rescued=rescued,
        average_duration_seconds=(math.fsum(durations) / len(durations)) if durations else None,
        total_cost_usd=math.fsum(r.cost_usd or 0.0 for r in rows),
        llm_calls=sum(r.llm_calls or 0 for r in rows),
    )


def _error_key(message: str | None) -> str | None:
    if not message:
        return None
    # "agent failed: AgentRunFailed: agent refused: ..." -> keep the leading classification
    return message.strip().splitlines()[0][:_ERROR_KEY_CHARS].rstrip()


def _outcome(row: CronExecution, *, agent: bool) -> str:
    status = _status(row)
    if status == ExecutionStatus.FAILED:
        return "failed"
    if agent and status == ExecutionStatus.FALLBACK:
        return "rescued"
    return "ok"


def _outcomes(rows: list[CronExecution], *, agent: bool) -> dict[tuple[str, str], int]:
    counts: Counter[tuple[str, str]] = Counter()
    for row in rows:
        counts[("outcome", _outcome(row, agent=agent))] += 1
        if row.exit_code is not None:
            counts[("exit_code", str(row.exit_code))] += 1
        key = _error_key(row.error_message)
        if key is not None:
            counts[("error", key)] += 1
    return counts


def _differences(
    agent_rows: list[CronExecution], fallback_rows: list[CronExecution], min_share: float
) -> tuple[OutcomeDifference, ...]:
    if not agent_rows or not fallback_rows:
        return ()
    a, f = _outcomes(agent_rows, agent=True), _outcomes(fallback_rows, agent=False)
    out = []
    for key in sorted(set(a) | set(f)):
        a_share = a.get(key, 0) / len(agent_rows)
        f_share = f.get(key, 0) / len(fallback_rows)
        if abs(a_share - f_share) >= min_share:
            out.append(
                OutcomeDifference(key[0], key[1], a.get(key, 0), f.get(key, 0), a_share, f_share)
            )
    kinds = {"outcome": 0, "exit_code": 1, "error": 2}
    out.sort(key=lambda d: (-abs(d.agent_share - d.fallback_share), kinds[d.kind], d.value))
    return tuple(out)


def step_figures(
    executions: Iterable[CronExecution], weight: float, *, difference_share: float = 0.05
) -> StepFigures:
    """Figures at one weight from a job's executions (rows at other weights are ignored)."""
    key = _weight_key(weight)
    agent_rows: list[CronExecution] = []
    fallback_rows: list[CronExecution] = []
    skipped = 0
    for row in executions:
        if _weight_key(row.migration_weight) != key:
            continue
        status = _status(row)
        if status == ExecutionStatus.SKIPPED:
            skipped += 1
        elif status.counts_as_execution:
            (agent_rows if row.decision_mode == "agent" else fallback_rows).append(row)
    return StepFigures(
        weight=key,
        agent=_side(agent_rows, agent=True),
        fallback=_side(fallback_rows, agent=False),
        skipped=skipped,
        differences=_differences(agent_rows, fallback_rows, difference_share),
    )


def job_executions(
    store: LedgerStore, job: str, *, tenant_id: str = "default"
) -> list[CronExecution]:
    """Every execution of ``job`` in the ledger, oldest first."""
    return [e for e in store.iter_all_executions(tenant_id=tenant_id) if e.event_name == job]


def guardrail_figures(
    store: LedgerStore,
    job: str,
    weight: float,
    *,
    tenant_id: str = "default",
    thresholds: Thresholds | None = None,
) -> StepFigures:
    """The figures ``owlmigrate step`` judges a step up from ``weight`` on (the report's own):
    use ``.guardrail_executions`` and ``.guardrail_failures`` (agent executions and agent
    failures above 0, rescued runs included; the fallback baseline at 0)."""
    share = (thresholds or Thresholds()).difference_share
    return step_figures(
        job_executions(store, job, tenant_id=tenant_id), weight, difference_share=share
    )


# -- recommendation -------------------------------------------------------------------------


def next_step(weight: float) -> float | None:
    """The next weight on the ladder above ``weight`` (None at 1.0)."""
    return next((w for w in WEIGHT_STEPS if w > _weight_key(weight)), None)


def previous_step(weight: float) -> float:
    """The weight on the ladder below ``weight`` (0 at 0)."""
    below = [w for w in WEIGHT_STEPS if w < _weight_key(weight)]
    return below[-1] if below else 0.0


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.0%}"


def recommend(
    figures: StepFigures | None,
    current_weight: float,
    thresholds: Thresholds | None = None,
    *,
    agent_configured: bool | None = None,
) -> Recommendation:
    """Hold, step up to the next weight, or roll back to the previous one, from the figures at
    the current weight. A step up needs ``min_executions`` and a failure rate under
    ``max_failure_rate`` on the evidence side (the same rule as the ``step`` guardrail);
    an agent failure rate at or above it, over enough executions, is a roll back."""
    t = thresholds or Thresholds()
    w = _weight_key(current_weight)
    figures = figures or StepFigures(weight=w, agent=SideFigures(), fallback=SideFigures())
    evidence = figures.evidence
    side = "fallback (baseline)" if w == 0.0 else "agent"
    rate = evidence.failure_rate
    enough = evidence.executions >= t.min_executions
    too_many_failures = rate is not None and rate >= t.max_failure_rate
    if w > 0.0 and enough and too_many_failures:
        back = previous_step(w)
        return Recommendation(
            "rollback",
            w,
            back,
            f"agent failure rate {_pct(rate)} over {evidence.executions} execution(s) at "
            f"weight {w:g} is not under {_pct(t.max_failure_rate)}",
        )
    target = next_step(w)
    if target is None:
        return Recommendation(
            "hold",
            w,
            w,
            f"fully handed to the agent; agent failure rate {_pct(rate)} over "
            f"{evidence.executions} execution(s)",
        )
    if not enough:
        return Recommendation(
            "hold",
            w,
            w,
            f"only {evidence.executions} {side} execution(s) at weight {w:g}; "
            f"{t.min_executions} needed",
        )
    if too_many_failures:
        return Recommendation(
            "hold",
            w,
            w,
            f"{side} failure rate {_pct(rate)} at weight {w:g} is not under "
            f"{_pct(t.max_failure_rate)}",
        )
    if agent_configured is False:
        return Recommendation(
            "hold", w, w, "no agent is configured, so a higher weight would only fail over"
        )
    return Recommendation(
        "step_up",
        w,
        target,
        f"{side} failure rate {_pct(rate)} over {evidence.executions} execution(s) at "
        f"weight {w:g} is under {_pct(t.max_failure_rate)}",
    )


# -- the report -----------------------------------------------------------------------------


def _jobs_of(app_or_jobs: Any, store: LedgerStore, tenant_id: str) -> dict[str, float | None]:
    """Job name -> configured weight (None when unknown) from an app, a mapping or names."""
    registry = getattr(app_or_jobs, "cron_registry", None)
    if registry is not None:
        return {c.event_name: c.migration_weight for c in registry.list_triggers()}
    if isinstance(app_or_jobs, Mapping):
        return {str(k): (None if v is None else float(v)) for k, v in app_or_jobs.items()}
    if app_or_jobs is None:
        names = sorted({e.event_name for e in store.iter_all_executions(tenant_id=tenant_id)})
        return dict.fromkeys(names)
    return dict.fromkeys(str(name) for name in app_or_jobs)


def _agent_configured(app_or_jobs: Any) -> bool | None:
    """Whether the app has an agent; None when unknown (no app, or an agent that cannot be
    loaded here, e.g. without its API settings: the figures are still worth reporting)."""
    if getattr(app_or_jobs, "cron_registry", None) is None:
        return None
    try:
        return app_or_jobs.agent is not None
    except Exception:
        return None


def build_report(
    store: LedgerStore,
    app_or_jobs: Any,
    job: str | None = None,
    *,
    thresholds: Thresholds | None = None,
    tenant_id: str = "default",
) -> Report:
    """The report for every job of ``app_or_jobs`` (an ``OwlClawApp``, a mapping of job name to
    configured weight, an iterable of names, or None for every job in the ledger), or for
    ``job`` only. The current weight is the durable ledger override (what ``step`` writes and
    running workers read) when set, else the configured one, else the newest execution's.
    Raises KeyError for a ``job`` the app does not have."""
    t = thresholds or Thresholds()
    jobs = _jobs_of(app_or_jobs, store, tenant_id)
    if job is not None:
        if job not in jobs and getattr(app_or_jobs, "cron_registry", None) is not None:
            raise KeyError(job)
        jobs = {job: jobs.get(job)}
    agent_configured = _agent_configured(app_or_jobs)
    by_job: dict[str, list[CronExecution]] = {name: [] for name in jobs}
    for execution in store.iter_all_executions(tenant_id=tenant_id):
        if execution.event_name in by_job:
            by_job[execution.event_name].append(execution)
    reports = []
    for name in sorted(jobs):
        rows = by_job[name]
        state = store.get_trigger_state(name, tenant_id=tenant_id)
        current = state.migration_weight
        if current is None:
            current = jobs[name]
        if current is None:
            current = rows[-1].migration_weight if rows else 0.0
        weights = sorted({_weight_key(r.migration_weight) for r in rows})
        steps = tuple(step_figures(rows, w, difference_share=t.difference_share) for w in weights)
        figures = next((s for s in steps if s.weight == _weight_key(current)), None)
        reports.append(
            JobReport(
                job=name,
                current_weight=_weight_key(current),
                agent_configured=agent_configured,
                steps=steps,
                recommendation=recommend(figures, current, t, agent_configured=agent_configured),
            )
        )
    return Report(jobs=tuple(reports), thresholds=t)


def render_text(report: Report) -> str:
    """The human table: one block per job, one line per side per weight step."""
    lines: list[str] = []
    for job in report.jobs:
        agent = {None: "", True: ", agent configured", False: ", no agent configured"}[
            job.agent_configured
        ]
        lines.append(f"{job.job} (weight {job.current_weight:g}{agent})")
        if not job.steps:
            lines.append("  no executions recorded")
        else:
            lines.append(
                f"  {'weight':>6}  {'side':<8}  {'runs':>5}  {'ok':>5}  {'failed':>6}  "
                f"{'rescued':>7}  {'success':>7}  {'avg s':>8}  {'cost $':>10}"
            )
            for step in job.steps:
                for name, side in (("agent", step.agent), ("fallback", step.fallback)):
                    if side.executions == 0:
                        continue
                    avg = (
                        "-"
                        if side.average_duration_seconds is None
                        else f"{side.average_duration_seconds:.2f}"
                    )
                    rescued = str(side.rescued) if name == "agent" else "-"
                    lines.append(
                        f"  {step.weight:>6g}  {name:<8}  {side.executions:>5}  "
                        f"{side.successes:>5}  {side.failures:>6}  {rescued:>7}  "
                        f"{_pct(side.success_rate):>7}  {avg:>8}  {side.total_cost_usd:>10.4f}"
                    )
                if step.skipped:
                    lines.append(f"  {step.weight:>6g}  skipped   {step.skipped:>5}")
                for diff in step.differences:
                    lines.append(
                        f"    at {step.weight:g}, {diff.kind} {diff.value}: agent {diff.agent} "
                        f"({diff.agent_share:.0%}), fallback {diff.fallback} "
                        f"({diff.fallback_share:.0%})"
                    )
        lines.append(f"  recommendation: {job.recommendation}")
    return "\n".join(lines) + ("\n" if lines else "")
