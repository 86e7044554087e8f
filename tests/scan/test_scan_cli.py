"""`owlmigrate scan` through click: exact output, JSON, plan file, exit codes, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from owlmigrate.cli import cli
from owlmigrate.plan import Plan, PlanError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "legacy_crontabs"


def run(*args: str, input: bytes | None = None):
    return CliRunner().invoke(cli, ["scan", *args], input=input, catch_exceptions=False)


def test_table_output_for_a_small_crontab(tmp_path: Path):
    f = tmp_path / "alice"
    f.write_bytes(
        b'MAILTO=""\n30 2 * * * /home/alice/backup.sh >/dev/null 2>&1\n# 0 1 * * * /old\n'
    )
    result = run(str(f), "--dialect", "cronie", "--timezone", "UTC", "--format", "user")
    assert result.exit_code == 0
    src = str(f)
    pad = " " * (len(src) - len("SOURCE"))
    expected = (
        "host: (files)  dialect=cronie  timezone=UTC  systemd=no  os=unknown\n"
        "\n"
        f"SOURCE{pad}  KIND  STATUS  JOBS  NOTE\n"
        f"{src}  file  runs    2\n"
        "\n"
    )
    assert result.output.startswith(expected)
    lines = result.output.splitlines()
    assert lines[5].split() == [
        "ID",
        "SCHEDULE",
        "USER",
        "ON",
        "KIND",
        "SOURCE",
        "RISKS",
        "COMMAND",
    ]
    assert lines[6].split()[:6] == ["backup", "30", "2", "*", "*", "*"]
    assert "output_discarded" in lines[6] and lines[6].endswith(
        "/home/alice/backup.sh >/dev/null 2>&1"
    )
    assert lines[7].split()[0] == "old" and " off " in lines[7]
    assert lines[-1] == "2 jobs (1 enabled, 1 disabled or ignored) in 1 sources; 1 jobs with risks"


def test_json_output_follows_the_contract():
    result = run("--root", str(EXAMPLES / "alpine-container"), "--json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert set(data) >= {"host", "sources", "jobs"}
    for s in data["sources"]:
        assert set(s) >= {"path", "kind", "user", "runs", "reason", "errors"}
    for j in data["jobs"]:
        assert set(j) >= {
            "id",
            "source",
            "line",
            "schedule",
            "user",
            "command",
            "stdin",
            "env",
            "timezone",
            "dialect",
            "enabled",
            "kind",
            "description",
            "risks",
            "calls",
            "semantics",
            "daemon_timezone",
            "shell",
            "source_sha256",
            "span",
        }
        assert j["kind"] in ("cron", "reboot", "periodic", "anacron")
    assert data["host"]["root"] == str(EXAMPLES / "alpine-container")


def test_output_file_is_a_loadable_plan(tmp_path: Path):
    out = tmp_path / "plans" / "plan.json"
    result = run("--root", str(EXAMPLES / "rhel-batch"), "-o", str(out), "--json")
    assert result.exit_code == 0
    plan = Plan.load(out)
    assert plan.host.dialect == "cronie"
    assert json.loads(result.stdout)["jobs"] == json.loads(out.read_text())["jobs"]
    assert result.stderr == f"owlmigrate: wrote {len(plan.jobs)} jobs to {out}\n"


def test_stdin_and_forced_format():
    data = b"0 5 * * * root /usr/bin/x\n"
    as_system = json.loads(run("-", "--json", "--format", "system", input=data).output)
    assert (
        as_system["jobs"][0]["user"] == "root" and as_system["jobs"][0]["command"] == "/usr/bin/x"
    )
    as_user = json.loads(run("-", "--json", "--format", "user", input=data).output)
    assert as_user["jobs"][0]["command"] == "root /usr/bin/x"
    auto = json.loads(run("-", "--json", input=data).output)
    assert auto["jobs"][0]["user"] == "root"
    assert "format detected: system" in auto["sources"][0]["errors"][0]["message"]


@pytest.mark.parametrize(
    "args",
    [
        ["--dialect", "vixie-ng", "x"],
        ["--timezone", "Mars/Olympus", "x"],
        ["--root", "/definitely/not/here"],
        ["--format", "weird", "x"],
    ],
)
def test_usage_errors_exit_2(args: list[str]):
    result = CliRunner().invoke(cli, ["scan", *args])
    assert result.exit_code == 2


def test_help_has_an_example():
    result = run("--help")
    assert result.exit_code == 0 and "Example:" in result.output


def test_bad_input_is_reported_never_a_crash(tmp_path: Path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "binary").write_bytes(b"\x00\x01\x02\xff" * 50)
    (d / "latin1").write_bytes(b"0 1 * * * echo caf\xe9\n")
    (d / "empty").write_bytes(b"")
    (d / "nonewline").write_bytes(b"0 1 * * * /x")
    os.symlink(d / "nowhere", d / "dangling")
    result = run(str(d), "--json", "--dialect", "debian")
    assert result.exit_code == 0
    data = json.loads(result.output)
    src = {Path(s["path"]).name: s for s in data["sources"]}
    assert src["dangling"]["runs"] is False and src["dangling"]["errors"]
    assert any("binary" in e["message"] for e in src["binary"]["errors"])
    assert {
        "line": 1,
        "message": "not valid UTF-8: kept byte for byte (shown as \\x escapes)",
    } in src["latin1"]["errors"]
    latin = next(j for j in data["jobs"] if j["source"].endswith("latin1"))
    assert latin["command"] == "echo caf\\xe9"
    assert src["empty"]["runs"] is True
    assert [e["line"] for e in src["empty"]["errors"]] == [None]  # only the format note
    assert src["nonewline"]["runs"] is False


def test_plan_load_errors(tmp_path: Path):
    with pytest.raises(PlanError, match="no such plan file"):
        Plan.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(PlanError, match="cannot read"):
        Plan.load(bad)
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({"format_version": 99}))
    with pytest.raises(PlanError, match="newer"):
        Plan.load(newer)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"jobs": []}))
    with pytest.raises(PlanError, match="not an owlmigrate plan"):
        Plan.load(other)


def test_anacrontab_files_by_name_or_format(tmp_path: Path):
    tab = tmp_path / "host__etc__anacrontab"
    tab.write_bytes(b"RANDOM_DELAY=5\n1\t5\tcron.daily\tnice run-parts /etc/cron.daily\n3 1 x /y\n")
    data = json.loads(run(str(tab), "--json").stdout)
    assert data["sources"][0]["kind"] == "anacrontab"
    # Without a host root the run-parts directory cannot be listed: the line stays a job.
    assert [j["kind"] for j in data["jobs"]] == ["anacron", "anacron"]
    other = tmp_path / "jobs.txt"
    other.write_bytes(tab.read_bytes())
    forced = json.loads(run(str(other), "--json", "--format", "anacrontab").stdout)
    assert [j["schedule"] for j in forced["jobs"]] == ["1", "3"]


def test_rescanning_into_a_plan_keeps_ids_when_names_collide_later(tmp_path: Path):
    tree = tmp_path / "host"
    spool = tree / "var" / "spool" / "cron" / "crontabs"
    spool.mkdir(parents=True)
    (tree / "etc").mkdir()
    (tree / "etc" / "os-release").write_text("ID=debian\n")
    (spool / "alice").write_bytes(b"0 1 * * * /opt/backup.sh\n")
    out = tmp_path / "plan.json"
    assert run("--root", str(tree), "-o", str(out)).exit_code == 0
    assert [j.id for j in Plan.load(out).jobs] == ["backup"]
    (spool / "bob").write_bytes(b"0 2 * * * /opt/backup.sh --bob\n")
    # A fresh scan renames both; rescanning into the existing plan keeps alice's id.
    assert run("--root", str(tree), "-o", str(out)).exit_code == 0
    ids = {j.source: j.id for j in Plan.load(out).jobs}
    assert ids["var/spool/cron/crontabs/alice"] == "backup"
    assert ids["var/spool/cron/crontabs/bob"] != "backup"
    fresh = json.loads(run("--root", str(tree), "--json").stdout)
    assert "backup" not in [j["id"] for j in fresh["jobs"]]


def test_a_broken_plan_file_as_output_is_a_usage_error(tmp_path: Path):
    out = tmp_path / "plan.json"
    out.write_text("{broken")
    result = CliRunner().invoke(
        cli, ["scan", "--root", str(EXAMPLES / "alpine-container"), "-o", str(out)]
    )
    assert result.exit_code == 2 and "cannot read the plan" in result.output
