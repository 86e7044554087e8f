"""``owlmigrate explain`` refuses unbounded work with a usage error (exit 2) naming the limit."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from owlmigrate.cli import cli
from owlmigrate.commands.explain import MAX_FIRES


def _run(*args: str):
    return CliRunner().invoke(cli, ["explain", *args], catch_exceptions=False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--count", str(MAX_FIRES + 1)], f"above the limit of {MAX_FIRES} runs"),
        (["--count", "99999999999999"], f"above the limit of {MAX_FIRES} runs"),
        (["--from", "2025-01-01", "--until", "2500-01-01"], "more than 400 years after --from"),
        (["--from", "2025-01-01", "--until", "2024-01-01"], "--until is before --from"),
        (["--from", "0001-01-01"], "outside the supported range 1900-01-01 to 9000-01-01"),
        (["--from", "9999-12-31T23:59:59Z"], "outside the supported range"),
        (["--from", "2025-01-01", "--until", "9999-01-01"], "--until 9999-01-01"),
        (
            ["--from", "2025-01-01", "--until", "2026-01-01", "--json"],
            f"runs more than {MAX_FIRES} times before --until",
        ),
    ],
)
def test_unbounded_requests_are_usage_errors(args: list[str], message: str) -> None:
    result = _run("* * * * *", *args)
    assert result.exit_code == 2
    assert message in result.output


def test_the_limits_themselves_are_allowed() -> None:
    result = _run("* * * * *", "--from", "2025-01-01", "--count", str(MAX_FIRES), "--json")
    assert result.exit_code == 0
    assert len(json.loads(result.output)["fires"]) == MAX_FIRES
    result = _run("0 0 1 1 *", "--from", "1900-01-01", "--until", "2300-01-01", "--json")
    assert result.exit_code == 0
    assert len(json.loads(result.output)["fires"]) == 400


def test_far_years_inside_the_range_list_runs() -> None:
    result = _run("30 2 * * *", "--timezone", "America/New_York", "--from", "8999-12-30")
    assert result.exit_code == 0
    assert "8999-12-30" in result.output and "9000-01-0" in result.output
