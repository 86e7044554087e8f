"""The pure journal planner: replay, symbolic targets, guardrails."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from owlclaw_runtime.ledger import JournalEntry

from owlmigrate.errors import FindingError, UsageError
from owlmigrate.journal import (
    Evidence,
    GuardrailPolicy,
    JobState,
    replay,
    resolve_rollback_target,
    resolve_step_target,
    state_of,
    step_refusals,
)

AT = datetime(2026, 1, 1, tzinfo=UTC)


def row(
    action: str,
    to: dict | None = None,
    frm: dict | None = None,
    status: str = "done",
    job: str = "j",
) -> JournalEntry:
    return JournalEntry(
        job=job,
        action=action,
        at=AT,
        user="u",
        from_state=frm or {},
        to_state=to or {},
        status=status,
    )


def test_replay_follows_generate_cutover_steps_and_rollbacks() -> None:
    states = replay(
        [
            row("generate"),
            row("cutover", {"shadow": False}),
            row("step", {"migration_weight": 0.1}, {"literal": "0.0"}),
            row("step", {"migration_weight": 0.5}, {"literal": "0.1"}),
            row("rollback", {"migration_weight": 0.1}),
        ]
    )
    state = states["j"]
    assert state.stage == "cut over"
    assert state.weight == 0.1
    assert state.weights == (0.0, 0.1)
    assert resolve_rollback_target(state) == (0.0, "0.0")


def test_pending_and_undone_rows_do_not_move_the_state() -> None:
    states = replay(
        [
            row("generate"),
            row("cutover", status="pending"),
            row("step", {"migration_weight": 0.5}, status="undone"),
        ]
    )
    state = states["j"]
    assert state.stage == "generated"
    assert state.weight == 0.0
    assert [e.action for e in state.pending] == ["cutover"]


def test_rollback_to_legacy_resets_everything() -> None:
    states = replay(
        [
            row("generate"),
            row("cutover"),
            row("step", {"migration_weight": 0.5}),
            row("rollback", {"to_legacy": True, "migration_weight": 0.0}),
        ]
    )
    assert states["j"].stage == "legacy"
    assert states["j"].weights == (0.0,)
    assert states["j"].shadow


def test_stamp_sets_state_without_files() -> None:
    state = replay([row("stamp", {"cut_over": True, "migration_weight": 0.3})])["j"]
    assert state.cut_over and state.weight == 0.3


def test_step_targets_and_bounds() -> None:
    state = JobState(job="j", cut_over=True, weights=(0.0, 0.2))
    assert resolve_step_target(state, by=0.1) == 0.3
    assert resolve_step_target(state, to=1) == 1.0
    with pytest.raises(FindingError, match="outside"):
        resolve_step_target(state, by=0.9)
    with pytest.raises(FindingError, match="outside"):
        resolve_step_target(state, to=-0.1)
    with pytest.raises(UsageError, match="exactly one"):
        resolve_step_target(state, to=0.1, by=0.1)
    with pytest.raises(UsageError, match="exactly one"):
        resolve_step_target(state)


def test_a_fresh_job_rolls_back_to_zero() -> None:
    assert resolve_rollback_target(state_of({}, "x")) == (0.0, None)


POLICY = GuardrailPolicy(min_executions=5, max_failure_rate=0.2)
LIVE = JobState(job="j", cut_over=True)


@pytest.mark.parametrize(
    ("state", "target", "evidence", "expected"),
    [
        pytest.param(LIVE, 0.1, Evidence(10, 1, "closed", True), [], id="allowed"),
        pytest.param(
            JobState(job="j"),
            0.1,
            Evidence(10, 0, "closed", True),
            ["the job is not cut over (run `owlmigrate cutover` first)"],
            id="not-cut-over",
        ),
        pytest.param(
            LIVE,
            0.1,
            Evidence(4, 0, "closed", True),
            ["only 4 execution(s) at weight 0; 5 needed"],
            id="too-few-runs",
        ),
        pytest.param(
            LIVE,
            0.1,
            Evidence(10, 2, "closed", True),
            ["failure rate 20% at weight 0 is not under 20%"],
            id="failure-rate",
        ),
        pytest.param(
            LIVE,
            0.1,
            Evidence(10, 0, "half_open", True),
            ["the breaker is half-open"],
            id="breaker",
        ),
        pytest.param(
            LIVE,
            0.1,
            Evidence(10, 0, "closed", False),
            ["no agent is configured, so a weight above 0 would only fail over"],
            id="no-agent",
        ),
        pytest.param(
            JobState(job="j", cut_over=True, weights=(0.0, 0.5)),
            0.1,
            None,
            [],
            id="stepping-down-needs-no-evidence",
        ),
    ],
)
def test_step_refusals(
    state: JobState, target: float, evidence: Evidence | None, expected: list[str]
) -> None:
    assert step_refusals(state, target, evidence, POLICY) == expected
