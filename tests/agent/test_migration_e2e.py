"""The whole hand-over on a generated app: scan → generate → cutover → runs at weight 0 →
``step`` to 0.1 and 0.5 on the ledger's evidence with the scripted agent doing the job through
the legacy-job tool → ``report`` figures equal to the ledger's → the agent starts refusing →
``report`` recommends rolling back and ``step`` to 1.0 is refused on the agent's failure rate.

The legacy job is a real shell command run by LegacyCommand; the provider is the scripted
OpenAI-compatible server on loopback."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fake_openai import FakeOpenAI, Reply, answer, refusal, tool_call
from owlclaw_runtime.agent.openai import LEGACY_TOOL
from owlclaw_runtime.loader import load_app
from owlclaw_runtime.triggers.models import CronExecution, ExecutionStatus

from owlmigrate.cli import cli

START = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
PRICE_IN, PRICE_OUT = 1.0, 4.0
PROMPT, COMPLETION = 500, 40
CALL_COST = PROMPT * PRICE_IN / 1000 + COMPLETION * PRICE_OUT / 1000


def healthy(request: dict[str, Any]) -> Reply:
    if request["messages"][-1]["role"] == "tool":
        return answer("Done.", prompt_tokens=PROMPT, completion_tokens=COMPLETION)
    return tool_call(LEGACY_TOOL, prompt_tokens=PROMPT, completion_tokens=COMPLETION)


def refusing(request: dict[str, Any]) -> Reply:
    reply = refusal("Not touching this host.")
    assert reply.body is not None
    reply.body["usage"] = {"prompt_tokens": PROMPT, "completion_tokens": COMPLETION}
    return reply


def owlmigrate(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


class Host:
    """A copied host tree with one root crontab job, migrated into an app directory."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.log = tmp_path / "legacy-runs.log"
        self.root = tmp_path / "host"
        (self.root / "etc").mkdir(parents=True)
        (self.root / "etc" / "crontab").write_text(
            f"SHELL=/bin/sh\nPATH=/usr/bin:/bin\n*/5 * * * * root echo backup >> {self.log}\n"
        )
        self.app = tmp_path / "app"
        self.slot = 0

    def migrate(self) -> str:
        plan = self.tmp / "plan.json"
        assert owlmigrate("scan", "--root", str(self.root), "-o", str(plan)).exit_code == 0
        assert owlmigrate("generate", str(plan), "-o", str(self.app)).exit_code == 0
        (job,) = json.loads((self.app / "owlmigrate.json").read_text())["jobs"]
        assert owlmigrate("cutover", job, "--app", str(self.app)).exit_code == 0
        return str(job)

    def legacy_runs(self) -> int:
        return len(self.log.read_text().splitlines()) if self.log.exists() else 0

    async def run_until(self, job: str, done: Any, *, limit: int = 300) -> list[CronExecution]:
        """Dispatch successive fire instants on a freshly loaded app until ``done(rows)``."""
        app = load_app(self.app)
        rows: list[CronExecution] = []
        try:
            while not done(rows):
                assert len(rows) < limit, "the draw never produced the runs the test needs"
                at = START + timedelta(minutes=5 * self.slot)
                self.slot += 1
                rows += await app.dispatch(job, scheduled_at=at)
        finally:
            app.close()
        return rows


def agents(rows: list[CronExecution]) -> list[CronExecution]:
    return [r for r in rows if r.decision_mode == "agent"]


@pytest.fixture
def host(tmp_path: Path, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> Host:
    monkeypatch.delenv("OWLCLAW_LEDGER_URL", raising=False)
    monkeypatch.setenv("OWLCLAW_AGENT", "owlclaw_runtime.agent.openai:agent_from_env")
    monkeypatch.setenv("OWLCLAW_AGENT_BASE_URL", fake_openai.url)
    monkeypatch.setenv("OWLCLAW_AGENT_MODEL", "scripted-model")
    monkeypatch.setenv("OWLCLAW_AGENT_PRICE_PER_1K_INPUT", str(PRICE_IN))
    monkeypatch.setenv("OWLCLAW_AGENT_PRICE_PER_1K_OUTPUT", str(PRICE_OUT))
    return Host(tmp_path)


async def test_a_job_is_handed_to_the_agent_step_by_step_and_held_back_when_it_fails(
    host: Host, fake_openai: FakeOpenAI
) -> None:
    job = host.migrate()
    app_dir = str(host.app)

    # weight 0: the fallback baseline; the step guardrail wants 5 executions first
    refused = owlmigrate("step", job, "--to", "0.1", "--app", app_dir)
    assert refused.exit_code == 1
    assert f"{job}: only 0 execution(s) at weight 0; 5 needed" in refused.output
    baseline = await host.run_until(job, lambda rows: len(rows) >= 5)
    assert {(r.decision_mode, r.status) for r in baseline} == {
        ("fallback", ExecutionStatus.FALLBACK)
    }
    assert host.legacy_runs() == 5
    assert owlmigrate("step", job, "--to", "0.1", "--app", app_dir).exit_code == 0

    # weight 0.1: the agent takes a tenth of the runs and does them through the tool (two
    # agent runs are enough evidence here, to keep the test short: --min-executions 2)
    fake_openai.responder = healthy
    tenth = await host.run_until(job, lambda rows: len(agents(rows)) >= 2)
    assert {r.migration_weight for r in tenth} == {0.1}
    assert {r.status for r in agents(tenth)} == {ExecutionStatus.SUCCESS}
    assert host.legacy_runs() == 5 + len(tenth)  # every run did the job exactly once
    step_up = ("step", job, "--to", "0.5", "--app", app_dir)
    assert owlmigrate(*step_up, "--min-executions", "3").exit_code == 1
    assert owlmigrate(*step_up, "--min-executions", "2").exit_code == 0
    assert "migration_weight=0.5," in (host.app / "owlclaw_app.py").read_text()

    # weight 0.5 with a healthy agent: the report says step up, from the ledger's own figures
    half = await host.run_until(
        job, lambda rows: len(agents(rows)) >= 6 and len(rows) > len(agents(rows))
    )
    good = agents(half)
    for row in good:
        assert row.status == ExecutionStatus.SUCCESS
        # the agent ran the legacy job through its tool: the job's exit code is in the ledger
        assert (row.llm_calls, row.exit_code) == (2, 0)
        assert row.cost_usd == pytest.approx(2 * CALL_COST)
    result = owlmigrate("report", job, "--app", app_dir, "--json")
    assert result.exit_code == 0
    (report,) = json.loads(result.output)["jobs"]
    assert report["migration_weight"] == 0.5
    by_weight = {s["migration_weight"]: s for s in report["steps"]}
    assert sorted(by_weight) == [0.0, 0.1, 0.5]
    assert by_weight[0.0]["fallback"]["executions"] == 5
    assert by_weight[0.1]["agent"]["executions"] == len(agents(tenth))
    assert by_weight[0.1]["fallback"]["executions"] == len(tenth) - len(agents(tenth))
    step = by_weight[0.5]
    assert step["agent"]["executions"] == len(good)
    assert step["agent"]["success_rate"] == 1.0
    assert step["agent"]["total_cost_usd"] == pytest.approx(len(good) * 2 * CALL_COST)
    assert step["fallback"]["executions"] == len(half) - len(good)
    # the same job done both ways: no outcome differs between the sides
    assert step["differences"] == []
    assert report["recommendation"]["action"] == "step_up"
    assert report["recommendation"]["to_weight"] == 1.0

    # the agent starts refusing: every refused run is rescued by the fallback, the figures turn
    fake_openai.responder = refusing
    bad = await host.run_until(job, lambda rows: len(agents(rows)) >= len(good))
    assert {r.status for r in agents(bad)} == {ExecutionStatus.FALLBACK}
    assert host.legacy_runs() == 5 + len(tenth) + len(half) + len(bad)
    failures = len(agents(bad))
    rate = failures / (len(good) + failures)
    result = owlmigrate("report", job, "--app", app_dir, "--json")
    assert result.exit_code == 1
    (report,) = json.loads(result.output)["jobs"]
    step = next(s for s in report["steps"] if s["migration_weight"] == 0.5)
    assert step["agent"]["failures"] == step["agent"]["rescued"] == failures
    assert step["agent"]["failure_rate"] == pytest.approx(rate)
    assert report["recommendation"]["action"] == "rollback"
    assert report["recommendation"]["to_weight"] == 0.1

    refused = owlmigrate("step", job, "--to", "1.0", "--app", app_dir)
    assert refused.exit_code == 1
    assert f"{job}: failure rate {rate:.0%} at weight 0.5 is not under 20%" in refused.output
    assert "migration_weight=0.5," in (host.app / "owlclaw_app.py").read_text()
