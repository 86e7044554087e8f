"""Documentation: the API reference is current, every CLI command has help with an example,
and the guides cover what operators need."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from owlmigrate.cli import COMMANDS, cli

REPO = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location(
        "gen_api_docs", REPO / "scripts" / "gen_api_docs.py"
    )
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_api_reference_is_current() -> None:
    generated = _generator().render()
    committed = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    assert committed == generated, "docs/api.md is stale: run scripts/gen_api_docs.py"


def test_api_reference_covers_the_decorator_registry_and_configuration() -> None:
    text = _generator().render()
    for heading in (
        "### `OwlClawApp.cron`",
        "## `app.cron_registry`",
        "### `CronTriggerRegistry.trigger_now`",
        "## `CronTriggerConfig`",
        "## `load_settings`",
        "`OWLCLAW_LEDGER_URL`",
        "`OWLCLAW_CRON__MAX_CONCURRENT`",
        "## `check_health`",
        "## `serve`",
    ):
        assert heading in text, heading
    assert " at 0x" not in text  # deterministic: no object addresses


def test_api_check_mode_detects_a_stale_file(tmp_path: Path) -> None:
    gen = _generator()
    target = tmp_path / "api.md"
    assert gen.main(["-o", str(target)]) == 0
    assert gen.main(["--check", "-o", str(target)]) == 0
    target.write_text(target.read_text() + "edited by hand\n")
    assert gen.main(["--check", "-o", str(target)]) == 1


def present_commands() -> list[str]:
    ctx = click.Context(cli)
    return [name for name in COMMANDS if cli.get_command(ctx, name) is not None]


def test_every_command_is_present() -> None:
    # every name in COMMANDS imports and exposes a click command (none is silently absent)
    assert present_commands() == list(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help_with_an_example(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: cli {name}") or f" {name} " in result.output
    assert re.search(r"^\s*Examples?:\s*$", result.output, re.MULTILINE), result.output
    example_lines = result.output.split("Example", 1)[1]
    assert f"owlmigrate {name}" in example_lines


def test_top_level_help_lists_every_present_command() -> None:
    result = CliRunner().invoke(cli, ["--help"], catch_exceptions=False)
    assert result.exit_code == 0
    for name in present_commands():
        assert re.search(rf"^\s+{name}\b", result.output, re.MULTILINE), name
    assert "Example" in result.output


@pytest.mark.parametrize(
    ("doc", "must_mention"),
    [
        (
            "docs/migration-guide.md",
            [
                "owlmigrate scan",
                "migration_weight",
                "fallback_strategy",
                "owlmigrate cutover",
                "owlmigrate rollback",
                "--to-legacy",
                "owlmigrate step",
                "- [ ]",
            ],
        ),
        (
            "docs/troubleshooting.md",
            [
                "/healthz",
                "/readyz",
                "/metrics",
                "cron_execution_failed",
                "owlmigrate history",
                "OWLCLAW_LOGGING__LEVEL",
                "circuit breaker",
                "deploy/Dockerfile",
                "deploy/docker-compose.yml",
            ],
        ),
    ],
)
def test_guides_cover_the_operations(doc: str, must_mention: list[str]) -> None:
    text = (REPO / doc).read_text(encoding="utf-8")
    for needle in must_mention:
        assert needle in text, f"{doc} does not mention {needle}"


def test_guides_only_name_commands_that_exist() -> None:
    for doc in ("docs/migration-guide.md", "docs/troubleshooting.md", "README.md"):
        text = (REPO / doc).read_text(encoding="utf-8")
        blocks = re.findall(r"```.*?```", text, re.DOTALL)
        spans = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.DOTALL))
        code = "\n".join(blocks + spans)
        names = set(re.findall(r"\bowlmigrate ([a-z]+)\b", code))
        # not vacuous: each guide shows commands, so finding none means the scan broke
        assert names, f"{doc}: no `owlmigrate <command>` found in its code"
        for name in names:
            assert name in COMMANDS, f"{doc} names a command that does not exist: {name}"
