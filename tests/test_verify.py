"""``owlmigrate verify``: the legacy model from raw crontab lines vs the trigger, per job."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from owlclaw_runtime.schedule import Schedule, parse

from owlmigrate.cli import cli
from owlmigrate.verify import TimeModel, compare, reference_minutes, verify_plan

REPO = Path(__file__).resolve().parent.parent
START = datetime(2025, 1, 1, tzinfo=UTC)
END = datetime(2027, 1, 1, tzinfo=UTC)
NY = "America/New_York"

CRONTAB = """\
SHELL=/bin/sh
MAILTO=""
30 2 * * * /usr/local/bin/backup
0,30 2 * * * /usr/local/bin/twice
*/15 * * * * /usr/local/bin/poll
0 0 */2 * 1 /usr/local/bin/odd-mondays
@reboot /usr/local/bin/warm
# 5 5 * * * /usr/local/bin/disabled
"""


def _run(args: list[str]):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def _host(tmp_path: Path, crontab: str = CRONTAB, dialect: str = "debian") -> Path:
    root = tmp_path / "host"
    spool = root / "var/spool/cron/crontabs"
    spool.mkdir(parents=True)
    (spool / "app").write_text(crontab)
    (root / "etc").mkdir()
    (root / "etc/passwd").write_text(
        "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"
    )
    plan = tmp_path / "plan.json"
    result = _run(
        [
            "scan",
            "--root",
            str(root),
            "--dialect",
            dialect,
            "--timezone",
            NY,
            "--no-systemd",
            "-o",
            str(plan),
        ]
    )
    assert result.exit_code == 0, result.output
    return plan


def _app(
    tmp_path: Path, plan_path: Path, override: dict[str, dict[str, str]] | None = None
) -> Path:
    """A hand-written app (real OwlClawApp) whose triggers declare what generate would."""
    plan = json.loads(plan_path.read_text())
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    lines = ["from owlclaw_runtime import OwlClawApp", "", 'app = OwlClawApp("t")', ""]
    jobs = {}
    for job in plan["jobs"]:
        if job["kind"] != "cron" or not job["enabled"]:
            continue
        decl = {
            "expression": job["schedule"],
            "timezone": job["timezone"],
            "dialect": job["dialect"],
            "semantics": job["semantics"],
        }
        decl.update((override or {}).get(job["id"], {}))
        lines += [
            f"@app.cron({decl['expression']!r}, event_name={job['id']!r}, "
            f"timezone={decl['timezone']!r}, dialect={decl['dialect']!r}, "
            f"semantics={decl['semantics']!r})",
            f"def f_{len(jobs)}() -> None:",
            '    """A job."""',
            "",
        ]
        jobs[job["id"]] = {
            "job_id": job["id"],
            "source": job["source"],
            "line": job["line"],
            "source_sha256": job["source_sha256"],
            "span": job["span"],
            "module": "app_mod.py",
        }
    (app_dir / "app_mod.py").write_text("\n".join(lines))
    manifest = {
        "format_version": 1,
        "module": "app_mod.py",
        "attr": "app",
        "plan": str(plan_path),
        "jobs": jobs,
        "not_migrated": [],
    }
    (app_dir / "owlmigrate.json").write_text(json.dumps(manifest))
    return app_dir


def test_plan_is_verified_job_by_job(tmp_path: Path) -> None:
    plan = _host(tmp_path)
    report = verify_plan(plan, years=2, start=START)
    by_cmd = {j.legacy["expression"] if j.legacy else j.job_id: j for j in report.jobs}
    assert report.ok
    assert by_cmd["30 2 * * *"].status == "equivalent"
    # two years of a daily job in New York: 730 runs (the spring-forward day's run is caught up)
    assert by_cmd["30 2 * * *"].fires == 730
    assert by_cmd["30 2 * * *"].windows == 5  # a sample day plus 4 offset changes
    assert by_cmd["0,30 2 * * *"].fires == 1460
    assert by_cmd["0 0 */2 * 1"].superset == ["0 4,5 * * 1"]
    statuses = sorted(j.status for j in report.jobs)
    assert statuses.count("inexpressible") == 1 and statuses.count("skipped") == 1


def test_verify_cli_plan_json_and_text(tmp_path: Path) -> None:
    plan = _host(tmp_path)
    result = _run(["verify", str(plan), "--years", "1", "--from", "2025-01-01T00:00:00Z", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["ok"] is True
    assert data["window"] == {"start": "2025-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}
    assert data["counts"] == {"equivalent": 4, "inexpressible": 1, "skipped": 1}
    text = _run(["verify", str(plan), "--years", "1", "--from", "2025-01-01"])
    assert text.exit_code == 0
    assert text.output.splitlines()[-1] == (
        "4 equivalent, 0 not equivalent, 1 inexpressible, 1 skipped, 0 errors"
    )
    assert "@reboot runs when the daemon starts" in text.output


def test_app_triggers_are_verified_and_a_changed_trigger_fails(tmp_path: Path) -> None:
    plan = _host(tmp_path)
    (tmp_path / "good").mkdir()
    good = _app(tmp_path / "good", plan)
    ok = _run(["verify", "--app", str(good), "--years", "2", "--from", "2025-01-01"])
    assert ok.exit_code == 0, ok.output
    ids = {j["id"]: j for j in json.loads(plan.read_text())["jobs"]}
    target = next(i for i, j in ids.items() if j["schedule"] == "30 2 * * *")
    (tmp_path / "bad").mkdir()
    bad = _app(tmp_path / "bad", plan, {target: {"semantics": "wallclock", "dialect": "cronie"}})
    result = _run(["verify", "--app", str(bad), "--years", "2", "--from", "2025-01-01", "--json"])
    assert result.exit_code == 1
    verdict = next(j for j in json.loads(result.output)["jobs"] if j["job_id"] == target)
    assert verdict["status"] == "not_equivalent"
    # the spring-forward catch-up at 03:00 EDT is what a wall-clock trigger loses
    assert "legacy runs at 2025-03-09T07:00:00Z, trigger does not" in verdict["mismatches"]


def test_a_changed_crontab_is_an_error(tmp_path: Path) -> None:
    plan = _host(tmp_path)
    crontab = tmp_path / "host/var/spool/cron/crontabs/app"
    crontab.write_text(CRONTAB.replace("30 2 * * *", "30 3 * * *"))
    result = _run(["verify", str(plan), "--years", "1", "--from", "2025-01-01"])
    assert result.exit_code == 1
    assert "the crontab changed since the scan" in result.output


def test_compare_catches_a_different_expression_and_accepts_zone_aliases() -> None:
    legacy = TimeModel("30 2 * * *", "debian", NY, "daemon", NY)
    same = compare(
        legacy, TimeModel("30 02 * * *", "debian", "US/Eastern", "daemon", "US/Eastern"), START, END
    )
    assert same.status == "equivalent", same.reason
    other = compare(legacy, TimeModel("30 2 * * 0-6", "cronie", NY, "daemon", NY), START, END)
    assert other.status == "equivalent"  # same sets, same behaviour
    diff = compare(legacy, TimeModel("30 3 * * *", "debian", NY, "daemon", NY), START, END)
    assert diff.status == "not_equivalent"
    assert "different wall minutes" in (diff.reason or "")
    utc = compare(legacy, TimeModel("30 2 * * *", "debian", "UTC", "daemon", "UTC"), START, END)
    assert utc.status == "not_equivalent"
    assert "zone UTC differs" in (utc.reason or "")


def test_compare_models_the_cron_tz_daemon_zone() -> None:
    # cronie CRON_TZ=UTC job on a New York daemon loses 06:30Z on 2025-11-02; a trigger that
    # declares the daemon on UTC would run it: not equivalent.
    legacy = TimeModel("30 6 * * *", "cronie", "UTC", "wallclock", NY)
    wrong = compare(
        legacy, TimeModel("30 6 * * *", "cronie", "UTC", "wallclock", "UTC"), START, END
    )
    assert wrong.status == "not_equivalent"
    assert "trigger runs at 2025-11-02T06:30:00Z, legacy does not" in wrong.mismatches
    right = compare(legacy, TimeModel("30 6 * * *", "cronie", "UTC", "wallclock", NY), START, END)
    assert right.status == "equivalent", right.reason


def test_inexpressible_legacy_schedules() -> None:
    reboot = compare(
        TimeModel("@reboot", "debian", NY, "daemon", NY),
        TimeModel("@reboot", "debian", NY, "daemon", NY),
        START,
        END,
    )
    assert reboot.status == "inexpressible"


@pytest.mark.parametrize(
    "zone", ["America/New_York", "Europe/London", "Australia/Lord_Howe", "UTC"]
)
@pytest.mark.parametrize("expr", ["30 2 * * *", "0,30 1-3 * * *", "*/15 * * * *", "0 * * * *"])
def test_reference_transcription_agrees_with_the_fast_engine(zone: str, expr: str) -> None:
    model = TimeModel(expr, "debian", zone, "daemon", zone)
    sched = Schedule(expr, timezone=zone)
    u0 = int(datetime(2025, 3, 1, tzinfo=UTC).timestamp()) // 60
    for month_start in (u0, u0 + 214 * 1440):  # March and early October 2025
        a, b = month_start, month_start + 40 * 1440
        assert reference_minutes(parse(expr, "debian"), model, a, b) == list(
            sched.iter_minutes(a, b)
        )


def test_verify_examples_debian_web(tmp_path: Path) -> None:
    root = tmp_path / "debian-web"
    shutil.copytree(REPO / "examples/legacy_crontabs/debian-web", root, symlinks=True)
    plan = tmp_path / "plan.json"
    assert _run(["scan", "--root", str(root), "-o", str(plan)]).exit_code == 0
    result = _run(["verify", str(plan), "--years", "10", "--from", "2025-01-01", "--json"])
    data = json.loads(result.output)
    assert result.exit_code == 0, [
        j for j in data["jobs"] if j["status"] in ("error", "not_equivalent")
    ]
    assert data["counts"]["equivalent"] >= 10
    assert not any(j["status"] == "error" for j in data["jobs"])


def test_usage_errors(tmp_path: Path) -> None:
    plan = _host(tmp_path)
    assert _run(["verify", str(plan), "--app", str(tmp_path)]).exit_code == 2
    assert _run(["verify", str(plan), "--years", "0"]).exit_code == 2
    assert _run(["verify", str(plan), "--from", "soon"]).exit_code == 2
    missing = _run(["verify", str(tmp_path / "nope.json")])
    assert missing.exit_code == 1 and "no such plan file" in missing.output
    assert _run(["verify", "--app", str(tmp_path)]).exit_code == 2
    assert "Example:" in _run(["verify", "--help"]).output


def test_a_window_starting_inside_the_repeated_hour() -> None:
    # 2025-11-02 06:20Z is 01:20 EST, the second pass: cron runs neither 30 1 nor 45 1 again.
    legacy = TimeModel("30,45 1 * * *", "debian", NY, "daemon", NY)
    start = datetime(2025, 11, 2, 6, 20, tzinfo=UTC)
    verdict = compare(legacy, legacy, start, datetime(2025, 11, 4, tzinfo=UTC))
    assert verdict.status == "equivalent", verdict.reason
    assert verdict.fires == 2  # 11-03 01:30 and 01:45 EST


def test_generated_app_end_to_end_and_a_hand_edit_is_caught(tmp_path: Path) -> None:
    root = tmp_path / "rhel-batch"
    shutil.copytree(REPO / "examples/legacy_crontabs/rhel-batch", root, symlinks=True)
    plan, app = tmp_path / "plan.json", tmp_path / "app"
    assert _run(["scan", "--root", str(root), "-o", str(plan)]).exit_code == 0
    assert _run(["generate", str(plan), "-o", str(app)]).exit_code == 0
    result = _run(["verify", "--app", str(app), "--years", "2", "--from", "2025-01-01", "--json"])
    data = json.loads(result.output)
    assert result.exit_code == 0, [j for j in data["jobs"] if j["status"] != "equivalent"]
    assert data["counts"]["equivalent"] >= 5
    statuses = {j["job_id"]: j["status"] for j in data["jobs"]}
    assert "not_equivalent" not in statuses.values()
    # hand-edit one trigger's expression in the generated module: verify must refuse it
    module = app / "owlclaw_app.py"
    text = module.read_text()
    first = next(j for j in data["jobs"] if j["status"] == "equivalent")
    expr = first["trigger"]["expression"]
    edited = "0 13 * * *" if expr != "0 13 * * *" else "0 14 * * *"
    module.write_text(text.replace(f'"{expr}"', f'"{edited}"', 1))
    bad = _run(["verify", "--app", str(app), "--years", "2", "--from", "2025-01-01", "--json"])
    assert bad.exit_code == 1
    assert any(j["status"] == "not_equivalent" for j in json.loads(bad.output)["jobs"])


def test_app_manifest_problems_are_reported(tmp_path: Path) -> None:
    plan = _host(tmp_path)
    (tmp_path / "a").mkdir()
    app = _app(tmp_path / "a", plan)
    manifest = json.loads((app / "owlmigrate.json").read_text())
    victim = sorted(manifest["jobs"])[0]
    manifest["jobs"]["ghost"] = dict(manifest["jobs"][victim], job_id="ghost")
    del manifest["jobs"][victim]
    (app / "owlmigrate.json").write_text(json.dumps(manifest))
    data = json.loads(_run(["verify", "--app", str(app), "--years", "1", "--json"]).output)
    errors = {j["job_id"]: j["reason"] for j in data["jobs"] if j["status"] == "error"}
    assert errors[victim] == "trigger not linked to a crontab line in owlmigrate.json"
    assert errors["ghost"] == "owlmigrate.json names a trigger the app does not register"
    manifest["plan"] = str(tmp_path / "gone.json")
    (app / "owlmigrate.json").write_text(json.dumps(manifest))
    missing = _run(["verify", "--app", str(app)])
    assert missing.exit_code == 1 and "is missing" in missing.output


def test_progress_is_reported_per_job_and_printed_for_long_runs(tmp_path: Path, capsys) -> None:
    from owlmigrate.commands.verify import _Progress

    plan = _host(tmp_path)
    seen: list[tuple[int, int, str]] = []
    report = verify_plan(
        plan, years=1, start=START, progress=lambda i, n, name: seen.append((i, n, name))
    )
    assert [i for i, _n, _name in seen] == list(range(len(report.jobs)))
    assert {n for _i, n, _name in seen} == {len(report.jobs)}
    printer = _Progress()
    printer(0, 50, "short-run")
    printer(100, 1000, "job_100")
    err = capsys.readouterr().err
    assert "short-run" not in err
    assert "verify: 100/1000 job_100" in err
