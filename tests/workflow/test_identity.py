"""Job identity across rescans, on real host trees, a real ledger and real files: a cut-over job
keeps its id and its trigger, a new job with the same natural name gets another id, our markers
are told apart from comments shaped like them, and generate never repoints a trigger."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from owlclaw_runtime.ledger import open_store

from owlmigrate import migration as m
from owlmigrate.cli import cli
from owlmigrate.errors import FindingError
from owlmigrate.migration.ledger_identity import app_name_for
from owlmigrate.plan import Plan
from owlmigrate.rewrite.codemods import read_cron_keywords
from owlmigrate.scan import scan

SPOOL = "var/spool/cron/crontabs"
WWW = f"{SPOOL}/www-data"
ALICE = f"{SPOOL}/alice"
A_LINE = b"*/10 * * * * /srv/bin/session_gc.sh\n"
WWW_TAB = b"# web jobs\n" + A_LINE + b"0 3 * * * /srv/bin/warm_cache.sh\n"


def make_host(tmp_path: Path, files: dict[str, bytes]) -> Path:
    root = tmp_path / "host"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "os-release").write_text("ID=debian\n")
    (root / "etc" / "passwd").write_text(
        "root:x:0:0::/root:/bin/sh\nwww-data:x:33:33::/var/www:/bin/sh\n"
        "alice:x:1000:1000::/home/alice:/bin/sh\n"
    )
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def rescan(root: Path, plan: Path, app: Path | None = None, ledger: str | None = None) -> Plan:
    """What `owlmigrate scan --root ROOT -o PLAN [--app APP]` does."""
    previous = Plan.load(plan) if plan.exists() else None
    result = scan(root=root, previous=previous, app=app, ledger_url=ledger)
    result.dump(plan)
    return result


def shadows(app: Path) -> dict[str, str | None]:
    return read_cron_keywords((app / "owlclaw_app.py").read_text(), "shadow")


def manifest(app: Path) -> dict:
    return json.loads((app / "owlmigrate.json").read_text())


@pytest.fixture
def cut_over(tmp_path: Path, ledger_url: str) -> tuple[Path, Path, Path]:
    """A host whose session_gc job is generated and cut over: (root, plan, app)."""
    root = make_host(tmp_path, {WWW: WWW_TAB})
    plan = tmp_path / "plan.json"
    assert [j.id for j in rescan(root, plan).jobs] == ["session_gc", "warm_cache"]
    app = tmp_path / "app"
    m.generate(plan, app, ledger_url=ledger_url)
    m.cutover(app, ["session_gc"], ledger_url=ledger_url)
    assert (root / WWW).read_bytes() == WWW_TAB.replace(
        A_LINE, b"#owlmigrate:session_gc: " + A_LINE
    )
    return root, plan, app


def test_the_collision_a_new_job_named_like_a_cut_over_one_gets_another_id(
    cut_over: tuple[Path, Path, Path], ledger_url: str
) -> None:
    root, plan, app = cut_over
    # the admin adds a job whose natural id is session_gc's
    (root / ALICE).write_bytes(b"*/5 * * * * /srv/bin/session_gc.sh\n")
    again = rescan(root, plan, app, ledger_url)
    job = again.job("session_gc")
    assert (job.source, job.line, job.cut_over, job.enabled) == (WWW, 2, True, True)
    assert job.migration is not None and job.migration.marker == "session_gc"
    data = (root / WWW).read_bytes()
    start, end = job.span  # type: ignore[misc]
    assert data[start:end] == b"#owlmigrate:session_gc: " + A_LINE  # minus the prefix: the line
    assert [(mk.trigger, mk.status, mk.job) for mk in again.markers] == [
        ("session_gc", "cut_over", "session_gc")
    ]
    [new] = [j for j in again.jobs if j.source == ALICE]
    assert new.id not in ("session_gc", "warm_cache") and not new.cut_over
    m.generate(plan, app, ledger_url=ledger_url)
    assert shadows(app) == {"session_gc": "False", "warm_cache": "True", new.id: "True"}
    assert manifest(app)["jobs"]["session_gc"]["source"] == WWW
    assert manifest(app)["jobs"][new.id]["source"] == ALICE
    # going back restores A's own line, and the next scan lists it under its id again
    m.rollback(app, ["session_gc"], to_legacy=True, ledger_url=ledger_url)
    assert (root / WWW).read_bytes() == WWW_TAB
    after = rescan(root, plan, app, ledger_url)
    assert after.job("session_gc").source == WWW and not after.job("session_gc").cut_over
    assert {j.id for j in after.jobs} == {"session_gc", "warm_cache", new.id}
    assert not after.markers and not after.risks


def test_without_the_app_the_ids_stay_reserved_and_generate_refuses(
    cut_over: tuple[Path, Path, Path], ledger_url: str, tmp_path: Path
) -> None:
    root, _plan, app = cut_over
    (root / ALICE).write_bytes(b"*/5 * * * * /srv/bin/session_gc.sh\n")
    fresh = scan(root=root)  # no previous plan, no app: only the marker itself is known
    assert "session_gc" not in {j.id for j in fresh.jobs}
    [marker] = fresh.markers
    assert (marker.trigger, marker.status) == ("session_gc", "unverified")
    assert marker.restore == (
        "crontab -u www-data -l | sed 's/^#owlmigrate:session_gc: //' | crontab -u www-data -"
    )
    [risk] = fresh.risks
    assert (risk.code, risk.source, risk.line) == ("marker_unverified", WWW, 2)
    assert risk.restore == marker.restore
    fresh.dump(tmp_path / "fresh.json")
    with pytest.raises(FindingError, match=r"drops jobs that are cut over.*session_gc.*--app"):
        m.generate(tmp_path / "fresh.json", app, ledger_url=ledger_url)
    # a plan that hands session_gc's id to the new job is refused, naming both jobs
    data = json.loads((tmp_path / "fresh.json").read_text())
    for job in data["jobs"]:
        if job["source"] == ALICE:
            job["id"] = "session_gc"
    (tmp_path / "reused.json").write_text(json.dumps(data))
    module = (app / "owlclaw_app.py").read_bytes()
    with pytest.raises(FindingError) as caught:
        m.generate(tmp_path / "reused.json", app, ledger_url=ledger_url)
    text = str(caught.value)
    assert f"trigger 'session_gc' runs {WWW}:2 `/srv/bin/session_gc.sh`" in text
    assert f"gives that id to {ALICE}:1 `/srv/bin/session_gc.sh`" in text
    assert (app / "owlclaw_app.py").read_bytes() == module


def test_regenerating_from_a_rescan_leaves_a_live_trigger_as_it_is(
    cut_over: tuple[Path, Path, Path], ledger_url: str
) -> None:
    root, plan, app = cut_over
    m.step(app, ["session_gc"], to=0.5, force=True, ledger_url=ledger_url)
    module = (app / "owlclaw_app.py").read_bytes()
    again = rescan(root, plan, app, ledger_url)
    assert again.job("session_gc").cut_over
    result = m.generate(plan, app, ledger_url=ledger_url)
    assert result.updated in ([], ["owlmigrate.json"])
    assert (app / "owlclaw_app.py").read_bytes() == module
    weights = read_cron_keywords(module.decode(), "migration_weight")
    assert (shadows(app)["session_gc"], weights["session_gc"]) == ("False", "0.5")
    store = open_store(ledger_url, app_name=app_name_for(app))
    try:
        state = store.get_trigger_state("session_gc", tenant_id="default")
    finally:
        store.close()
    assert (state.shadow, state.migration_weight) == (False, 0.5)


def test_a_moved_line_and_a_reinstalled_file_keep_their_ids(
    cut_over: tuple[Path, Path, Path], ledger_url: str
) -> None:
    root, plan, app = cut_over
    marked = (root / WWW).read_bytes()
    # re-installed by configuration management: another header, warm_cache first
    lines = marked.splitlines(keepends=True)
    reinstalled = b"# managed by puppet\n# do not edit\n" + lines[2] + lines[0] + lines[1]
    (root / WWW).write_bytes(reinstalled)
    again = rescan(root, plan, app, ledger_url)
    assert {j.id: (j.line, j.cut_over) for j in again.jobs} == {
        "warm_cache": (3, False),
        "session_gc": (5, True),
    }
    m.generate(plan, app, ledger_url=ledger_url)
    assert manifest(app)["jobs"]["session_gc"]["line"] == 5
    assert shadows(app) == {"session_gc": "False", "warm_cache": "True"}
    # the moved jobs are still cut over and rolled back by their ids
    assert m.cutover(app, ["warm_cache"], ledger_url=ledger_url).jobs == {"warm_cache": "cut over"}
    m.rollback(app, all_jobs=True, to_legacy=True, ledger_url=ledger_url)
    assert (root / WWW).read_bytes() == reinstalled.replace(b"#owlmigrate:session_gc: ", b"")


def test_comments_shaped_like_markers_stay_comments(
    cut_over: tuple[Path, Path, Path], ledger_url: str
) -> None:
    root, plan, app = cut_over
    forged = (
        b"#owlmigrate:warm_cache: 0 4 * * * /bin/steal\n"  # a trigger of the app, never cut over
        b"#owlmigrate:cfg: PATH=/evil\n"  # would be an assignment without its prefix
        b"#owlmigrate:ghost%2: 0 5 * * * /bin/ghost\n"  # not how cutover quotes a name
    )
    (root / WWW).write_bytes((root / WWW).read_bytes() + forged)
    (root / "etc" / "cron.d").mkdir()
    (root / "etc" / "cron.d" / "web").write_bytes(b"#owlmigrate:session_gc: 1 1 * * * root /x\n")
    again = rescan(root, plan, app, ledger_url)
    assert {j.id for j in again.jobs} == {"session_gc", "warm_cache"}
    assert all("/evil" not in v for j in again.jobs for v in j.env.values())
    assert [(mk.source, mk.line, mk.trigger, mk.status) for mk in again.markers] == [
        (WWW, 2, "session_gc", "cut_over"),
        (WWW, 4, "warm_cache", "not_ours"),
        (WWW, 5, "cfg", "no_trigger"),
        (WWW, 6, "ghost%2", "no_trigger"),
        ("etc/cron.d/web", 1, "session_gc", "not_ours"),  # the trigger lives in another file
    ]
    codes = {(r.trigger, r.code) for r in again.risks}
    assert codes == {
        ("session_gc", "marker_not_ours"),
        ("warm_cache", "marker_not_ours"),
        ("cfg", "marker_without_trigger"),
        ("ghost%2", "marker_without_trigger"),
    }
    not_ours = [r for r in again.risks if r.code == "marker_not_ours"]
    assert all("looks like an owlmigrate marker, not ours" in r.message for r in not_ours)
    m.generate(plan, app, ledger_url=ledger_url)
    module = (app / "owlclaw_app.py").read_text()
    assert "/evil" not in module and "/bin/steal" not in module
    assert shadows(app) == {"session_gc": "False", "warm_cache": "True"}


def test_a_marker_without_trigger_comes_back_with_the_reported_command(
    tmp_path: Path, ledger_url: str
) -> None:
    tab = tmp_path / "jobs.cron"
    original = b"0 1 * * * root /opt/a.sh\n"
    tab.write_bytes(b"#owlmigrate:ghost: " + original)
    plain = scan([str(tab)], file_format="system")
    [risk] = plain.risks
    assert risk.code == "marker_unverified" and plain.jobs == []
    assert risk.restore == f"sed -i 's/^#owlmigrate:ghost: //' {tab}"
    # an app that does not know the trigger: the same command, another code
    app_plan = tmp_path / "p.json"
    other = tmp_path / "other.cron"
    other.write_bytes(b"0 2 * * * root /opt/b.sh\n")
    scan([str(other)], file_format="system").dump(app_plan)
    m.generate(app_plan, tmp_path / "app", ledger_url=ledger_url)
    known = scan([str(tab)], file_format="system", app=tmp_path / "app", ledger_url=ledger_url)
    assert [(r.code, r.restore) for r in known.risks] == [("marker_without_trigger", risk.restore)]
    subprocess.run(["sh", "-c", risk.restore or "false"], check=True)
    assert tab.read_bytes() == original
    assert [j.command for j in scan([str(tab)], file_format="system").jobs] == ["/opt/a.sh"]


def test_a_cut_over_trigger_whose_marker_is_gone_is_reported_with_its_way_back(
    tmp_path: Path, ledger_url: str
) -> None:
    tab = tmp_path / "web.cron"
    original = b"SHELL=/bin/sh\n*/10 * * * * root /srv/bin/session_gc.sh\n0 3 * * * root /w.sh\n"
    tab.write_bytes(original)
    plan = tmp_path / "plan.json"
    scan([str(tab)], file_format="system").dump(plan)
    app = tmp_path / "app"
    m.generate(plan, app, ledger_url=ledger_url)
    m.cutover(app, ["session_gc"], ledger_url=ledger_url)
    # the file is re-installed from a template that no longer has the job
    tab.write_bytes(b"SHELL=/bin/sh\n0 3 * * * root /w.sh\n")
    again = scan([str(tab)], file_format="system", app=app, ledger_url=ledger_url)
    [risk] = again.risks
    assert (risk.code, risk.trigger, risk.line) == ("cut_over_marker_missing", "session_gc", 2)
    assert "the line is gone" in risk.message
    readd, sep, rollback = (risk.restore or "").partition(" && ")
    assert rollback == f"owlmigrate rollback session_gc --to-legacy --app {app.resolve()}" and sep
    again.dump(plan)
    with pytest.raises(FindingError, match=r"drops jobs that are cut over \(.*\): session_gc"):
        m.generate(plan, app, ledger_url=ledger_url)
    # rollback first would pause the trigger that still runs the job: it refuses, and says how
    with pytest.raises(FindingError, match=r"its line is not in the file either"):
        m.rollback(app, ["session_gc"], to_legacy=True, ledger_url=ledger_url)
    # the reported way back: the line from the cutover's backup, then the rollback pauses
    subprocess.run(["sh", "-c", readd], check=True)
    done = m.rollback(app, ["session_gc"], to_legacy=True, ledger_url=ledger_url)
    assert done.jobs["session_gc"]["status"] == "its line was active again; trigger paused"
    assert (
        tab.read_bytes()
        == b"SHELL=/bin/sh\n0 3 * * * root /w.sh\n" + original.split(b"\n")[1] + b"\n"
    )
    back = scan([str(tab)], file_format="system", app=app, ledger_url=ledger_url)
    assert back.job("session_gc").enabled and not back.risks


def test_a_cut_over_line_active_again_runs_twice_and_generate_refuses(
    cut_over: tuple[Path, Path, Path], ledger_url: str
) -> None:
    root, plan, app = cut_over
    (root / WWW).write_bytes(WWW_TAB)  # someone took the marker off by hand
    again = rescan(root, plan, app, ledger_url)
    job = again.job("session_gc")
    assert not job.cut_over and job.has_risk("cut_over_line_active")
    [risk] = again.risks
    assert risk.code == "cut_over_line_active" and "runs twice" in risk.message
    assert risk.restore == (f"owlmigrate rollback session_gc --to-legacy --app {app.resolve()}")
    with pytest.raises(FindingError, match="'session_gc' is cut over and live"):
        m.generate(plan, app, ledger_url=ledger_url)


def test_the_scan_command_takes_the_app(
    cut_over: tuple[Path, Path, Path], ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, plan, app = cut_over
    monkeypatch.setenv("OWLCLAW_LEDGER_URL", ledger_url)
    (root / ALICE).write_bytes(b"*/5 * * * * /srv/bin/session_gc.sh\n")
    runner = CliRunner()
    result = runner.invoke(cli, ["scan", "--root", str(root), "-o", str(plan), "--app", str(app)])
    assert result.exit_code == 0, result.output
    assert "cut over" in result.output and f"{WWW}:2" in result.output
    data = json.loads(
        runner.invoke(cli, ["scan", "--root", str(root), "--app", str(app), "--json"]).output
    )
    [gc] = [j for j in data["jobs"] if j["id"] == "session_gc"]
    assert gc["migration"]["state"] == "cut_over" and gc["migration"]["marker"] == "session_gc"
    assert data["markers"][0]["status"] == "cut_over"
    assert [j.id for j in Plan.load(plan).jobs if j.source == ALICE] != ["session_gc"]
    missing = runner.invoke(cli, ["scan", "--root", str(root), "--app", str(root / "nope")])
    assert missing.exit_code == 2 and "not a generated app" in missing.output


def test_a_cut_over_job_keeps_its_real_line_and_a_continued_busybox_line_is_one_job(
    tmp_path: Path, ledger_url: str
) -> None:
    from owlmigrate.scan import legacy_line

    tab = tmp_path / "root.cron"
    original = b"0 1 * * * /opt/a.sh \\\n --token=s3cr3tvalue99\n5 1 * * * /opt/b.sh\n"
    tab.write_bytes(original)
    plan = tmp_path / "plan.json"
    scan([str(tab)], file_format="user", dialect="busybox").dump(plan)
    [first, _] = Plan.load(plan).jobs
    app = tmp_path / "app"
    m.generate(plan, app, ledger_url=ledger_url)
    m.cutover(app, [first.id], ledger_url=ledger_url)
    assert (tab.read_bytes().count(f"#owlmigrate:{first.id}: ".encode())) == 2
    again = scan([str(tab)], file_format="user", dialect="busybox", app=app, ledger_url=ledger_url)
    job = again.job(first.id)
    assert (job.cut_over, job.line, job.end_line, job.command) == (
        True,
        1,
        2,
        first.command,
    )
    assert "s3cr3t" not in job.command  # the plan stays redacted
    assert legacy_line(again, job).command == "/opt/a.sh  --token=s3cr3tvalue99"
    (tab).write_bytes(tab.read_bytes().replace(b"s3cr3t", b"other!"))
    edited = scan([str(tab)], file_format="user", dialect="busybox", app=app, ledger_url=ledger_url)
    assert first.id not in {j.id for j in edited.jobs}
    assert {r.code for r in edited.risks} == {"marker_not_ours", "cut_over_marker_missing"}


def test_our_marker_on_a_trigger_stamped_back_is_reported_and_a_cut_over_plan_verifies(
    cut_over: tuple[Path, Path, Path], ledger_url: str
) -> None:
    from owlmigrate.verify import verify_app, verify_plan

    root, plan, app = cut_over
    again = rescan(root, plan, app, ledger_url)
    verdicts = {v.job_id: v.status for v in verify_plan(plan, years=1).jobs}
    assert verdicts == {"session_gc": "equivalent", "warm_cache": "equivalent"}
    m.generate(plan, app, ledger_url=ledger_url)
    assert {v.job_id: v.status for v in verify_app(app, years=1).jobs} == verdicts
    m.stamp(app, ["session_gc"], cut_over=False, reason="test", ledger_url=ledger_url)
    again = rescan(root, plan, app, ledger_url)
    assert again.job("session_gc").cut_over  # the line is still disabled by our marker
    [risk] = again.risks
    assert (risk.code, risk.trigger) == ("marker_trigger_not_live", "session_gc")
    assert risk.restore == f"owlmigrate rollback session_gc --to-legacy --app {app.resolve()}"
    m.rollback(app, ["session_gc"], to_legacy=True, ledger_url=ledger_url)
    assert (root / WWW).read_bytes() == WWW_TAB


def test_a_trigger_goes_back_to_the_line_its_verified_marker_disables(
    cut_over: tuple[Path, Path, Path], ledger_url: str
) -> None:
    root, plan, app = cut_over
    # the state the live bug left: the manifest says session_gc runs another job of the file
    data = manifest(app)
    data["jobs"]["session_gc"]["plan_job"]["command"] = "/srv/bin/other.sh"
    (app / "owlmigrate.json").write_text(json.dumps(data))
    rescan(root, plan, app, ledger_url)
    m.generate(plan, app, ledger_url=ledger_url)
    assert manifest(app)["jobs"]["session_gc"]["plan_job"]["command"] == "/srv/bin/session_gc.sh"
    assert shadows(app)["session_gc"] == "False"
