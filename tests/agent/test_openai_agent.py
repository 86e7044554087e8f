"""The OpenAI-compatible agent against a scripted chat-completions server on loopback."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI, answer, http_error, refusal, tool_call
from owlclaw_runtime.agent.base import AgentResult, AgentRuntime
from owlclaw_runtime.agent.openai import (
    ENV_API_KEY,
    FAILURE_TOOL,
    LEGACY_TOOL,
    OpenAIAgent,
    OpenAIAgentConfig,
    load_skills,
    parse_skill,
)
from owlclaw_runtime.errors import ConfigurationError

CONTEXT = {
    "trigger_type": "cron",
    "event_name": "backup_db",
    "cron_expression": "30 2 * * *",
    "timezone": "Europe/London",
    "scheduled_at": "2026-11-27T02:30:00Z",
    "triggered_at": "2026-11-27T02:30:01Z",
    "previous_run": {"completed_at": "2026-11-26T02:31:10Z", "status": "fallback"},
}


@dataclass
class LegacyOutcome:
    exit_code: int
    output_tail: str


class LegacyJob:
    """A legacy-job callable that records how it was called."""

    def __init__(self, *, fail: bool = False) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail = fail

    async def __call__(self, context: dict[str, Any]) -> LegacyOutcome:
        self.calls.append(context)
        if self.fail:
            err = RuntimeError("exit status 3")
            err.exit_code = 3  # type: ignore[attr-defined]
            raise err
        return LegacyOutcome(exit_code=0, output_tail="dumped 42 tables")


def write_skill(root: Path, name: str, front: str, body: str = "Do it carefully.") -> Path:
    path = root / name / "SKILL.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\n{front}\n---\n{body}\n", encoding="utf-8")
    return path


def make_agent(
    fake: FakeOpenAI, tmp_path: Path, legacy: Any = None, **overrides: Any
) -> OpenAIAgent:
    settings: dict[str, Any] = {
        "base_url": fake.url,
        "model": "gpt-test",
        "api_key": "sk-test-0123456789abcdefghijkl",
        "price_per_1k_input": 0.5,
        "price_per_1k_output": 1.5,
        "timeout_seconds": 5.0,
        "max_tool_rounds": 4,
    }
    settings.update(overrides)
    tools = {"backup_db": legacy} if legacy is not None else None
    return OpenAIAgent(OpenAIAgentConfig(**settings), tools=tools, skills_dir=tmp_path / "skills")


def expected_cost(tokens_in: int, tokens_out: int) -> float:
    return tokens_in * 0.5 / 1000 + tokens_out * 1.5 / 1000


class TestRuns:
    async def test_it_runs_the_legacy_job_when_the_agent_calls_the_tool(
        self, fake_openai: FakeOpenAI, tmp_path: Path
    ) -> None:
        legacy = LegacyJob()
        fake_openai.script(
            tool_call(LEGACY_TOOL, prompt_tokens=300, completion_tokens=12),
            answer("Backup done.", prompt_tokens=340, completion_tokens=9),
        )
        agent = make_agent(fake_openai, tmp_path, legacy)
        result = await agent.trigger_event("backup_db", focus="backups", payload=CONTEXT)

        assert result.status == "completed"
        assert result.output == "Backup done."
        assert result.error is None
        assert result.llm_calls == 2
        assert (result.tokens_in, result.tokens_out) == (640, 21)
        assert result.cost_usd == pytest.approx(expected_cost(640, 21))
        assert len(result.run_id) == 32
        assert legacy.calls == [CONTEXT]
        assert result.details["legacy_job_ran"] is True
        assert result.details["legacy_job_succeeded"] is True
        assert result.details["exit_code"] == 0
        assert result.details["output_tail"] == "dumped 42 tables"
        # the tool's result went back to the model as a tool message
        second = fake_openai.requests[1]["messages"]
        assert second[-2]["tool_calls"][0]["function"]["name"] == LEGACY_TOOL
        assert second[-1]["role"] == "tool"
        assert second[-1]["tool_call_id"] == "call_1"
        assert '"exit_code": 0' in second[-1]["content"]

    async def test_it_completes_without_running_the_legacy_job(
        self, fake_openai: FakeOpenAI, tmp_path: Path
    ) -> None:
        legacy = LegacyJob()
        fake_openai.script(answer("Nothing to back up today.", prompt_tokens=200))
        agent = make_agent(fake_openai, tmp_path, legacy)
        result = await agent.trigger_event("backup_db", payload=CONTEXT)

        assert result.status == "completed"
        assert result.output == "Nothing to back up today."
        assert result.llm_calls == 1
        assert result.cost_usd == pytest.approx(expected_cost(200, 20))
        assert legacy.calls == []
        assert result.details["legacy_job_ran"] is False
        assert result.details["legacy_job_succeeded"] is None

    async def test_a_refusal_is_a_failure(self, fake_openai: FakeOpenAI, tmp_path: Path) -> None:
        legacy = LegacyJob()
        fake_openai.script(refusal("I won't touch production databases."))
        result = await make_agent(fake_openai, tmp_path, legacy).trigger_event(
            "backup_db", payload=CONTEXT
        )
        assert result.status == "failed"
        assert result.error == "agent refused: I won't touch production databases."
        assert result.llm_calls == 1
        assert result.cost_usd == pytest.approx(expected_cost(50, 8))
        assert legacy.calls == []

    async def test_a_run_over_its_timeout_fails_in_time(
        self, fake_openai: FakeOpenAI, tmp_path: Path
    ) -> None:
        fake_openai.script(answer("too late", delay=3.0))
        agent = make_agent(fake_openai, tmp_path, LegacyJob(), timeout_seconds=0.5)
        started = time.monotonic()
        result = await agent.trigger_event("backup_db", payload=CONTEXT)
        elapsed = time.monotonic() - started

        assert result.status == "failed"
        assert result.error in (
            "agent run timed out after 0.5s",
            "agent endpoint timed out after 0.5s",
        )
        assert elapsed < 2.0
        assert result.details["timeout_seconds"] == 0.5

    async def test_a_run_over_the_cost_limit_stops_and_fails(
        self, fake_openai: FakeOpenAI, tmp_path: Path
    ) -> None:
        legacy = LegacyJob()
        # 10,000 prompt tokens at $0.5/1k = $5.00 > $1.00: the tool call must not happen
        fake_openai.script(
            tool_call(LEGACY_TOOL, prompt_tokens=10_000, completion_tokens=0),
            answer("done"),
        )
        agent = make_agent(fake_openai, tmp_path, legacy, max_cost_per_run=1.0)
        result = await agent.trigger_event("backup_db", payload=CONTEXT)

        assert result.status == "failed"
        assert result.error == "cost $5.000000 exceeded max_cost_per_run $1"
        assert result.cost_usd == pytest.approx(5.0)
        assert legacy.calls == []
        assert len(fake_openai.requests) == 1

    async def test_the_lowest_cost_limit_applies(
        self, fake_openai: FakeOpenAI, tmp_path: Path
    ) -> None:
        fake_openai.script(
            tool_call(LEGACY_TOOL, prompt_tokens=1000, completion_tokens=0), answer("ok")
        )
        agent = make_agent(fake_openai, tmp_path, LegacyJob(), max_cost_per_run=10.0)
        payload = {**CONTEXT, "max_cost_per_run": 0.25}
        result = await agent.trigger_event("backup_db", payload=payload)
        assert result.status == "failed"
        assert result.details["max_cost_per_run"] == 0.25
        assert result.error is not None and "exceeded max_cost_per_run $0.25" in result.error

    async def test_a_failing_legacy_job_fails_the_run(
        self, fake_openai: FakeOpenAI, tmp_path: Path
    ) -> None:
        legacy = LegacyJob(fail=True)
        fake_openai.script(tool_call(LEGACY_TOOL), answer("I tried."))
        result = await make_agent(fake_openai, tmp_path, legacy).trigger_event(
            "backup_db", payload=CONTEXT
        )
        assert result.status == "failed"
        assert result.error == "legacy job failed: exit status 3"
        assert result.details["exit_code"] == 3
        assert result.details["legacy_job_succeeded"] is False
        assert '"ok": false' in fake_openai.requests[1]["messages"][-1]["content"]

    async def test_the_agent_can_report_a_failure(
        self, fake_openai: FakeOpenAI, tmp_path: Path
    ) -> None:
        fake_openai.script(
            tool_call(FAILURE_TOOL, {"reason": "disk full"}), answer("Could not run.")
        )
        result = await make_agent(fake_openai, tmp_path, LegacyJob()).trigger_event(
            "backup_db", payload=CONTEXT
        )
        assert result.status == "failed"
        assert result.error == "agent reported failure: disk full"

    async def test_too_many_tool_rounds_fail(self, fake_openai: FakeOpenAI, tmp_path: Path) -> None:
        legacy = LegacyJob()
        fake_openai.script(*(tool_call(LEGACY_TOOL, call_id=f"c{i}") for i in range(3)))
        agent = make_agent(fake_openai, tmp_path, legacy, max_tool_rounds=2)
        result = await agent.trigger_event("backup_db", payload=CONTEXT)
        assert result.status == "failed"
        assert result.error == "agent exceeded max_tool_rounds (2)"
        assert len(legacy.calls) == 1  # the job runs once per fire, however often it is asked
        assert result.details["legacy_job_calls"] == 2
        assert result.llm_calls == 3

    @pytest.mark.parametrize("fail", [False, True], ids=["after-success", "after-failure"])
    async def test_the_legacy_job_runs_at_most_once_per_fire(
        self, fake_openai: FakeOpenAI, tmp_path: Path, fail: bool
    ) -> None:
        from owlclaw_runtime.agent.openai import ALREADY_RAN

        legacy = LegacyJob(fail=fail)
        fake_openai.script(
            tool_call(LEGACY_TOOL, call_id="first"),
            tool_call(LEGACY_TOOL, call_id="again"),
            answer("done"),
        )
        result = await make_agent(fake_openai, tmp_path, legacy).trigger_event("backup_db")
        assert len(legacy.calls) == 1
        second = json.loads(fake_openai.requests[2]["messages"][-1]["content"])
        assert second["note"] == ALREADY_RAN
        assert second["ok"] is not fail
        assert result.status == ("failed" if fail else "completed")
        assert result.details["legacy_job_succeeded"] is not fail

    async def test_an_unknown_tool_is_answered_with_an_error(
        self, fake_openai: FakeOpenAI, tmp_path: Path
    ) -> None:
        fake_openai.script(tool_call("rm_rf"), answer("fine"))
        result = await make_agent(fake_openai, tmp_path, LegacyJob()).trigger_event("backup_db")
        assert result.status == "completed"
        assert "unknown tool 'rm_rf'" in fake_openai.requests[1]["messages"][-1]["content"]

    @pytest.mark.parametrize(
        ("reply", "error"),
        [
            pytest.param(
                http_error(500, "overloaded"),
                'agent endpoint answered HTTP 500: {"error": {"message": "overloaded", '
                '"type": "server_error"}}',
                id="http-500",
            ),
            pytest.param(
                http_error(401, "bad key sk-test-0123456789abcdefghijkl"),
                'agent endpoint answered HTTP 401: {"error": {"message": "bad key ***", '
                '"type": "server_error"}}',
                id="key-echoed-is-hidden",
            ),
            pytest.param(
                answer("x").__class__(raw=b"<html>", status=200),
                "invalid response from the agent endpoint: not JSON",
                id="not-json",
            ),
            pytest.param(
                answer("x").__class__(body={"choices": []}),
                "invalid response from the agent endpoint: no choices",
                id="no-choices",
            ),
        ],
    )
    async def test_endpoint_errors_are_failures(
        self, fake_openai: FakeOpenAI, tmp_path: Path, reply: Any, error: str
    ) -> None:
        fake_openai.script(reply)
        result = await make_agent(fake_openai, tmp_path).trigger_event("backup_db")
        assert result.status == "failed"
        assert result.error == error

    async def test_an_unreachable_endpoint_is_a_failure(self, tmp_path: Path) -> None:
        config = OpenAIAgentConfig(base_url="http://127.0.0.1:9/v1", model="m", timeout_seconds=2)
        result = await OpenAIAgent(config).trigger_event("job")
        assert result.status == "failed"
        assert result.error is not None
        assert result.error.startswith("agent endpoint unreachable")

    @pytest.mark.parametrize(
        ("finish", "error"),
        [
            ("content_filter", "agent answer stopped by the provider's content filter"),
            ("length", "agent answer truncated (finish_reason=length)"),
        ],
    )
    async def test_filtered_or_truncated_answers_fail(
        self, fake_openai: FakeOpenAI, tmp_path: Path, finish: str, error: str
    ) -> None:
        reply = answer("partial")
        assert reply.body is not None
        reply.body["choices"][0]["finish_reason"] = finish
        fake_openai.script(reply)
        result = await make_agent(fake_openai, tmp_path).trigger_event("backup_db")
        assert (result.status, result.error) == ("failed", error)

    async def test_it_satisfies_the_agent_runtime_protocol(
        self, fake_openai: FakeOpenAI, tmp_path: Path
    ) -> None:
        agent = make_agent(fake_openai, tmp_path)
        assert isinstance(agent, AgentRuntime)
        fake_openai.script(answer("ok"))
        assert isinstance(await agent.trigger_event("backup_db"), AgentResult)
        with pytest.raises(ValueError):
            await agent.trigger_event("  ")


class TestPrompt:
    async def test_the_prompt_carries_context_focus_skills_and_tools(
        self, fake_openai: FakeOpenAI, tmp_path: Path
    ) -> None:
        skills = tmp_path / "skills"
        write_skill(
            skills, "backup_db", "name: backup_db\ndescription: Nightly dump\nfocus: backups"
        )
        write_skill(skills, "rotate", "name: rotate\nowlclaw:\n  focus: [logs, Backups]")
        write_skill(skills, "reports", "name: reports\nfocus: reporting", body="REPORT BODY")
        fake_openai.script(answer("ok"))
        agent = make_agent(fake_openai, tmp_path, LegacyJob())
        result = await agent.trigger_event(
            "backup_db", focus="backups", payload=CONTEXT, tenant_id="acme"
        )

        request = fake_openai.requests[0]
        assert request["model"] == "gpt-test"
        assert request["tool_choice"] == "auto"
        names = [t["function"]["name"] for t in request["tools"]]
        assert names == [LEGACY_TOOL, FAILURE_TOOL]
        system, user = request["messages"][0]["content"], request["messages"][1]["content"]
        assert "Current focus: backups\nYou should prioritize actions related to backups." in system
        assert "## backup_db: Nightly dump\nDo it carefully." in system
        assert "## rotate" in system
        assert "REPORT BODY" not in system
        assert result.details["skills"] == ["backup_db", "rotate"]
        assert user.splitlines()[:8] == [
            "Trigger: backup_db",
            "Tenant: acme",
            "Focus: backups",
            "Schedule: 30 2 * * * (Europe/London)",
            "Trigger type: cron",
            "Scheduled instant: 2026-11-27T02:30:00Z",
            "Triggered at: 2026-11-27T02:30:01Z",
            "Previous run: completed_at=2026-11-26T02:31:10Z, status=fallback",
        ]
        assert user.splitlines()[8].startswith("Context: {")

    async def test_without_focus_every_skill_is_offered_and_no_legacy_tool_without_job(
        self, fake_openai: FakeOpenAI, tmp_path: Path
    ) -> None:
        skills = tmp_path / "skills"
        write_skill(skills, "a", "name: a\nfocus: x")
        write_skill(skills, "b", "name: b")
        fake_openai.script(answer("ok"))
        result = await make_agent(fake_openai, tmp_path).trigger_event(
            "other", payload={"previous_run": None}
        )
        request = fake_openai.requests[0]
        assert [t["function"]["name"] for t in request["tools"]] == [FAILURE_TOOL]
        assert result.details["skills"] == ["a", "b"]
        assert "Current focus" not in request["messages"][0]["content"]
        assert "Previous run: none" in request["messages"][1]["content"]

    async def test_the_api_key_is_sent_but_never_shown(
        self, fake_openai: FakeOpenAI, tmp_path: Path
    ) -> None:
        fake_openai.script(answer("ok"))
        agent = make_agent(fake_openai, tmp_path)
        result = await agent.trigger_event("backup_db")
        assert fake_openai.headers[0]["Authorization"] == "Bearer sk-test-0123456789abcdefghijkl"
        assert "sk-test" not in repr(agent) + repr(agent.config) + repr(result)

    async def test_secrets_in_the_context_and_skills_are_redacted(
        self, fake_openai: FakeOpenAI, tmp_path: Path
    ) -> None:
        write_skill(tmp_path / "skills", "db", "name: db", body="mysqldump -psecretpw db")
        fake_openai.script(answer("ok"))
        await make_agent(fake_openai, tmp_path).trigger_event(
            "backup_db", payload={"command": "PGPASSWORD=hunter22 pg_dump db"}
        )
        user = fake_openai.requests[0]["messages"][1]["content"]
        assert "hunter22" not in user
        assert "PGPASSWORD=***" in user
        system = fake_openai.requests[0]["messages"][0]["content"]
        assert "secretpw" not in system
        assert "mysqldump -p*** db" in system


class TestBinding:
    async def test_the_bound_app_supplies_the_fallback_and_the_limits(
        self, fake_openai: FakeOpenAI, tmp_path: Path
    ) -> None:
        from owlclaw_runtime.triggers.models import CronTriggerConfig

        ran: list[str] = []

        def fallback() -> str:
            ran.append("yes")
            return "synchronous output"

        config = CronTriggerConfig(
            event_name="backup_db",
            expression="30 2 * * *",
            fallback_handler=fallback,
            max_cost_per_run=0.5,
            max_duration=30,
        )

        class Registry:
            def get_trigger(self, name: str) -> CronTriggerConfig | None:
                return config if name == "backup_db" else None

        class App:
            cron_registry = Registry()
            app_dir = tmp_path

        write_skill(tmp_path / "skills", "backup_db", "name: backup_db")
        agent = OpenAIAgent(OpenAIAgentConfig(base_url=fake_openai.url, model="m"))
        agent.bind(App())
        assert agent.skills_dir() == tmp_path / "skills"
        fake_openai.script(tool_call(LEGACY_TOOL), answer("done"))
        result = await agent.trigger_event("backup_db")
        assert result.status == "completed"
        assert ran == ["yes"]
        assert result.details["output_tail"] == "synchronous output"
        assert result.details["max_cost_per_run"] == 0.5
        assert result.details["timeout_seconds"] == pytest.approx(28.5)
        assert result.details["skills"] == ["backup_db"]


class TestSkills:
    def test_focus_is_read_from_front_matter_variants(self, tmp_path: Path) -> None:
        a = parse_skill(write_skill(tmp_path, "a", "focus: one"))
        b = parse_skill(write_skill(tmp_path, "b", "metadata:\n  focus: [two, three]"))
        c = parse_skill(write_skill(tmp_path, "c", "metadata:\n  tags: [four]"))
        assert (a.name, a.focus) == ("a", ("one",))
        assert b.focus == ("two", "three")
        assert c.focus == ("four",)
        assert c.matches(["zzz", "FOUR"])
        assert not c.matches("five")
        assert c.matches(None)

    def test_a_skill_without_front_matter_has_no_focus(self, tmp_path: Path) -> None:
        path = tmp_path / "plain" / "SKILL.md"
        path.parent.mkdir()
        path.write_text("Just text.\n")
        skill = parse_skill(path)
        assert (skill.name, skill.focus, skill.body) == ("plain", (), "Just text.")
        assert load_skills(tmp_path, "anything") == []
        assert load_skills(tmp_path, None) == [skill]
        assert load_skills(tmp_path / "missing", None) == []

    @pytest.mark.parametrize(
        ("text", "line", "message"),
        [
            ("---\nname: [unclosed\n---\n", 3, "invalid front matter"),
            ("---\nname: x\n", 1, "front matter is not closed by '---'"),
            ("---\n- a\n- b\n---\n", 2, "front matter must be a mapping"),
        ],
    )
    def test_bad_front_matter_names_file_and_line(
        self, tmp_path: Path, text: str, line: int, message: str
    ) -> None:
        path = tmp_path / "bad" / "SKILL.md"
        path.parent.mkdir()
        path.write_text(text)
        with pytest.raises(ConfigurationError) as info:
            parse_skill(path)
        assert info.value.path == str(path)
        assert info.value.line == line
        assert message in str(info.value)

    async def test_a_bad_skill_fails_the_run_instead_of_crashing(
        self, fake_openai: FakeOpenAI, tmp_path: Path
    ) -> None:
        path = tmp_path / "skills" / "bad" / "SKILL.md"
        path.parent.mkdir(parents=True)
        path.write_text("---\nname: x\n")
        result = await make_agent(fake_openai, tmp_path).trigger_event("backup_db")
        assert result.status == "failed"
        assert result.error == f"skills: {path}:1: front matter is not closed by '---'"
        assert fake_openai.requests == []


class TestConfig:
    def test_from_env_reads_prefixed_variables(self) -> None:
        env = {
            "OWLCLAW_AGENT_BASE_URL": "http://127.0.0.1:1/v1",
            "OWLCLAW_AGENT_MODEL": "m",
            ENV_API_KEY: "k",
            "OWLCLAW_AGENT_PRICE_PER_1K_INPUT": "0.25",
            "OWLCLAW_AGENT_MAX_TOOL_ROUNDS": "3",
        }
        config = OpenAIAgentConfig.from_env(env)
        assert (config.model, config.api_key, config.price_per_1k_input) == ("m", "k", 0.25)
        assert config.max_tool_rounds == 3
        assert config.endpoint == "http://127.0.0.1:1/v1/chat/completions"
        assert config.cost(2000, 0) == pytest.approx(0.5)

    def test_the_key_falls_back_to_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(ENV_API_KEY, "from-env")
        config = OpenAIAgentConfig.from_mapping({"base_url": "https://x/v1", "model": "m"})
        assert config.api_key == "from-env"

    @pytest.mark.parametrize(
        ("values", "field", "message"),
        [
            ({"model": "m"}, "base_url", "agent setting 'base_url' is missing in test"),
            ({"base_url": "ftp://x", "model": "m"}, "base_url", "must be an http(s) URL"),
            (
                {"base_url": "http://x", "model": "m", "timeout_seconds": "soon"},
                "timeout_seconds",
                "agent setting 'timeout_seconds' in test is not valid: 'soon'",
            ),
            (
                {"base_url": "http://x", "model": "m", "price_per_1k_input": -1},
                "price_per_1k_input",
                "must be >= 0 (test)",
            ),
            ({"base_url": "http://x", "model": "m", "colour": "red"}, "colour", "unknown"),
        ],
    )
    def test_bad_settings_name_the_key(
        self, values: dict[str, Any], field: str, message: str
    ) -> None:
        with pytest.raises(ConfigurationError) as info:
            OpenAIAgentConfig.from_mapping(values, source="test")
        assert info.value.field == field
        assert message in str(info.value)

    def test_from_settings_accepts_a_section_or_flat_attributes(self) -> None:
        from pydantic import SecretStr

        section = {"agent": {"base_url": "http://h/v1", "model": "m", "api_key": SecretStr("s")}}
        assert OpenAIAgentConfig.from_settings(section).api_key == "s"

        class Flat:
            def __init__(self) -> None:
                self.agent_base_url = "http://h/v1"
                self.agent_model = "flat"
                self.ledger_url = None

        assert OpenAIAgentConfig.from_settings(Flat()).model == "flat"


def test_the_factory_builds_an_agent_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from owlclaw_runtime.agent.loading import load_agent
    from owlclaw_runtime.agent.openai import agent_from_env

    monkeypatch.setenv("OWLCLAW_AGENT_BASE_URL", "http://127.0.0.1:1/v1")
    monkeypatch.setenv("OWLCLAW_AGENT_MODEL", "env-model")
    agent = agent_from_env()
    assert agent.config.model == "env-model"
    loaded = load_agent("owlclaw_runtime.agent.openai:agent_from_env")
    assert isinstance(loaded, OpenAIAgent)
    assert loaded.config.endpoint == "http://127.0.0.1:1/v1/chat/completions"


class TestLegacyTool:
    async def test_a_legacy_failure_carrying_a_result_reports_its_exit_code_and_output(
        self, fake_openai: FakeOpenAI, tmp_path: Path
    ) -> None:
        class LegacyJobFailed(Exception):
            def __init__(self) -> None:
                super().__init__("exit status 4")
                self.result = LegacyOutcome(exit_code=4, output_tail="pg_dump: PGPASSWORD=x1 bad")

        def fails() -> None:
            raise LegacyJobFailed()

        fake_openai.script(tool_call(LEGACY_TOOL), answer("it failed"))
        result = await make_agent(fake_openai, tmp_path, fails).trigger_event("backup_db")
        assert result.status == "failed"
        assert result.details["exit_code"] == 4
        assert result.details["output_tail"] == "pg_dump: PGPASSWORD=*** bad"

    async def test_concurrent_runs_do_not_wait_for_each_other(
        self, fake_openai: FakeOpenAI, tmp_path: Path
    ) -> None:
        import asyncio

        # OwlClaw serialised every run of a runtime behind one lock (section 3.9, gap 10)
        fake_openai.script(answer("a", delay=0.4), answer("b", delay=0.4))
        agent = make_agent(fake_openai, tmp_path)
        started = time.monotonic()
        results = await asyncio.gather(
            agent.trigger_event("backup_db"), agent.trigger_event("backup_db")
        )
        assert sorted(r.output or "" for r in results) == ["a", "b"]
        assert time.monotonic() - started < 0.75


async def test_content_parts_and_object_arguments_are_accepted(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    call = tool_call(FAILURE_TOOL)
    assert call.body is not None
    call.body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = {
        "reason": "no backup target"
    }
    final = answer("x")
    assert final.body is not None
    final.body["choices"][0]["message"]["content"] = [
        {"type": "text", "text": "Could "},
        {"type": "text", "text": "not run."},
    ]
    fake_openai.script(call, final)
    result = await make_agent(fake_openai, tmp_path).trigger_event("backup_db")
    assert result.output == "Could not run."
    assert result.error == "agent reported failure: no backup target"


@pytest.mark.parametrize(
    ("command", "status", "exit_code", "tail"),
    [
        ("echo dumped; echo PGPASSWORD=s3cret", "completed", 0, "dumped\nPGPASSWORD=***\n"),
        ("echo disk full; exit 3", "failed", 3, "disk full\n"),
    ],
)
async def test_the_tool_runs_a_real_legacy_command(
    fake_openai: FakeOpenAI,
    tmp_path: Path,
    command: str,
    status: str,
    exit_code: int,
    tail: str,
) -> None:
    from owlclaw_runtime.legacy import LegacyCommand, LegacyResult

    legacy = LegacyCommand(command, env={"SHELL": "/bin/sh", "PATH": "/usr/bin:/bin"})

    async def fallback() -> LegacyResult:
        return await legacy.arun()

    fake_openai.script(tool_call(LEGACY_TOOL), answer("reported"))
    result = await make_agent(fake_openai, tmp_path, fallback).trigger_event("backup_db")
    assert result.status == status
    assert result.details["exit_code"] == exit_code
    assert result.details["output_tail"] == tail
    sent = fake_openai.requests[1]["messages"][-1]["content"]
    assert f'"exit_code": {exit_code}' in sent
    assert "s3cret" not in sent
