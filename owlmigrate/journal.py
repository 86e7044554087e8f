"""The migration journal's pure planner (no I/O), in the shape of Alembic's revision map.

The journal is an append-only list of :class:`~owlclaw_runtime.ledger.base.JournalEntry` rows in
the ledger database. Replaying its ``done`` rows gives each job's state (generated, cut over,
weight and the stack of weights it was stepped through); the planner resolves symbolic targets
("previous step", ``--by 0.1``) and evaluates the step guardrails on figures handed to it. The
verbs in :mod:`owlmigrate.migration` do the I/O around it.

Row vocabulary (``action``; ``from_state`` / ``to_state`` keys):

- ``generate``: the trigger was written or changed (``module_sha256``).
- ``cutover``: legacy lines disabled, trigger live (``shadow``, ``lines``, ``source``, hashes).
- ``step``: ``migration_weight`` changed (``migration_weight``, ``literal``: the exact source
  text of the old value, so rolling back restores the module byte for byte).
- ``rollback``: soft (``migration_weight``) or ``to_legacy`` (lines restored, trigger paused).
- ``stamp``: the journal is told a state without touching files (Alembic ``stamp``).

Rows are written ``pending`` before a file changes and marked ``done`` (or ``undone``) after, so
a command killed half way is completed or undone by the next one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from owlclaw_runtime.ledger.base import JournalEntry

from owlmigrate.errors import FindingError, UsageError

ACTIONS = ("generate", "cutover", "step", "rollback", "stamp")
WEIGHT_DIGITS = 6


def normalise_weight(value: float) -> float:
    """Round to 6 decimals so that 0.1 + 0.2 steps land on 0.3, not 0.30000000000000004."""
    return round(float(value), WEIGHT_DIGITS) + 0.0


@dataclass(frozen=True)
class JobState:
    """What the journal says about one job (trigger ``job``)."""

    job: str
    generated: bool = False
    cut_over: bool = False
    restored_to_legacy: bool = False
    weights: tuple[float, ...] = (0.0,)
    literals: tuple[str | None, ...] = (None,)
    last_action: str | None = None
    pending: tuple[JournalEntry, ...] = field(default_factory=tuple)

    @property
    def weight(self) -> float:
        """The current ``migration_weight``."""
        return self.weights[-1]

    @property
    def shadow(self) -> bool:
        """Triggers run in shadow until cutover and again after ``rollback --to-legacy``."""
        return not self.cut_over

    @property
    def stage(self) -> str:
        """``not generated``, ``generated``, ``cut over`` or ``legacy`` (rolled back)."""
        if self.cut_over:
            return "cut over"
        if self.restored_to_legacy:
            return "legacy"
        return "generated" if self.generated else "not generated"


def _apply(state: JobState, entry: JournalEntry) -> JobState:
    to = entry.to_state
    state = replace(state, last_action=entry.action)
    if entry.action == "generate":
        return replace(state, generated=not to.get("removed"))
    if entry.action == "cutover":
        return replace(state, cut_over=True, restored_to_legacy=False)
    if entry.action == "step":
        weight = normalise_weight(to["migration_weight"])
        literal = entry.from_state.get("literal")
        return replace(
            state,
            weights=(*state.weights, weight),
            literals=(*state.literals, literal),
        )
    if entry.action == "rollback":
        if to.get("to_legacy"):
            return replace(
                state, cut_over=False, restored_to_legacy=True, weights=(0.0,), literals=(None,)
            )
        if len(state.weights) > 1:
            return replace(state, weights=state.weights[:-1], literals=state.literals[:-1])
        return state
    if entry.action == "stamp":
        if "cut_over" in to:
            state = replace(state, cut_over=bool(to["cut_over"]), generated=True)
        if "migration_weight" in to:
            weight = normalise_weight(to["migration_weight"])
            state = replace(
                state, weights=(*state.weights, weight), literals=(*state.literals, None)
            )
        return state
    return state


def replay(entries: Iterable[JournalEntry]) -> dict[str, JobState]:
    """Each job's state from its ``done`` rows (oldest first); ``pending`` rows are listed."""
    states: dict[str, JobState] = {}
    for entry in entries:
        state = states.get(entry.job) or JobState(job=entry.job)
        if entry.status == "done":
            state = _apply(state, entry)
        elif entry.status == "pending":
            state = replace(state, pending=(*state.pending, entry))
        states[entry.job] = state
    return states


def state_of(states: dict[str, JobState], job: str) -> JobState:
    """The state of ``job`` (a fresh one when the journal never mentions it)."""
    return states.get(job) or JobState(job=job)


def resolve_step_target(
    state: JobState, *, to: float | None = None, by: float | None = None
) -> float:
    """The weight ``step --to W`` or ``step --by D`` asks for; outside [0, 1] is refused."""
    if (to is None) == (by is None):
        raise UsageError("give exactly one of --to W or --by D")
    raw = float(to) if to is not None else state.weight + float(by or 0.0)
    if math.isnan(raw):
        raise UsageError("the weight must be a number")
    target = normalise_weight(raw)
    if not 0.0 <= target <= 1.0:
        raise FindingError(
            f"{state.job}: migration_weight {target:g} is outside [0, 1] "
            f"(current {state.weight:g}); refused"
        )
    return target


def resolve_rollback_target(state: JobState) -> tuple[float, str | None]:
    """The weight a soft rollback returns to (the previous step, or 0) and the literal to write
    back (the exact source text the module held at that weight, when the journal has it)."""
    if len(state.weights) > 1:
        return state.weights[-2], state.literals[-1]
    return 0.0, None


@dataclass(frozen=True)
class GuardrailPolicy:
    """How much evidence a step up needs: ``min_executions`` at the current weight, a failure
    rate below ``max_failure_rate``, a closed breaker, and an agent when the weight leaves 0."""

    min_executions: int = 5
    max_failure_rate: float = 0.2


@dataclass(frozen=True)
class Evidence:
    """Ledger figures for one job at its current weight."""

    executions: int
    failures: int
    breaker: str = "closed"
    agent_configured: bool = False

    @property
    def failure_rate(self) -> float | None:
        return None if self.executions == 0 else self.failures / self.executions


def step_refusals(
    state: JobState, target: float, evidence: Evidence | None, policy: GuardrailPolicy
) -> list[str]:
    """Why a step of ``state`` to ``target`` must be refused (empty: allowed).

    Stepping down only needs the cutover: handing work back to the legacy job is always safe.
    """
    reasons: list[str] = []
    if not state.cut_over:
        reasons.append("the job is not cut over (run `owlmigrate cutover` first)")
    if target <= state.weight:
        return reasons
    if evidence is None:
        reasons.append("no ledger evidence is available")
        return reasons
    if evidence.executions < policy.min_executions:
        reasons.append(
            f"only {evidence.executions} execution(s) at weight {state.weight:g}; "
            f"{policy.min_executions} needed"
        )
    rate = evidence.failure_rate
    if rate is not None and rate >= policy.max_failure_rate:
        reasons.append(
            f"failure rate {rate:.0%} at weight {state.weight:g} is not under "
            f"{policy.max_failure_rate:.0%}"
        )
    if evidence.breaker != "closed":
        reasons.append(f"the breaker is {evidence.breaker.replace('_', '-')}")
    if target > 0.0 and not evidence.agent_configured:
        reasons.append("no agent is configured, so a weight above 0 would only fail over")
    return reasons
