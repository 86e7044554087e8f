"""``owlmigrate explain``: exact text and JSON output, batch mode, exit codes."""

from __future__ import annotations

import json

from click.testing import CliRunner

from owlmigrate.cli import cli

NY_SPRING = ["explain", "--timezone", "America/New_York", "--from", "2025-03-08T00:00:00Z"]


def _run(args: list[str], stdin: str | None = None):
    return CliRunner().invoke(cli, args, input=stdin, catch_exceptions=False)


def test_text_output_lists_runs_with_multiplicity() -> None:
    result = _run([*NY_SPRING, "0,30 2 * * *", "--count", "5"])
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "0,30 2 * * *",
        "  At 0 and 30 minutes past the hour, at 02:00",
        "  minute: 0,30",
        "  hour:   2",
        "  dom:    " + ",".join(str(d) for d in range(1, 32)),
        "  month:  " + ",".join(str(m) for m in range(1, 13)),
        "  dow:    0,1,2,3,4,5,6",
        "  flags:  dom_star, dow_star",
        "  UTC superset (UTC-only engines): 0,30 6,7 * * *",
        "  runs (UTC, then America/New_York):",
        "    2025-03-08T07:00:00Z  2025-03-08 02:00 EST",
        "    2025-03-08T07:30:00Z  2025-03-08 02:30 EST",
        "    2025-03-09T07:00:00Z  2025-03-09 03:00 EDT",
        "    2025-03-09T07:00:00Z  2025-03-09 03:00 EDT",
        "    2025-03-10T06:00:00Z  2025-03-10 02:00 EDT",
    ]


def test_json_output_has_the_design_keys() -> None:
    result = _run(
        ["explain", "0 0 */2 * 1", "--json", "--from", "2025-01-01T00:00:00Z", "--count", "2"]
    )
    assert result.exit_code == 0
    obj = json.loads(result.output)
    assert set(obj) >= {
        "expression",
        "dialect",
        "valid",
        "error",
        "fields",
        "flags",
        "reboot",
        "description",
        "fires",
    }
    assert obj["valid"] is True and obj["error"] is None and obj["reboot"] is False
    assert obj["fields"]["dow"] == [1]
    assert obj["fields"]["dom"] == list(range(1, 32, 2))
    assert obj["flags"] == {
        "min_star": False,
        "hr_star": False,
        "dom_star": True,
        "dow_star": False,
    }
    # odd days that are Mondays: 2025-01-13 and 2025-01-27
    assert obj["fires"] == ["2025-01-13T00:00:00Z", "2025-01-27T00:00:00Z"]
    assert "only if that day is also a Monday" in obj["description"]


def test_until_lists_every_run_in_the_window() -> None:
    result = _run([*NY_SPRING, "30 2 * * *", "--until", "2025-03-10T00:00:00Z", "--json"])
    assert json.loads(result.output)["fires"] == ["2025-03-08T07:30:00Z", "2025-03-09T07:00:00Z"]


def test_wallclock_and_daemon_timezone() -> None:
    args = [
        "explain",
        "30 6 * * *",
        "--dialect",
        "cronie",
        "--semantics",
        "wallclock",
        "--daemon-timezone",
        "America/New_York",
        "--from",
        "2025-11-01T00:00:00Z",
        "--count",
        "2",
        "--json",
    ]
    # 2025-11-02 06:30Z falls in the daemon's repeated hour: lost (cron-semantics.md section 8)
    assert json.loads(_run(args).output)["fires"] == [
        "2025-11-01T06:30:00Z",
        "2025-11-03T06:30:00Z",
    ]


def test_batch_mode_goes_on_after_an_invalid_line() -> None:
    stdin = "0 0 * * 7\n5/15 * * * *\n@MONTHLY\n\n@weekly\n"
    result = _run(["explain", "-", "--json", "--count", "0"], stdin=stdin)
    assert result.exit_code == 1
    objs = [json.loads(line) for line in result.output.splitlines()]
    assert [o["valid"] for o in objs] == [True, False, False, False, True]
    assert [o["expression"] for o in objs] == [
        "0 0 * * 7",
        "5/15 * * * *",
        "@MONTHLY",
        "",
        "@weekly",
    ]
    assert objs[0]["fields"]["dow"] == [0] and objs[0]["fires"] == []
    assert "step specified without range" in objs[1]["error"]
    assert "column 2" in objs[1]["error"]
    assert "case-sensitive" in objs[2]["error"]
    assert objs[4]["flags"]["dom_star"] is True


def test_busybox_dialect_and_warnings() -> None:
    result = _run(["explain", "0 6 * * 7", "--dialect", "busybox", "--count", "0", "--json"])
    obj = json.loads(result.output)
    assert obj["fields"]["dow"] == list(range(7))
    assert any("parse error" in w for w in obj["warnings"])


def test_invalid_expression_in_text_mode_goes_to_stderr_with_exit_1() -> None:
    result = _run(["explain", "0 0 ? * *"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "bad day-of-month" in result.stderr


def test_usage_errors_exit_2() -> None:
    assert _run(["explain", "* * * * *", "--timezone", "Mars/Olympus"]).exit_code == 2
    assert _run(["explain", "* * * * *", "--count", "1", "--until", "2030-01-01"]).exit_code == 2
    assert _run(["explain", "* * * * *", "--from", "yesterday"]).exit_code == 2
    assert (
        _run(["explain", "* * * * *", "--dialect", "busybox", "--semantics", "daemon"]).exit_code
        == 2
    )
    assert _run(["explain", "* * * * *", "--dialect", "fcron"]).exit_code == 2


def test_help_has_an_example() -> None:
    result = _run(["explain", "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output
