"""End to end: an app at migration_weight 0.5 with the OpenAI-compatible agent talking to the
scripted loopback server, runs recorded in a real SQLite ledger, ``owlmigrate report`` figures
checked against the ledger, and the step guardrail refusing once the agent fails too often."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fake_openai import FakeOpenAI, Reply, answer, refusal, tool_call
from owlclaw_runtime.agent.openai import LEGACY_TOOL, OpenAIAgent
from owlclaw_runtime.loader import load_app
from owlclaw_runtime.triggers.models import CronExecution, ExecutionStatus

from owlmigrate.cli import cli
from owlmigrate.report import Thresholds, build_report, guardrail_figures

APP_SOURCE = '''\
"""A migrated app: one legacy job at weight 0.5, one handed fully to the agent."""

from pathlib import Path

from owlclaw_runtime import OwlClawApp

RUNS = Path(__file__).with_name("legacy-runs.log")

app = OwlClawApp("e2e", agent="owlclaw_runtime.agent.openai:agent_from_env", seed=20261128)


def _legacy(context: dict) -> None:
    # stands in for LegacyCommand.arun(): one line per real run of the legacy job
    with RUNS.open("a") as out:
        out.write(f"{context['event_name']} {context['scheduled_at']}\\n")


@app.cron("*/5 * * * *", event_name="backup_db", focus="backups", migration_weight=0.5,
          retry_on_failure=False)
def backup_db(context: dict) -> None:
    """Nightly database backup."""
    _legacy(context)


@app.cron("*/5 * * * *", event_name="rotate_logs", migration_weight=1.0, retry_on_failure=False)
def rotate_logs(context: dict) -> None:
    """Log rotation."""
    _legacy(context)


@app.cron("*/5 * * * *", event_name="audit", migration_weight=1.0, fallback_strategy="always",
          retry_on_failure=False)
def audit(context: dict) -> None:
    """Audit, whose fallback runs after the agent as well."""
    _legacy(context)
'''

START = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
PROMPT, COMPLETION = 400, 30  # tokens per scripted model answer
PRICE_IN, PRICE_OUT = 2.0, 8.0  # USD per 1k tokens
REFUSED_ERROR = "agent failed: AgentRunFailed: agent refused: I will not run this job."
CALL_COST = PROMPT * PRICE_IN / 1000 + COMPLETION * PRICE_OUT / 1000


def healthy(request: dict[str, Any]) -> Reply:
    """The agent runs the legacy job, then reports it done."""
    if request["messages"][-1]["role"] == "tool":
        return answer("Backup done.", prompt_tokens=PROMPT, completion_tokens=COMPLETION)
    return tool_call(LEGACY_TOOL, prompt_tokens=PROMPT, completion_tokens=COMPLETION)


def refusing(request: dict[str, Any]) -> Reply:
    reply = refusal("I will not run this job.")
    assert reply.body is not None
    reply.body["usage"] = {"prompt_tokens": PROMPT, "completion_tokens": COMPLETION}
    return reply


def runs_then_refuses(request: dict[str, Any]) -> Reply:
    """Runs the legacy job through the tool, then refuses to answer."""
    if request["messages"][-1]["role"] == "tool":
        return refusing(request)
    return tool_call(LEGACY_TOOL, prompt_tokens=PROMPT, completion_tokens=COMPLETION)


@pytest.fixture
def app_file(
    tmp_path: Path, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    path = tmp_path / "app.py"
    path.write_text(APP_SOURCE)
    skill = tmp_path / "skills" / "backup_db" / "SKILL.md"
    skill.parent.mkdir(parents=True)
    skill.write_text("---\nname: backup_db\nfocus: backups\n---\nDump with pg_dump -Fc.\n")
    monkeypatch.setenv("OWLCLAW_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    monkeypatch.setenv("OWLCLAW_AGENT_BASE_URL", fake_openai.url)
    monkeypatch.setenv("OWLCLAW_AGENT_MODEL", "scripted-model")
    monkeypatch.setenv("OWLCLAW_AGENT_API_KEY", "sk-e2e-0123456789abcdefghij")
    monkeypatch.setenv("OWLCLAW_AGENT_PRICE_PER_1K_INPUT", str(PRICE_IN))
    monkeypatch.setenv("OWLCLAW_AGENT_PRICE_PER_1K_OUTPUT", str(PRICE_OUT))
    monkeypatch.setenv("OWLCLAW_AGENT_TIMEOUT_SECONDS", "10")
    yield path


async def run_slots(app: Any, job: str, first: int, count: int) -> list[CronExecution]:
    out: list[CronExecution] = []
    for i in range(first, first + count):
        out += await app.dispatch(job, scheduled_at=START + timedelta(minutes=5 * i))
    return out


def legacy_runs_of(app_file: Path) -> list[str]:
    log = app_file.with_name("legacy-runs.log")
    return log.read_text().splitlines() if log.exists() else []


def report_json(app_file: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(
        cli, ["report", *args, "--app", str(app_file), "--json"], catch_exceptions=False
    )
    return result.exit_code, json.loads(result.output)


async def test_an_app_at_half_weight_with_the_scripted_agent(
    app_file: Path, fake_openai: FakeOpenAI
) -> None:
    app = load_app(app_file)
    try:
        agent = app.agent
        assert isinstance(agent, OpenAIAgent)  # loaded by path and bound to the app
        assert agent.skills_dir() == app_file.parent / "skills"

        # -- phase 1: the agent does the job through the legacy-job tool --------------------
        fake_openai.responder = healthy
        first = await run_slots(app, "backup_db", 0, 24)
        agent_rows = [e for e in first if e.decision_mode == "agent"]
        fallback_rows = [e for e in first if e.decision_mode == "fallback"]
        assert 6 <= len(agent_rows) <= 18  # a seeded 0.5 draw
        assert {e.status for e in agent_rows} == {ExecutionStatus.SUCCESS}
        assert {e.status for e in fallback_rows} == {ExecutionStatus.FALLBACK}
        for e in agent_rows:
            assert (e.llm_calls, e.tokens_in, e.tokens_out) == (2, 2 * PROMPT, 2 * COMPLETION)
            assert e.cost_usd == pytest.approx(2 * CALL_COST)
            assert e.agent_run_id is not None and len(e.agent_run_id) == 32
            assert e.exit_code is None  # the fallback returns nothing: no made-up exit code
        # every run did the job exactly once: through the tool or as the fallback
        assert len(legacy_runs_of(app_file)) == 24
        # the prompt carried the trigger context, the focus and the focus's skill
        first_prompt = fake_openai.requests[0]["messages"]
        assert "Current focus: backups" in first_prompt[0]["content"]
        assert "Dump with pg_dump -Fc." in first_prompt[0]["content"]
        user = first_prompt[1]["content"]
        assert "Schedule: */5 * * * * (UTC)" in user
        assert f"Scheduled instant: {agent_rows[0].context['scheduled_at']}" in user
        assert fake_openai.headers[0]["Authorization"] == "Bearer sk-e2e-0123456789abcdefghij"

        code, data = report_json(app_file, "backup_db")
        assert code == 0
        (job,) = data["jobs"]
        assert job["migration_weight"] == 0.5
        (step,) = job["steps"]
        stats = app.ledger.stats("backup_db", migration_weight=0.5)
        assert step["agent"]["executions"] == len(agent_rows) == stats.agent.executions
        assert step["agent"]["successes"] == len(agent_rows)
        assert step["agent"]["total_cost_usd"] == pytest.approx(stats.agent.total_cost_usd)
        assert step["agent"]["total_cost_usd"] == pytest.approx(len(agent_rows) * 2 * CALL_COST)
        assert step["agent"]["average_duration_seconds"] == pytest.approx(
            stats.agent.average_duration_seconds
        )
        assert step["fallback"]["executions"] == len(fallback_rows)
        assert step["fallback"]["success_rate"] == 1.0
        assert step["fallback"]["total_cost_usd"] == 0.0
        assert job["recommendation"] == {
            "action": "step_up",
            "current_weight": 0.5,
            "to_weight": 1.0,
            "reason": f"agent failure rate 0% over {len(agent_rows)} execution(s) at weight "
            "0.5 is under 20%",
        }

        # -- phase 2: the agent starts refusing; the fallback rescues every run -------------
        fake_openai.responder = refusing
        second = await run_slots(app, "backup_db", 24, 24)
        refused = [e for e in second if e.decision_mode == "agent"]
        assert refused
        assert {e.status for e in refused} == {ExecutionStatus.FALLBACK}
        assert {e.error_message for e in refused} == {REFUSED_ERROR}
        assert len(legacy_runs_of(app_file)) == 48

        figures = guardrail_figures(app.ledger, "backup_db", 0.5)
        assert figures.guardrail_executions == len(agent_rows) + len(refused)
        assert figures.guardrail_failures == len(refused) == figures.agent.rescued
        rate = len(refused) / (len(agent_rows) + len(refused))
        assert rate >= 0.2
        report = build_report(app.ledger, app, "backup_db")
        assert report.job("backup_db").step(0.5) == figures
        assert report.job("backup_db").recommendation.action == "rollback"
        assert report.job("backup_db").recommendation.to_weight == 0.1

        code, data = report_json(app_file, "backup_db")
        assert code == 1  # a roll-back recommendation is a finding
        step = data["jobs"][0]["steps"][0]
        assert step["agent"]["failures"] == len(refused)
        assert step["agent"]["rescued"] == len(refused)
        assert step["agent"]["success_rate"] == pytest.approx(1 - rate)
        diffs = {(d["kind"], d["value"]): (d["agent"], d["fallback"]) for d in step["differences"]}
        assert diffs[("outcome", "ok")] == (
            len(agent_rows),
            len(fallback_rows) + len(second) - len(refused),
        )
        assert diffs[("outcome", "rescued")] == (len(refused), 0)
        refused_key = (
            "error",
            "agent failed: AgentRunFailed: agent refused: I will not run this job.",
        )
        assert diffs[refused_key] == (len(refused), 0)
        # a looser threshold lets the same figures pass
        loose = build_report(
            app.ledger, app, "backup_db", thresholds=Thresholds(max_failure_rate=0.9)
        )
        assert loose.job("backup_db").recommendation.action == "step_up"
    finally:
        app.close()


async def test_an_agent_failing_after_running_the_job_does_not_run_it_twice(
    app_file: Path, fake_openai: FakeOpenAI
) -> None:
    app = load_app(app_file)
    try:
        fake_openai.responder = runs_then_refuses
        (execution,) = await run_slots(app, "rotate_logs", 0, 1)
        assert execution.decision_mode == "agent"
        assert execution.status == ExecutionStatus.FALLBACK
        assert execution.error_message == (
            "agent failed after running the legacy job: AgentRunFailed: agent refused: "
            "I will not run this job."
        )
        assert execution.exit_code is None
        assert len(legacy_runs_of(app_file)) == 1
        assert execution.cost_usd == pytest.approx(2 * CALL_COST)
    finally:
        app.close()


@pytest.mark.parametrize(
    ("responder", "legacy_runs"),
    [(healthy, 1), (lambda request: answer("Nothing needed."), 1)],
    ids=["agent-ran-the-job", "agent-did-not"],
)
async def test_always_runs_the_fallback_only_when_the_agent_did_not_run_the_job(
    app_file: Path, fake_openai: FakeOpenAI, responder: Any, legacy_runs: int
) -> None:
    app = load_app(app_file)
    try:
        fake_openai.responder = responder
        (execution,) = await run_slots(app, "audit", 0, 1)
        assert execution.status == ExecutionStatus.SUCCESS
        assert len(legacy_runs_of(app_file)) == legacy_runs
    finally:
        app.close()


def test_report_text_and_usage_errors(app_file: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["report", "--app", str(app_file)], catch_exceptions=False)
    assert result.exit_code == 0
    assert result.output == (
        "audit (weight 1, agent configured)\n"
        "  no executions recorded\n"
        "  recommendation: hold at 1: fully handed to the agent; agent failure rate n/a over 0 "
        "execution(s)\n"
        "backup_db (weight 0.5, agent configured)\n"
        "  no executions recorded\n"
        "  recommendation: hold at 0.5: only 0 agent execution(s) at weight 0.5; 5 needed\n"
        "rotate_logs (weight 1, agent configured)\n"
        "  no executions recorded\n"
        "  recommendation: hold at 1: fully handed to the agent; agent failure rate n/a over 0 "
        "execution(s)\n"
    )
    result = runner.invoke(cli, ["report", "nope", "--app", str(app_file)])
    assert result.exit_code == 2
    assert "unknown job 'nope'; the app has: audit, backup_db, rotate_logs" in result.output
    result = runner.invoke(cli, ["report", "--app", str(app_file.with_name("missing.py"))])
    assert result.exit_code == 2
    assert "cannot load the app" in result.output


def test_an_app_without_an_agent_takes_it_from_the_environment(
    app_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from owlclaw_runtime import OwlClawApp

    monkeypatch.delenv("OWLCLAW_AGENT", raising=False)
    assert OwlClawApp("plain").agent is None
    monkeypatch.setenv("OWLCLAW_AGENT", "owlclaw_runtime.agent.openai:agent_from_env")
    app = OwlClawApp("configured")
    agent = app.agent
    assert isinstance(agent, OpenAIAgent)
    assert agent.config.model == "scripted-model"
    assert OwlClawApp("explicit", agent=None).agent is not None  # None means "not given"
