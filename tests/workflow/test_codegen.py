"""generate's rendering: safe literals for any job text, ruff-clean output, skills, README."""

from __future__ import annotations

import ast
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from owlclaw_runtime import LegacyCommand
from owlclaw_runtime.loader import load_app

from owlmigrate.codegen import (
    MODULE_NAME,
    PlanRenderError,
    derive_focus,
    md_fence,
    overlap_settings,
    py_literal,
    render,
)
from owlmigrate.codegen.host import HostLines, RealLine
from owlmigrate.codegen.render import JobView

REPO = Path(__file__).resolve().parents[2]


def job(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "etc_crontab_3",
        "source": "etc/crontab",
        "line": 3,
        "schedule": "30 2 * * *",
        "user": "root",
        "command": "/usr/local/bin/backup.sh",
        "stdin": None,
        "env": {},
        "timezone": "Europe/London",
        "daemon_timezone": "Europe/London",
        "dialect": "debian",
        "semantics": "daemon",
        "enabled": True,
        "kind": "cron",
        "description": "Nightly backup",
        "risks": [],
        "calls": [],
        "source_sha256": "ab" * 32,
        "span": [10, 40],
    }
    base.update(overrides)
    return base


def plan(*jobs: dict[str, Any], sources: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"host": {"root": "/tmp/x/debian-web"}, "sources": sources or [], "jobs": list(jobs)}


def cron_kwargs(module: str, event: str) -> dict[str, Any]:
    """The literal keyword arguments of ``event``'s @app.cron, evaluated from the AST."""
    tree = ast.parse(module)
    for node in tree.body:
        if isinstance(node, ast.AsyncFunctionDef):
            call = node.decorator_list[0]
            assert isinstance(call, ast.Call)
            kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
            if kwargs["event_name"] == event:
                kwargs["expression"] = ast.literal_eval(call.args[0])
                return kwargs
    raise AssertionError(f"no trigger {event}")


def legacy_args(module: str) -> list[tuple[Any, dict[str, Any]]]:
    out = []
    for node in ast.parse(module).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            call = node.value
            if isinstance(call.func, ast.Name) and call.func.id == "LegacyCommand":
                out.append(
                    (
                        ast.literal_eval(call.args[0]),
                        {k.arg: ast.literal_eval(k.value) for k in call.keywords},
                    )
                )
    return out


def test_a_trigger_carries_the_legacy_expression_and_its_exact_settings() -> None:
    rendering = render(plan(job(env={"MAILTO": "", "PATH": "/usr/bin:/bin"}, stdin="a\nb\n")))
    module = rendering.files[MODULE_NAME].decode()
    kwargs = cron_kwargs(module, "etc_crontab_3")
    assert kwargs == {
        "expression": "30 2 * * *",
        "event_name": "etc_crontab_3",
        "description": "Nightly backup",
        "timezone": "Europe/London",
        "dialect": "debian",
        "semantics": "daemon",
        "focus": ["backup_sh"],
        "migration_weight": 0.0,
        "fallback_strategy": "on_failure",
        "shadow": True,
        "max_daily_runs": None,
        "max_daily_cost": None,
        "max_cost_per_run": None,
        "breaker_window": 0,
        "cooldown_seconds": 0,
        "max_duration": None,
        "retry_on_failure": False,
        "catch_up": False,
        "overlap_policy": "allow",
    }
    assert legacy_args(module) == [
        (
            "/usr/local/bin/backup.sh",
            {
                "stdin": "a\nb\n",
                "env": {"MAILTO": "", "PATH": "/usr/bin:/bin"},
                "user": "root",
                "dialect": "debian",
                "timeout": None,
                # MAILTO="" as the crontab says (the runtime then mails nothing); the start
                # is logged to syslog as cron logs it
                "mail": {"to": "", "sender": None},
                "syslog": True,
            },
        )
    ]
    assert 'app = OwlClawApp("debian-web")' in module


def test_cron_tz_jobs_keep_the_daemon_zone() -> None:
    rendering = render(
        plan(
            job(
                timezone="Asia/Tokyo",
                daemon_timezone="UTC",
                dialect="cronie",
                semantics="wallclock",
            )
        )
    )
    kwargs = cron_kwargs(rendering.files[MODULE_NAME].decode(), "etc_crontab_3")
    assert kwargs["daemon_timezone"] == "UTC"
    assert kwargs["semantics"] == "wallclock"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("flock -n /var/lock/x php a.php", {"max_concurrency": 1, "overlap_policy": "skip"}),
        ("/usr/bin/flock -xn /l cmd", {"max_concurrency": 1, "overlap_policy": "skip"}),
        ("flock -w 10 /l cmd", {"overlap_policy": "allow"}),
        ("flock --nonblock /l cmd", {"max_concurrency": 1, "overlap_policy": "skip"}),
        ("flock -x -w5 /l cmd", {"overlap_policy": "allow"}),
        ("flock /l cmd", {"max_concurrency": 1, "overlap_policy": "queue"}),
        ("run-one ./sync", {"max_concurrency": 1, "overlap_policy": "skip"}),
        ("./sync", {"overlap_policy": "allow"}),
    ],
)
def test_overlap_guards_become_concurrency_settings(command: str, expected: dict) -> None:
    assert overlap_settings(command) == expected


@pytest.mark.parametrize(
    ("calls", "command", "focus"),
    [
        (
            [{"kind": "guard", "name": "flock"}, {"kind": "executable", "name": "pg_dump"}],
            "flock -n /l pg_dump db",
            ["pg_dump"],
        ),
        ([], "cd /srv && ./backup.sh", ["backup_sh"]),
        ([], "/usr/bin/nice -n 19 pg_dump db", ["pg_dump"]),
        ([], "", ["job"]),
    ],
)
def test_focus_comes_from_the_analysis_or_the_command(
    calls: list, command: str, focus: list[str]
) -> None:
    assert derive_focus(JobView({"calls": calls, "command": command}, 0)) == focus


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"kind": "reboot", "schedule": "@reboot"}, "@reboot runs when the daemon starts"),
        ({"kind": "anacron"}, "anacron jobs run from timestamps"),
        ({"enabled": False}, "commented out"),
        ({"dialect": "cronie", "env": {"RANDOM_DELAY": "10"}}, "RANDOM_DELAY"),
        ({"dialect": "cronie", "random_delay": 15}, "RANDOM_DELAY"),
        ({"schedule": "0~30 * * * *", "dialect": "cronie-head"}, "random '~' ranges"),
        ({"schedule": "61 * * * *"}, "the daemon rejects this schedule"),
    ],
)
def test_jobs_that_cannot_be_triggers_are_listed_with_the_reason(
    overrides: dict, reason: str
) -> None:
    rendering = render(plan(job(**overrides)))
    assert rendering.triggers == []
    assert len(rendering.not_migrated) == 1
    assert reason in rendering.not_migrated[0].reason
    assert "import LegacyCommand" not in rendering.files[MODULE_NAME].decode()
    assert "@app.cron" not in rendering.files[MODULE_NAME].decode()


def test_a_source_the_daemon_ignores_is_left_in_place() -> None:
    rendering = render(
        plan(job(), sources=[{"path": "etc/crontab", "runs": False, "reason": "name has a dot"}])
    )
    assert rendering.not_migrated[0].reason == "the daemon ignores its source (name has a dot)"


def test_periodic_scripts_are_covered_by_the_run_parts_line() -> None:
    driver = job(
        id="etc_crontab_25",
        line=25,
        schedule="25 6 * * *",
        command="test -x /usr/sbin/anacron || ( cd / && run-parts --report /etc/cron.daily )",
    )
    script = job(
        id="etc_cron_daily_logrotate",
        source="etc/cron.daily/logrotate",
        line=None,
        kind="periodic",
        command="/etc/cron.daily/logrotate",
        runner={"source": "etc/crontab", "line": 25},
    )
    orphan = job(
        id="etc_cron_weekly_x",
        source="etc/cron.weekly/x",
        line=None,
        kind="periodic",
        command="/etc/cron.weekly/x",
    )
    rendering = render(plan(driver, script, orphan))
    assert [t.job_id for t in rendering.triggers] == ["etc_crontab_25"]
    assert rendering.triggers[0].covers == ["etc_cron_daily_logrotate"]
    assert rendering.manifest["jobs"]["etc_crontab_25"]["covers"] == ["etc_cron_daily_logrotate"]
    assert [(n.job_id, n.reason) for n in rendering.not_migrated] == [
        (
            "etc_cron_weekly_x",
            "no crontab line runs its directory at a fixed time (anacron or none)",
        )
    ]


def test_a_periodic_directory_becomes_one_trigger_on_its_run_parts_line() -> None:
    runner = {"source": "etc/crontab", "line": 2, "command": "cd / && run-parts /etc/cron.daily"}
    scripts = [
        job(
            id=name,
            source=f"etc/cron.daily/{name}",
            line=None,
            kind="periodic",
            schedule="25 6 * * *",
            command=f"/etc/cron.daily/{name}",
            runner=runner,
            span=None,
        )
        for name in ("logrotate", "man_db")
    ]
    data = b"SHELL=/bin/sh\n25 6 * * * root cd / && run-parts /etc/cron.daily\n"
    host_lines = HostLines(
        runners={
            ("etc/crontab", 2): RealLine(
                "cd / && run-parts /etc/cron.daily",
                None,
                {"SHELL": "/bin/sh"},
                14,
                len(data),
                "cd" * 32,
            )
        }
    )
    rendering = render(plan(*scripts), host_lines=host_lines)
    [trigger] = rendering.triggers
    assert trigger.job_id == "run_parts_etc_cron_daily"
    assert trigger.covers == ["logrotate", "man_db"]
    assert (trigger.source, trigger.line, trigger.span) == ("etc/crontab", 2, [14, len(data)])
    assert data[14:].startswith(b"25 6 * * * root")
    [(command, _)] = legacy_args(rendering.files[MODULE_NAME].decode())
    assert command == "cd / && run-parts /etc/cron.daily"
    without = render(plan(*scripts))
    assert [n.reason for n in without.not_migrated] == [
        "the line that runs its directory (etc/crontab:2) cannot be read"
    ] * 2


def test_skill_front_matter_is_yaml_with_focus_tags() -> None:
    rendering = render(
        plan(
            job(
                risks=[{"code": "writes-db", "message": "writes\nthe db"}],
                calls=[{"kind": "executable", "name": "pg_dump"}],
            )
        )
    )
    text = rendering.files["skills/etc_crontab_3/SKILL.md"].decode()
    front = yaml.safe_load(text.split("---\n")[1])
    assert front["focus"] == ["pg_dump"]
    assert front["name"] == "etc_crontab_3"
    assert "- writes-db: writes the db\n" in text
    assert "- pg_dump\n" in text


def test_manifest_links_triggers_to_plan_lines_and_hashes_every_file() -> None:
    rendering = render(plan(job()), plan_path="/p/plan.json")
    manifest = rendering.manifest
    assert manifest["module"] == MODULE_NAME and manifest["attr"] == "app"
    entry = manifest["jobs"]["etc_crontab_3"]
    assert (entry["source"], entry["line"], entry["span"]) == ("etc/crontab", 3, [10, 40])
    assert entry["source_sha256"] == "ab" * 32
    assert sorted(manifest["files"]) == sorted(n for n in rendering.files if n != "owlmigrate.json")


def test_long_strings_wrap_within_the_line_width() -> None:
    value = "x " * 150 + "'\"\n%{{ }}"
    code = py_literal(value, 4)
    assert all(len(line) <= 100 for line in code.splitlines())
    assert ast.literal_eval(code) == value


def test_fences_outgrow_backticks_in_the_text() -> None:
    assert md_fence("a ```` b").startswith("`````")


PIECES = [
    *"ab '\"\\\n\r\t%{}#$`;()&|<>",
    "{{",
    "}}",
    "{%",
    "%}",
    "'''",
    '"""',
    "\x00",
    "\u2028",
    "é",
    "😀",
    "__import__('os')",
]
HOSTILE = st.lists(st.sampled_from(PIECES), max_size=30).map("".join)


def _ruff(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--no-cache",
            "--config",
            str(REPO / "pyproject.toml"),
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    command=HOSTILE.filter(str.strip),
    stdin=st.none() | HOSTILE,
    description=HOSTILE,
    value=HOSTILE,
    user=HOSTILE,
)
def test_hostile_job_text_stays_data(
    command: str, stdin: str | None, description: str, value: str, user: str
) -> None:
    """Quotes, newlines, %, Jinja and Python syntax all come back as the same values."""
    rendering = render(
        plan(
            job(
                command=command,
                stdin=stdin,
                description=description,
                env={"V": value, value or "K": "x"},
                user=user,
                risks=[{"code": "c", "message": value}],
            )
        )
    )
    module = rendering.files[MODULE_NAME].decode()
    compile(module, MODULE_NAME, "exec")
    kwargs = cron_kwargs(module, "etc_crontab_3")
    assert kwargs["description"] == (description or "Legacy cron job etc_crontab_3")
    [(got_command, got)] = legacy_args(module)
    assert got_command == command
    assert got["stdin"] == stdin
    assert got["user"] == user
    assert got["env"] == {"V": value, value or "K": "x"}
    assert all(len(line) <= 100 for line in module.splitlines())
    yaml.safe_load(rendering.files["skills/etc_crontab_3/SKILL.md"].decode().split("---\n")[1])
    # and the module imports: the trigger and its fallback carry the same values
    with tempfile.TemporaryDirectory() as directory:
        for name, data in rendering.files.items():
            (Path(directory) / name).parent.mkdir(parents=True, exist_ok=True)
            (Path(directory) / name).write_bytes(data)
        app = load_app(directory)
        try:
            [config] = app.cron_registry.list_triggers()
            assert config.description == kwargs["description"]
            assert config.shadow is True and config.migration_weight == 0.0
            legacy = next(
                v
                for v in vars(sys.modules[config.fallback_handler.__module__]).values()
                if isinstance(v, LegacyCommand)
            )
            assert (legacy.command, legacy.stdin, legacy.user) == (command, stdin, user)
        finally:
            app.close()


def test_generated_module_is_ruff_clean_for_hostile_text(tmp_path: Path) -> None:
    nasty = "echo '{{ x }}' \"%s\" % (1,) \\\n; import os; os.system('rm -rf /') # \u2028" * 3
    rendering = render(
        plan(
            job(command=nasty, stdin=nasty, description=nasty, env={"A": nasty}),
            job(id="second", command="true", line=4, span=[40, 60]),
        )
    )
    target = tmp_path / MODULE_NAME
    target.write_bytes(rendering.files[MODULE_NAME])
    done = _ruff(target)
    assert done.returncode == 0, done.stdout + done.stderr


LINE_PIECES = [
    *"ab '\"\\%{}#$`;()&|<>",
    "{{",
    "}}",
    "{%",
    "%}",
    "'''",
    '"""',
    "\\%",
    "é",
    "__import__('os').system('x')",
    "\\n",
    "\t",
]
LINE_TEXT = st.lists(st.sampled_from(LINE_PIECES), min_size=1, max_size=25).map("".join)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(command=LINE_TEXT.filter(lambda c: c.strip() and not c.lstrip().startswith("#")))
def test_hostile_crontab_lines_go_through_the_generate_verb_and_import(command: str) -> None:
    """Real crontab bytes → real parser → generate (files, journal) → import the app."""
    import sys as _sys

    from workflow_plans import plan_for

    from owlmigrate import migration as m

    line = f"0 1 * * * root {command}\n".encode()
    with tempfile.TemporaryDirectory() as directory:
        base = Path(directory)
        plan = plan_for(base / "host", {"etc/crontab": line})
        jobs = [j for j in plan.jobs if j.kind == "cron" and j.enabled]
        plan.dump(base / "plan.json")
        result = m.generate(
            base / "plan.json", base / "app", ledger_url=f"sqlite:///{base / 'l.db'}"
        )
        if not jobs or not jobs[0].command.strip():
            assert result.triggers == []
            return
        app = load_app(base / "app")
        try:
            [config] = app.cron_registry.list_triggers()
            module = _sys.modules[config.fallback_handler.__module__]
            [legacy] = [v for v in vars(module).values() if isinstance(v, LegacyCommand)]
            assert (legacy.command, legacy.stdin) == (jobs[0].command, jobs[0].stdin)
        finally:
            app.close()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"jobs": "nope"}, "the plan has no 'jobs' list"),
        ({"jobs": [{"command": "x"}]}, "job #1 has no 'id'"),
        ({"jobs": [job(), job()]}, "duplicate job id 'etc_crontab_3'"),
        ({"jobs": [job(id=" x")]}, "job id ' x' has surrounding blanks"),
    ],
)
def test_a_malformed_plan_is_refused_naming_the_file(data: dict, message: str) -> None:
    with pytest.raises(PlanRenderError) as error:
        render(data, plan_path="plan.json")
    assert str(error.value) == f"plan.json: {message}"
