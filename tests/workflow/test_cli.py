"""The workflow commands through click: exact output, exit codes (0, 1 finding, 2 usage)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from owlmigrate.cli import cli

CRONTAB = b'MAILTO=""\n30 2 * * * root /usr/local/bin/backup.sh\n@reboot root /bin/true\n'
JOB = "etc_crontab_2"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "OWLCLAW_LEDGER_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
        "OWLMIGRATE_SWITCH_WINDOW": "off",
    }


@pytest.fixture
def app(make_plan: Callable[..., Path], tmp_path: Path, env: dict[str, str]) -> str:
    plan = make_plan({"etc/crontab": CRONTAB})
    result = CliRunner().invoke(cli, ["generate", str(plan), "-o", str(tmp_path / "app")], env=env)
    assert result.exit_code == 0, result.output
    return str(tmp_path / "app")


def invoke(args: list[str], env: dict[str, str]):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


@pytest.mark.parametrize("name", ["generate", "cutover", "step", "rollback", "history", "stamp"])
def test_every_command_has_help_with_an_example(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output
    assert f"owlmigrate {name}" in result.output


def test_generate_output(
    make_plan: Callable[..., Path], tmp_path: Path, env: dict[str, str]
) -> None:
    plan = make_plan({"etc/crontab": CRONTAB})
    out = tmp_path / "app"
    result = invoke(["generate", str(plan), "-o", str(out)], env)
    assert result.exit_code == 0
    assert result.output == (
        f"{out}: 1 trigger, 1 job left in place\n"
        "  created README.md\n"
        "  created owlclaw_app.py\n"
        "  created owlmigrate.json\n"
        f"  created skills/{JOB}/SKILL.md\n"
        "  left in place: etc_crontab_3 (etc/crontab:3): @reboot runs when the daemon starts, "
        "not at a time (cron-semantics 6.4.6)\n"
    )
    again = invoke(["generate", str(plan), "-o", str(out)], env)
    assert again.output.splitlines()[1] == "  nothing to do: every file is up to date"
    (out / "owlclaw_app.py").write_text((out / "owlclaw_app.py").read_text() + "# mine\n")
    refused = invoke(["generate", str(plan), "-o", str(out)], env)
    assert refused.exit_code == 1
    assert refused.stderr.startswith(f"owlmigrate: {out}: edited by hand since generate")
    dry = invoke(["generate", str(plan), "-o", str(out), "--dry-run"], env)
    assert dry.exit_code == 0
    assert dry.output.startswith("--- a/owlclaw_app.py\n+++ b/owlclaw_app.py\n")
    assert "-# mine\n" in dry.output


def test_generate_json(make_plan: Callable[..., Path], tmp_path: Path, env: dict[str, str]) -> None:
    plan = make_plan({"etc/crontab": CRONTAB})
    result = invoke(["generate", str(plan), "-o", str(tmp_path / "app"), "--json"], env)
    data = json.loads(result.output)
    assert data["triggers"] == [JOB]
    assert data["not_migrated"][0]["job_id"] == "etc_crontab_3"


def test_generate_with_a_missing_plan_is_a_finding(tmp_path: Path, env: dict[str, str]) -> None:
    result = invoke(["generate", str(tmp_path / "nope.json"), "-o", str(tmp_path / "a")], env)
    assert result.exit_code == 1
    assert result.stderr == f"owlmigrate: {tmp_path / 'nope.json'}: no such plan file\n"


def test_cutover_step_rollback_history(app: str, tmp_path: Path, env: dict[str, str]) -> None:
    dry = invoke(["cutover", "--all", "--app", app, "--dry-run"], env)
    assert dry.output.startswith("--- a/etc/crontab\n+++ b/etc/crontab\n")
    result = invoke(["cutover", JOB, "--app", app, "--reason", "ticket 42"], env)
    assert (result.exit_code, result.output) == (0, f"{JOB}: cut over\n")
    assert invoke(["cutover", "--all", "--app", app], env).output == f"{JOB}: already cut over\n"

    refused = invoke(["step", JOB, "--to", "0.1", "--app", app], env)
    assert refused.exit_code == 1
    assert refused.stderr == (
        "owlmigrate: step refused (use --force to override):\n"
        f"  {JOB}: only 0 execution(s) at weight 0; 5 needed\n"
        f"  {JOB}: no agent is configured, so a weight above 0 would only fail over\n"
    )
    forced = invoke(["step", JOB, "--to", "0.1", "--force", "--app", app], env)
    assert forced.output == (
        f"{JOB}: migration_weight 0 -> 0.1 (forced: only 0 execution(s) at weight 0; 5 needed; "
        "no agent is configured, so a weight above 0 would only fail over)\n"
    )
    assert invoke(["step", JOB, "--by", "2", "--app", app], env).exit_code == 1
    assert invoke(["rollback", JOB, "--app", app], env).output == (
        f"{JOB}: migration_weight 0.1 -> 0\n"
    )
    assert invoke(["rollback", JOB, "--app", app], env).output == (
        f"{JOB}: migration_weight already 0\n"
    )
    legacy = invoke(["rollback", "--all", "--to-legacy", "--app", app], env)
    assert legacy.output == f"{JOB}: restored to legacy\n"
    assert (tmp_path / "host/etc/crontab").read_bytes() == CRONTAB

    history = invoke(["history", "--app", app], env)
    lines = [re.sub(r"^\s*\d+  \S+  \S+  ", "", line) for line in history.output.splitlines()]
    assert lines == [
        f"generate {JOB}: trigger written (generated from plan.json)",
        f"cutover  {JOB}: legacy line disabled in {tmp_path / 'host/etc/crontab'}, trigger live "
        "(ticket 42)",
        f"step     {JOB}: weight 0 -> 0.1 [forced]",
        f"rollback {JOB}: weight 0.1 -> 0",
        f"rollback {JOB}: legacy lines restored, trigger paused",
    ]
    rows = json.loads(invoke(["history", JOB, "--app", app, "--json"], env).output)["journal"]
    assert [r["action"] for r in rows] == ["generate", "cutover", "step", "rollback", "rollback"]
    assert all(r["status"] == "done" for r in rows)
    # the journal keeps a hash of the disabled line, never its text (it may hold secrets)
    assert len(rows[1]["to_state"]["line_sha256"]) == 64
    assert "backup.sh" not in json.dumps(rows[1])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cutover", "--app", "{app}"], "owlmigrate: name at least one job, or give --all\n"),
        (
            ["cutover", "nope", "--app", "{app}"],
            f"owlmigrate: no trigger 'nope' in this app ({JOB})\n",
        ),
        (["step", JOB, "--app", "{app}"], "owlmigrate: give exactly one of --to W or --by D\n"),
        (
            ["rollback", JOB, "--all", "--app", "{app}"],
            "owlmigrate: give job names or --all, not both\n",
        ),
        (
            ["step", JOB, "--to", "0.1", "--max-failure-rate", "0", "--app", "{app}"],
            "owlmigrate: --min-executions must be >= 1 and --max-failure-rate in (0, 1]\n",
        ),
    ],
)
def test_usage_errors_exit_2(app: str, env: dict[str, str], args: list[str], message: str) -> None:
    result = invoke([a.replace("{app}", app) for a in args], env)
    assert (result.exit_code, result.stderr) == (2, message)


def test_commands_outside_an_app_directory_exit_1(tmp_path: Path, env: dict[str, str]) -> None:
    result = invoke(["history", "--app", str(tmp_path)], env)
    assert result.exit_code == 1
    assert "owlmigrate.json is missing or unreadable" in result.stderr


def test_empty_history(app: str, env: dict[str, str], tmp_path: Path) -> None:
    other = dict(env, OWLCLAW_LEDGER_URL=f"sqlite:///{tmp_path / 'other.db'}")
    refused = invoke(["history", "--app", app], other)  # not the ledger generate recorded
    assert refused.exit_code == 1 and "is not this app's" in refused.output
    manifest = Path(app) / "owlmigrate.json"
    data = json.loads(manifest.read_text())
    del data["ledger_id"]  # an app from before ledger ids, nothing cut over: any ledger will do
    manifest.write_text(json.dumps(data))
    assert invoke(["history", "--app", app], other).output == "the journal is empty\n"


def test_status_shows_the_migration_stage(app: str, env: dict[str, str]) -> None:
    before = json.loads(invoke(["status", "--app", app, "--json"], env).output)
    assert before["triggers"][0]["migration"]["stage"] == "generated"
    invoke(["cutover", "--all", "--app", app], env)
    # the fallback really runs the legacy line, which does not exist on this machine
    assert invoke(["trigger", JOB, "--app", app], env).exit_code == 1
    invoke(["step", JOB, "--to", "0.25", "--force", "--app", app], env)
    [trigger] = json.loads(invoke(["status", "--app", app, "--json"], env).output)["triggers"]
    assert trigger["migration"] == {
        "stage": "cut over",
        "migration_weight": 0.25,
        "weights": [0.0, 0.25],
        "shadow": False,
        "paused": False,
        "pending": [],
        "success_rates": {"agent": None, "fallback": 0.0},
    }
    assert trigger["migration_weight"] == 0.25
    text = invoke(["status", "--app", app], env).output
    assert text.splitlines()[0].endswith(", breaker closed, stage cut over")


def test_stamp_records_a_state_without_touching_files(
    app: str, tmp_path: Path, env: dict[str, str]
) -> None:
    module_before = (Path(app) / "owlclaw_app.py").read_bytes()
    result = invoke(
        ["stamp", JOB, "--cut-over", "--weight", "0.1", "--reason", "by hand", "--app", app], env
    )
    assert (result.exit_code, result.output) == (
        0,
        f"{JOB}: generated at 0 -> cut over at 0.1 (stamped)\n",
    )
    assert (Path(app) / "owlmigrate.json").is_file()
    assert (Path(app) / "owlclaw_app.py").read_bytes() == module_before
    assert (tmp_path / "host/etc/crontab").read_bytes() == CRONTAB
    last = invoke(["history", "--app", app], env).output.splitlines()[-1]
    assert last.endswith(f"stamp    {JOB}: cut_over=True, migration_weight=0.1 (by hand)")
    back = invoke(["rollback", JOB, "--app", app], env)
    assert back.output == f"{JOB}: migration_weight 0.1 -> 0\n"
    usage = invoke(["stamp", JOB, "--app", app], env)
    assert (usage.exit_code, usage.stderr) == (
        2,
        "owlmigrate: stamp needs --cut-over/--not-cut-over or --weight W\n",
    )
    assert invoke(["stamp", JOB, "--weight", "2", "--app", app], env).exit_code == 2
