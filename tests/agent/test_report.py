"""The migration report on a real ledger (SQLite; PostgreSQL when the server is there)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from owlclaw_runtime.ledger import LedgerStore, TriggerState, open_store
from owlclaw_runtime.triggers.models import CronExecution, ExecutionStatus
from sqlalchemy.engine import make_url

from owlmigrate.report import (
    WEIGHT_STEPS,
    Recommendation,
    SideFigures,
    StepFigures,
    Thresholds,
    build_report,
    guardrail_figures,
    next_step,
    previous_step,
    recommend,
    render_text,
)

T0 = datetime(2026, 11, 1, 2, 30, tzinfo=UTC)
S, F, FB, SK = (
    ExecutionStatus.SUCCESS,
    ExecutionStatus.FAILED,
    ExecutionStatus.FALLBACK,
    ExecutionStatus.SKIPPED,
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LedgerStore]:
    s = open_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        yield s
    finally:
        s.close()


class Rows:
    """Writes executions through the real store, one minute apart."""

    def __init__(self, store: LedgerStore) -> None:
        self.store = store
        self.n = 0

    def add(
        self,
        status: ExecutionStatus,
        mode: str,
        weight: float,
        *,
        job: str = "backup_db",
        duration: float | None = 1.0,
        cost: float = 0.0,
        exit_code: int | None = None,
        error: str | None = None,
        llm_calls: int = 0,
    ) -> CronExecution:
        self.n += 1
        at = T0 + timedelta(minutes=self.n)
        execution = CronExecution(
            event_name=job,
            status=status,
            decision_mode=mode,
            migration_weight=weight,
            scheduled_at=at,
            triggered_at=at,
            started_at=at,
            completed_at=at + timedelta(seconds=duration or 0),
            duration_seconds=duration,
            cost_usd=cost,
            exit_code=exit_code,
            error_message=error,
            llm_calls=llm_calls,
        )
        self.store.record_execution(execution)
        return execution


def seed_mixed(store: LedgerStore) -> None:
    rows = Rows(store)
    for _ in range(6):
        rows.add(FB, "fallback", 0.0, duration=2.0, exit_code=0)
    rows.add(S, "agent", 0.1, duration=4.0, cost=0.01, llm_calls=2)
    rows.add(S, "agent", 0.1, duration=6.0, cost=0.02, llm_calls=3)
    rows.add(
        FB,
        "agent",
        0.1,
        duration=8.0,
        cost=0.03,
        exit_code=0,
        error="agent failed: AgentRunFailed: agent refused: no",
        llm_calls=1,
    )
    rows.add(F, "agent", 0.1, duration=None, cost=0.04, error="ExecutionTimeout: timed out")
    for _ in range(3):
        rows.add(FB, "fallback", 0.1, duration=1.0, exit_code=0)
    rows.add(F, "fallback", 0.1, duration=3.0, exit_code=2, error="LegacyJobFailed: exit 2")
    rows.add(SK, "fallback", 0.1, duration=0.0)
    rows.add(SK, "fallback", 0.1, duration=0.0)
    rows.add(S, "agent", 0.1, job="other_job", cost=1.0)


class TestFigures:
    def test_executions_are_grouped_by_weight_and_side(self, store: LedgerStore) -> None:
        seed_mixed(store)
        job = build_report(store, ["backup_db"]).job("backup_db")
        assert [s.weight for s in job.steps] == [0.0, 0.1]
        base, tenth = job.steps
        assert base.fallback == SideFigures(6, 6, 0, 0, 2.0, 0.0, 0)
        assert base.agent.executions == 0
        assert tenth.agent == SideFigures(
            executions=4,
            successes=2,
            failures=2,
            rescued=1,
            average_duration_seconds=6.0,
            total_cost_usd=pytest.approx(0.10),
            llm_calls=6,
        )
        assert tenth.agent.success_rate == 0.5
        assert tenth.fallback == SideFigures(4, 3, 1, 0, 1.5, 0.0, 0)
        assert tenth.skipped == 2
        assert tenth.guardrail_executions == 4
        assert tenth.guardrail_failures == 2
        assert base.guardrail_executions == 6

    def test_figures_match_the_ledger_stats(self, store: LedgerStore) -> None:
        seed_mixed(store)
        report = build_report(store, None)
        assert [j.job for j in report.jobs] == ["backup_db", "other_job"]
        for job in report.jobs:
            for step in job.steps:
                stats = store.stats(job.job, migration_weight=step.weight)
                assert step.agent.executions == stats.agent.executions
                assert step.fallback.executions == stats.fallback.executions
                assert step.agent.total_cost_usd == pytest.approx(stats.agent.total_cost_usd)
                assert step.skipped == stats.skipped
                # the ledger counts a rescued run as the job's success, the report as the agent's
                # failure
                assert step.agent.successes == stats.agent.successes - step.agent.rescued
                assert step.fallback.successes == stats.fallback.successes
                for mine, theirs in (
                    (step.agent, stats.agent),
                    (step.fallback, stats.fallback),
                ):
                    if theirs.average_duration_seconds is None:
                        assert mine.average_duration_seconds is None
                    else:
                        assert mine.average_duration_seconds == pytest.approx(
                            theirs.average_duration_seconds
                        )

    def test_outcome_differences_list_what_differs(self, store: LedgerStore) -> None:
        seed_mixed(store)
        tenth = build_report(store, ["backup_db"]).job("backup_db").step(0.1)
        assert tenth is not None
        found = {(d.kind, d.value): (d.agent, d.fallback) for d in tenth.differences}
        assert found == {
            ("outcome", "ok"): (2, 3),
            ("outcome", "rescued"): (1, 0),
            ("exit_code", "0"): (1, 3),
            ("exit_code", "2"): (0, 1),
            ("error", "agent failed: AgentRunFailed: agent refused: no"): (1, 0),
            ("error", "ExecutionTimeout: timed out"): (1, 0),
            ("error", "LegacyJobFailed: exit 2"): (0, 1),
        }
        # ("outcome", "failed") is 1 of 4 on both sides: not a difference
        deltas = [abs(d.agent_share - d.fallback_share) for d in tenth.differences]
        assert deltas == sorted(deltas, reverse=True)
        assert [(d.kind, d.value) for d in tenth.differences] == [
            ("exit_code", "0"),  # 25% against 75%
            ("outcome", "ok"),  # then the 25-point differences: outcome, exit code, error
            ("outcome", "rescued"),
            ("exit_code", "2"),
            ("error", "ExecutionTimeout: timed out"),
            ("error", "LegacyJobFailed: exit 2"),
            ("error", "agent failed: AgentRunFailed: agent refused: no"),
        ]

    def test_guardrail_figures_are_the_report_figures(self, store: LedgerStore) -> None:
        seed_mixed(store)
        job = build_report(store, ["backup_db"]).job("backup_db")
        assert guardrail_figures(store, "backup_db", 0.1) == job.step(0.1)
        assert guardrail_figures(store, "backup_db", 0.5) == StepFigures(
            0.5, SideFigures(), SideFigures()
        )

    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        st.lists(
            st.tuples(
                st.sampled_from([S, F, FB, SK]),
                st.sampled_from(["agent", "fallback"]),
                st.sampled_from(WEIGHT_STEPS),
                st.floats(0, 100),
                st.floats(0, 1),
            ),
            max_size=25,
        )
    )
    def test_every_counted_row_lands_in_exactly_one_side(
        self, tmp_path: Path, rows: list[tuple[ExecutionStatus, str, float, float, float]]
    ) -> None:
        with open_store(f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}") as store:
            writer = Rows(store)
            for status, mode, weight, duration, cost in rows:
                writer.add(status, mode, weight, duration=duration, cost=cost)
            job = build_report(store, ["backup_db"]).job("backup_db")
            counted = [r for r in rows if r[0] != SK]
            assert sum(s.agent.executions + s.fallback.executions for s in job.steps) == len(
                counted
            )
            assert sum(s.skipped for s in job.steps) == len(rows) - len(counted)
            for step in job.steps:
                for side in (step.agent, step.fallback):
                    assert side.successes + side.failures == side.executions
                    assert 0 <= side.rescued <= side.failures
                stats = store.stats("backup_db", migration_weight=step.weight)
                assert step.agent.total_cost_usd + step.fallback.total_cost_usd == pytest.approx(
                    stats.overall.total_cost_usd
                )
            assert job.steps == tuple(sorted(job.steps, key=lambda s: s.weight))


def figures(weight: float, side: SideFigures) -> StepFigures:
    if weight == 0.0:
        return StepFigures(weight, SideFigures(), side)
    return StepFigures(weight, side, SideFigures())


class TestRecommend:
    @pytest.mark.parametrize(
        ("weight", "executions", "failures", "action", "to", "reason"),
        [
            (
                0.0,
                2,
                0,
                "hold",
                0.0,
                "only 2 fallback (baseline) execution(s) at weight 0; 5 needed",
            ),
            (0.0, 5, 0, "step_up", 0.1, "fallback (baseline) failure rate 0% over 5 execution(s)"),
            (0.0, 5, 1, "hold", 0.0, "fallback (baseline) failure rate 20% at weight 0 is not"),
            (0.1, 4, 0, "hold", 0.1, "only 4 agent execution(s) at weight 0.1; 5 needed"),
            (0.1, 10, 1, "step_up", 0.5, "agent failure rate 10% over 10 execution(s)"),
            (0.5, 10, 2, "rollback", 0.1, "agent failure rate 20% over 10 execution(s)"),
            (0.1, 5, 5, "rollback", 0.0, "agent failure rate 100% over 5"),
            (1.0, 10, 0, "hold", 1.0, "fully handed to the agent"),
            (1.0, 10, 3, "rollback", 0.5, "agent failure rate 30%"),
            (0.3, 6, 0, "step_up", 0.5, "agent failure rate 0%"),
        ],
    )
    def test_the_ladder(
        self,
        weight: float,
        executions: int,
        failures: int,
        action: str,
        to: float,
        reason: str,
    ) -> None:
        side = SideFigures(executions, executions - failures, failures)
        got = recommend(figures(weight, side), weight, Thresholds(5, 0.2))
        assert (got.action, got.to_weight) == (action, to)
        assert got.reason.startswith(reason) or reason in got.reason

    def test_no_agent_means_hold(self) -> None:
        side = SideFigures(9, 9, 0)
        got = recommend(figures(0.0, side), 0.0, agent_configured=False)
        assert (
            str(got) == "hold at 0: no agent is configured, so a higher weight would only fail over"
        )

    def test_no_figures_means_hold(self) -> None:
        assert str(recommend(None, 0.5)) == (
            "hold at 0.5: only 0 agent execution(s) at weight 0.5; 5 needed"
        )

    def test_rendering_of_each_action(self) -> None:
        assert str(Recommendation("step_up", 0.1, 0.5, "ok")) == "step up 0.1 -> 0.5: ok"
        assert str(Recommendation("rollback", 0.5, 0.1, "bad")) == "roll back 0.5 -> 0.1: bad"

    def test_ladder_neighbours(self) -> None:
        assert [next_step(w) for w in WEIGHT_STEPS] == [0.1, 0.5, 1.0, None]
        assert [previous_step(w) for w in WEIGHT_STEPS] == [0.0, 0.0, 0.1, 0.5]

    @pytest.mark.parametrize("kwargs", [{"min_executions": 0}, {"max_failure_rate": 0.0}])
    def test_thresholds_are_checked(self, kwargs: dict[str, float]) -> None:
        with pytest.raises(ValueError):
            Thresholds(**kwargs)  # type: ignore[arg-type]


class TestBuild:
    def test_the_durable_weight_override_is_the_current_weight(self, store: LedgerStore) -> None:
        seed_mixed(store)
        report = build_report(store, {"backup_db": 0.0})
        assert report.job("backup_db").current_weight == 0.0
        store.save_trigger_state(TriggerState(event_name="backup_db", migration_weight=0.1))
        job = build_report(store, {"backup_db": 0.0}).job("backup_db")
        assert job.current_weight == 0.1
        # 2 of 4 agent runs failed at 0.1
        assert (job.recommendation.action, job.recommendation.to_weight) == ("hold", 0.1)
        assert job.recommendation.reason == "only 4 agent execution(s) at weight 0.1; 5 needed"
        strict = build_report(store, ["backup_db"], thresholds=Thresholds(min_executions=4))
        assert strict.job("backup_db").recommendation.action == "rollback"

    def test_a_job_without_runs_holds(self, store: LedgerStore) -> None:
        report = build_report(store, ["quiet"], "quiet")
        job = report.job("quiet")
        assert job.steps == ()
        assert job.current_weight == 0.0
        assert report.to_dict()["jobs"][0]["recommendation"]["action"] == "hold"
        with pytest.raises(KeyError):
            report.job("missing")

    def test_the_text_rendering(self, store: LedgerStore) -> None:
        rows = Rows(store)
        rows.add(FB, "fallback", 0.0, duration=2.0, exit_code=0)
        rows.add(S, "agent", 0.5, duration=3.0, cost=0.0125)
        rows.add(FB, "agent", 0.5, duration=5.0, cost=0.01, exit_code=0, error="agent failed: x")
        rows.add(SK, "fallback", 0.5)
        text = render_text(build_report(store, {"backup_db": 0.5}))
        assert text == (
            "backup_db (weight 0.5)\n"
            "  weight  side       runs     ok  failed  rescued  success     avg s      cost $\n"
            "       0  fallback      1      1       0        -     100%      2.00      0.0000\n"
            "     0.5  agent         2      1       1        1      50%      4.00      0.0225\n"
            "     0.5  skipped       1\n"
            "  recommendation: hold at 0.5: only 2 agent execution(s) at weight 0.5; 5 needed\n"
        )
        assert render_text(build_report(store, ["quiet"])) == (
            "quiet (weight 0)\n"
            "  no executions recorded\n"
            "  recommendation: hold at 0: only 0 fallback (baseline) execution(s) at weight 0; "
            "5 needed\n"
        )


@pytest.mark.postgres
def test_the_report_is_the_same_on_postgresql(pg_url: str, store: LedgerStore) -> None:
    schema = f"t_{uuid.uuid4().hex[:16]}"
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(pg_url).update_query_dict({"options": f"-csearch_path={schema}"})
        with open_store(url.render_as_string(hide_password=False)) as pg:
            seed_mixed(pg)
            seed_mixed(store)
            assert build_report(pg, None).to_dict() == build_report(store, None).to_dict()
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@given(
    weight=st.sampled_from(WEIGHT_STEPS),
    executions=st.integers(0, 60),
    failures=st.integers(0, 60),
    min_executions=st.integers(1, 30),
    max_rate=st.floats(0.01, 1.0),
)
def test_the_recommendation_follows_the_guardrail_rule(
    weight: float, executions: int, failures: int, min_executions: int, max_rate: float
) -> None:
    failures = min(failures, executions)
    side = SideFigures(executions, executions - failures, failures)
    t = Thresholds(min_executions=min_executions, max_failure_rate=max_rate)
    got = recommend(figures(weight, side), weight, t)
    allowed = executions >= min_executions and failures / max(executions, 1) < max_rate
    if got.action == "step_up":
        # exactly the `step` guardrail: enough runs, failure rate under the threshold
        assert allowed and got.to_weight == next_step(weight)
    elif got.action == "rollback":
        assert weight > 0 and executions >= min_executions and not allowed
        assert got.to_weight == previous_step(weight)
    else:
        assert got.to_weight == weight
        assert weight == 1.0 or not allowed
    # one more failure never turns a hold or a roll back into a step up
    if executions and failures < executions and got.action != "step_up":
        worse = SideFigures(executions, executions - failures - 1, failures + 1)
        assert recommend(figures(weight, worse), weight, t).action != "step_up"


def test_the_text_lists_differences_under_the_step(store: LedgerStore) -> None:
    rows = Rows(store)
    rows.add(S, "agent", 0.1, duration=2.0)
    rows.add(F, "agent", 0.1, duration=2.0, error="AgentRunFailed: agent refused: no")
    rows.add(FB, "fallback", 0.1, duration=1.0)
    text = render_text(build_report(store, {"backup_db": 0.1}))
    assert text.splitlines()[2:] == [
        "     0.1  agent         2      1       1        0      50%      2.00      0.0000",
        "     0.1  fallback      1      1       0        -     100%      1.00      0.0000",
        "    at 0.1, outcome failed: agent 1 (50%), fallback 0 (0%)",
        "    at 0.1, outcome ok: agent 1 (50%), fallback 1 (100%)",
        "    at 0.1, error AgentRunFailed: agent refused: no: agent 1 (50%), fallback 0 (0%)",
        "  recommendation: hold at 0.1: only 2 agent execution(s) at weight 0.1; 5 needed",
    ]
