"""The library verbs on real files and a real ledger (SQLite, and PostgreSQL when available)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from owlclaw_runtime.ledger import open_store
from owlclaw_runtime.triggers.models import CronExecution, ExecutionStatus

from owlmigrate import migration as m
from owlmigrate.errors import FindingError, UsageError
from owlmigrate.migration import switch_window
from owlmigrate.migration._base import _write_crontab as write_crontab

# generate names the app after the host tree's directory (make_plan's `host`)
APP_NAME = "host"
ORIGINAL = (
    b"SHELL=/bin/sh\n"
    b'MAILTO=""\n'
    b"30 2 * * * root /usr/local/bin/backup.sh --all % in%put\n"
    b"*/5 * * * * www-data flock -n /tmp/x.lock php /srv/cron.php\n"
    b"@reboot root /bin/true\n"
    b"#0 1 * * * root old\n"
)
USER_TAB = b"# user crontab\n15 * * * * /home/alice/sync.sh\n"
BACKUP, PHP, SYNC = "etc_crontab_3", "etc_crontab_4", "var_spool_cron_crontabs_alice_2"


@pytest.fixture
def app(make_plan: Callable[..., Path], tmp_path: Path, ledger_url: str) -> Path:
    plan = make_plan({"etc/crontab": ORIGINAL, "var/spool/cron/crontabs/alice": USER_TAB})
    m.generate(plan, tmp_path / "app", ledger_url=ledger_url)
    return tmp_path / "app"


def crontab(tmp_path: Path) -> bytes:
    return (tmp_path / "host/etc/crontab").read_bytes()


def module(app: Path) -> str:
    return (app / "owlclaw_app.py").read_text()


def test_generate_writes_the_app_and_reruns_as_a_no_op(
    make_plan: Callable[..., Path], tmp_path: Path, ledger_url: str
) -> None:
    plan = make_plan({"etc/crontab": ORIGINAL})
    first = m.generate(plan, tmp_path / "app", ledger_url=ledger_url)
    assert first.triggers == [BACKUP, PHP]
    assert first.created == [
        "README.md",
        "owlclaw_app.py",
        "owlmigrate.json",
        f"skills/{BACKUP}/SKILL.md",
        f"skills/{PHP}/SKILL.md",
    ]
    assert [n["job_id"] for n in first.not_migrated] == ["etc_crontab_5", "etc_crontab_6"]
    before = {p: p.read_bytes() for p in (tmp_path / "app").rglob("*") if p.is_file()}
    again = m.generate(plan, tmp_path / "app", ledger_url=ledger_url)
    assert again.created == again.updated == again.hand_edited == []
    after = {p: p.read_bytes() for p in (tmp_path / "app").rglob("*") if p.is_file()}
    assert after == before
    rows = m.history(tmp_path / "app", ledger_url=ledger_url)
    assert [(r["job"], r["action"], r["status"]) for r in rows] == [
        (BACKUP, "generate", "done"),
        (PHP, "generate", "done"),
    ]


def test_dry_run_prints_a_diff_and_writes_nothing(
    make_plan: Callable[..., Path], tmp_path: Path, ledger_url: str
) -> None:
    plan = make_plan({"etc/crontab": ORIGINAL})
    result = m.generate(plan, tmp_path / "app", dry_run=True, ledger_url=ledger_url)
    assert "+++ b/owlclaw_app.py" in result.diff
    assert '+    event_name="etc_crontab_3",\n' in result.diff
    assert not (tmp_path / "app" / "owlclaw_app.py").exists()


def test_a_hand_edited_file_is_reported_and_overwritten_only_with_force(
    make_plan: Callable[..., Path], tmp_path: Path, ledger_url: str
) -> None:
    plan = make_plan({"etc/crontab": ORIGINAL})
    m.generate(plan, tmp_path / "app", ledger_url=ledger_url)
    readme = tmp_path / "app" / "README.md"
    readme.write_text(readme.read_text() + "my notes\n")
    with pytest.raises(FindingError, match=r"edited by hand since generate.*README\.md"):
        m.generate(plan, tmp_path / "app", ledger_url=ledger_url)
    assert readme.read_text().endswith("my notes\n")
    forced = m.generate(plan, tmp_path / "app", force=True, ledger_url=ledger_url)
    assert forced.hand_edited == ["README.md"]
    assert not readme.read_text().endswith("my notes\n")
    [backup] = forced.backups
    assert Path(backup).read_text().endswith("my notes\n")


def test_cutover_disables_exactly_the_lines_and_makes_the_triggers_live(
    app: Path, tmp_path: Path, ledger_url: str
) -> None:
    result = m.cutover(app, [BACKUP, PHP], ledger_url=ledger_url)
    assert result.jobs == {BACKUP: "cut over", PHP: "cut over"}
    assert crontab(tmp_path) == ORIGINAL.replace(
        b"30 2", b"#owlmigrate:etc_crontab_3: 30 2"
    ).replace(b"*/5", b"#owlmigrate:etc_crontab_4: */5")
    assert (tmp_path / "host/var/spool/cron/crontabs/alice").read_bytes() == USER_TAB
    assert module(app).count("    shadow=False,\n") == 2
    assert module(app).count("    shadow=True,\n") == 1
    store = open_store(ledger_url, app_name=APP_NAME)
    try:
        assert store.get_trigger_state(BACKUP).shadow is False
        assert store.get_trigger_state(SYNC).shadow is None
        assert [e.action for e in store.events(BACKUP)] == ["cutover"]
    finally:
        store.close()
    [backup] = result.backups
    assert Path(backup).read_bytes() == ORIGINAL
    assert m.cutover(app, [BACKUP], ledger_url=ledger_url).jobs == {BACKUP: "already cut over"}
    # regenerating renders the live state back: still a no-op
    plan = json.loads((app / "owlmigrate.json").read_text())["plan"]
    regen = m.generate(plan, app, ledger_url=ledger_url)
    assert regen.updated == regen.hand_edited == []
    assert m.stages(app, ledger_url=ledger_url)[BACKUP]["stage"] == "cut over"


def test_cutover_dry_run_shows_the_diffs_and_changes_nothing(
    app: Path, tmp_path: Path, ledger_url: str
) -> None:
    result = m.cutover(app, all_jobs=True, dry_run=True, ledger_url=ledger_url)
    assert "-30 2 * * * root /usr/local/bin/backup.sh --all % in%put\n" in result.diff
    assert "+#owlmigrate:etc_crontab_3: 30 2 * * * root" in result.diff
    assert "+    shadow=False,\n" in result.diff
    assert crontab(tmp_path) == ORIGINAL
    assert m.history(app, ledger_url=ledger_url)[-1]["action"] == "generate"


def test_cutover_refuses_a_file_changed_since_the_scan(
    app: Path, tmp_path: Path, ledger_url: str
) -> None:
    path = tmp_path / "host/etc/crontab"
    path.write_bytes(ORIGINAL + b"0 3 * * * root new\n")
    with pytest.raises(FindingError, match="changed since the scan"):
        m.cutover(app, [BACKUP], ledger_url=ledger_url)
    assert path.read_bytes() == ORIGINAL + b"0 3 * * * root new\n"
    assert "shadow=False" not in module(app)


def test_cutover_of_a_second_job_in_the_same_file_accepts_our_own_markers(
    app: Path, tmp_path: Path, ledger_url: str
) -> None:
    m.cutover(app, [PHP], ledger_url=ledger_url)
    m.cutover(app, [BACKUP], ledger_url=ledger_url)
    assert crontab(tmp_path).count(b"#owlmigrate:") == 2


def test_usage_errors(app: Path, ledger_url: str) -> None:
    with pytest.raises(UsageError, match="no trigger 'nope'"):
        m.cutover(app, ["nope"], ledger_url=ledger_url)
    with pytest.raises(UsageError, match="name at least one job"):
        m.cutover(app, ledger_url=ledger_url)
    with pytest.raises(UsageError, match="not both"):
        m.cutover(app, [BACKUP], all_jobs=True, ledger_url=ledger_url)
    with pytest.raises(FindingError, match=r"owlmigrate\.json is missing"):
        m.cutover(app / "nowhere", [BACKUP], ledger_url=ledger_url)


def _record_runs(
    ledger_url: str,
    job: str,
    weight: float,
    mode: str,
    statuses: list[ExecutionStatus],
    day: datetime,
) -> None:
    """Write one finished execution of ``job`` per status, a minute apart from ``day``."""
    store = open_store(ledger_url, app_name=APP_NAME)
    try:
        for index, status in enumerate(statuses):
            at = day.replace(minute=index)
            store.record_execution(
                CronExecution(
                    event_name=job,
                    status=status,
                    scheduled_at=at,
                    triggered_at=at,
                    started_at=at,
                    completed_at=at,
                    duration_seconds=1.0,
                    decision_mode=mode,
                    migration_weight=weight,
                )
            )
    finally:
        store.close()


def _runs(ledger_url: str, job: str, weight: float, ok: int, failed: int = 0) -> None:
    statuses = [ExecutionStatus.FALLBACK] * ok + [ExecutionStatus.FAILED] * failed
    _record_runs(ledger_url, job, weight, "fallback", statuses, datetime(2026, 1, 1, tzinfo=UTC))


def test_step_is_refused_without_cutover_or_evidence_and_forced_steps_are_journaled(
    app: Path, ledger_url: str
) -> None:
    with pytest.raises(FindingError) as refused:
        m.step(app, [BACKUP], to=0.1, ledger_url=ledger_url)
    text = str(refused.value)
    assert "etc_crontab_3: the job is not cut over" in text
    assert "etc_crontab_3: only 0 execution(s) at weight 0; 5 needed" in text
    assert "weight=0.0" in module(app).replace("migration_weight=0.0", "weight=0.0")
    m.cutover(app, [BACKUP], ledger_url=ledger_url)
    _runs(ledger_url, BACKUP, 0.0, ok=3, failed=2)
    with pytest.raises(FindingError) as refused:
        m.step(app, [BACKUP], to=0.1, ledger_url=ledger_url)
    assert "failure rate 40% at weight 0 is not under 20%" in str(refused.value)
    result = m.step(app, [BACKUP], to=0.1, force=True, reason="testing", ledger_url=ledger_url)
    assert result.jobs[BACKUP]["status"] == "stepped"
    assert "failure rate 40% at weight 0 is not under 20%" in result.jobs[BACKUP]["overridden"]
    last = m.history(app, ledger_url=ledger_url)[-1]
    assert (last["action"], last["forced"], last["reason"]) == ("step", True, "testing")
    assert "migration_weight=0.1," in module(app)
    store = open_store(ledger_url, app_name=APP_NAME)
    try:
        assert store.get_trigger_state(BACKUP).migration_weight == 0.1
    finally:
        store.close()


def test_step_bounds_and_stepping_down(app: Path, ledger_url: str) -> None:
    m.cutover(app, [BACKUP], ledger_url=ledger_url)
    with pytest.raises(FindingError, match="outside"):
        m.step(app, [BACKUP], to=1.5, force=True, ledger_url=ledger_url)
    m.step(app, [BACKUP], to=0.5, force=True, ledger_url=ledger_url)
    down = m.step(app, [BACKUP], by=-0.25, ledger_url=ledger_url)  # down needs no evidence
    assert down.jobs[BACKUP]["to"] == 0.25
    same = m.step(app, [BACKUP], to=0.25, ledger_url=ledger_url)
    assert same.jobs[BACKUP]["status"] == "unchanged"


def test_soft_rollback_walks_back_the_steps_to_the_original_bytes(
    app: Path, ledger_url: str
) -> None:
    m.cutover(app, [BACKUP], ledger_url=ledger_url)
    live = module(app)
    for weight in (0.1, 0.5, 1.0):
        m.step(app, [BACKUP], to=weight, force=True, ledger_url=ledger_url)
    targets = [
        m.rollback(app, [BACKUP], ledger_url=ledger_url).jobs[BACKUP]["to"] for _ in range(4)
    ]
    assert targets == [0.5, 0.1, 0.0, 0.0]
    assert module(app) == live


def test_rollback_to_legacy_restores_the_crontab_byte_for_byte(
    app: Path, tmp_path: Path, ledger_url: str
) -> None:
    generated = module(app)
    m.cutover(app, all_jobs=True, ledger_url=ledger_url)
    m.step(app, [BACKUP], to=0.5, force=True, ledger_url=ledger_url)
    result = m.rollback(app, all_jobs=True, to_legacy=True, ledger_url=ledger_url)
    assert {j: r["status"] for j, r in result.jobs.items()} == {
        BACKUP: "restored to legacy",
        PHP: "restored to legacy",
        SYNC: "restored to legacy",
    }
    assert crontab(tmp_path) == ORIGINAL
    assert (tmp_path / "host/var/spool/cron/crontabs/alice").read_bytes() == USER_TAB
    assert module(app) == generated
    store = open_store(ledger_url, app_name=APP_NAME)
    try:
        state = store.get_trigger_state(BACKUP)
        assert (state.paused, state.shadow, state.migration_weight) == (True, True, 0.0)
    finally:
        store.close()
    again = m.rollback(app, all_jobs=True, to_legacy=True, ledger_url=ledger_url)
    assert {r["status"] for r in again.jobs.values()} == {"already legacy"}
    assert m.stages(app, ledger_url=ledger_url)[BACKUP]["stage"] == "legacy"
    # and the way forward again
    assert m.cutover(app, [BACKUP], ledger_url=ledger_url).jobs == {BACKUP: "cut over"}


def test_rollback_to_legacy_keeps_lines_added_since_and_restores_a_deleted_file(
    app: Path, tmp_path: Path, ledger_url: str
) -> None:
    m.cutover(app, all_jobs=True, ledger_url=ledger_url)
    path = tmp_path / "host/etc/crontab"
    path.write_bytes(path.read_bytes() + b"0 4 * * * root added-later\n")
    m.rollback(app, [BACKUP, PHP], to_legacy=True, ledger_url=ledger_url)
    assert path.read_bytes() == ORIGINAL + b"0 4 * * * root added-later\n"
    spool = tmp_path / "host/var/spool/cron/crontabs/alice"
    spool.unlink()
    m.rollback(app, [SYNC], to_legacy=True, ledger_url=ledger_url)
    assert spool.read_bytes() == USER_TAB


def test_a_live_user_spool_goes_through_the_crontab_command(
    app: Path, tmp_path: Path, ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = json.loads((app / "owlmigrate.json").read_text())
    spool = tmp_path / "host/var/spool/cron/crontabs/alice"
    manifest["root"] = None
    manifest["jobs"][SYNC]["source"] = str(spool).lstrip("/")
    (app / "owlmigrate.json").write_text(json.dumps(manifest))
    # cannot point at the real /var/spool here: the path must match the spool pattern relative
    # to "/", so give the fake crontab(1) the real target through the environment
    fake = tmp_path / "crontab"
    log = tmp_path / "crontab.log"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {log}\ncp "$3" {spool}\n')
    fake.chmod(0o755)
    monkeypatch.setenv("OWLMIGRATE_CRONTAB_CMD", str(fake))
    app_dir = m.AppDir.load(app)
    assert not app_dir.is_live_spool(SYNC)  # tmp path is not under var/spool/cron at the root
    app_dir.manifest["jobs"][SYNC]["source"] = "var/spool/cron/crontabs/alice"
    assert app_dir.is_live_spool(SYNC)
    header = (
        b"# DO NOT EDIT THIS FILE - edit the master and reinstall.\n"
        b"# (/tmp/crontab.x installed on Sat Nov 28 01:00:00 2026)\n"
        b"# (Cron version -- $Id: crontab.c,v 2.13 1994/01/17 03:20:37 vixie Exp $)\n"
    )
    write_crontab(app_dir, SYNC, spool, header + b"new\n")
    assert spool.read_bytes() == b"new\n"  # crontab(1) writes its own header
    assert log.read_text().split()[:2] == ["-u", "alice"]


def test_switch_window_waits_for_the_middle_of_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OWLMIGRATE_SWITCH_WINDOW")
    slept: list[float] = []
    assert switch_window(clock=lambda: 60_000 + 20.0, sleep=slept.append) == 0.0
    assert switch_window(clock=lambda: 60_000 + 58.0, sleep=slept.append) == 7.0
    assert switch_window(clock=lambda: 60_000 + 1.5, sleep=slept.append) == 3.5
    assert slept == [7.0, 3.5]


def _runs_of(ledger_url: str, job: str, weight: float, mode: str, n: int) -> None:
    status = ExecutionStatus.SUCCESS if mode == "agent" else ExecutionStatus.FALLBACK
    _record_runs(ledger_url, job, weight, mode, [status] * n, datetime(2026, 2, 1, tzinfo=UTC))


def test_step_is_allowed_on_evidence_with_an_agent_configured(
    app: Path, tmp_path: Path, ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent_dir = tmp_path / "agents"
    agent_dir.mkdir()
    (agent_dir / "wf_test_agent.py").write_text(
        "class Agent:\n"
        "    async def trigger_event(self, event_name, *, focus=None, payload=None,"
        " tenant_id='default'):\n"
        "        return {'run_id': 'r', 'status': 'completed'}\n"
    )
    monkeypatch.syspath_prepend(str(agent_dir))
    source = module(app).replace(
        '= OwlClawApp("host")', '= OwlClawApp("host", agent="wf_test_agent:Agent")'
    )
    assert 'agent="wf_test_agent:Agent"' in source
    (app / "owlclaw_app.py").write_text(source)
    m.cutover(app, [BACKUP], ledger_url=ledger_url)
    _runs_of(ledger_url, BACKUP, 0.0, "fallback", 5)
    first = m.step(app, [BACKUP], to=0.1, ledger_url=ledger_url)
    assert first.jobs[BACKUP]["status"] == "stepped"
    assert first.jobs[BACKUP]["overridden"] == []
    assert first.jobs[BACKUP]["evidence"] == {"executions": 5, "failures": 0, "breaker": "closed"}
    with pytest.raises(FindingError, match="only 0 execution"):
        m.step(app, [BACKUP], to=0.5, ledger_url=ledger_url)
    _runs_of(ledger_url, BACKUP, 0.1, "agent", 5)
    assert m.step(app, [BACKUP], to=0.5, ledger_url=ledger_url).jobs[BACKUP]["to"] == 0.5
    assert not [r for r in m.history(app, ledger_url=ledger_url) if r["forced"]]
    # the agent= added by hand is the one edit regenerating keeps: not reported, not lost
    plan = json.loads((app / "owlmigrate.json").read_text())["plan"]
    again = m.generate(plan, app, ledger_url=ledger_url)
    assert again.hand_edited == [] and again.updated == []
    assert 'OwlClawApp("host", agent="wf_test_agent:Agent")' in module(app)


def test_one_mutating_command_at_a_time(app: Path, ledger_url: str) -> None:
    store = open_store(ledger_url, app_name=APP_NAME)
    try:
        with store.leader_lock(f"owlmigrate-migration:{store.app_name}") as held:
            assert held
            with pytest.raises(FindingError, match="another owlmigrate command"):
                m.cutover(app, [BACKUP], ledger_url=ledger_url)
    finally:
        store.close()
    assert m.cutover(app, [BACKUP], ledger_url=ledger_url).jobs == {BACKUP: "cut over"}


def test_rollback_to_legacy_of_live_jobs_waits_for_the_switch_window(
    app: Path, ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    rollback_module = importlib.import_module("owlmigrate.migration.rollback")

    calls: list[str] = []
    monkeypatch.setattr(rollback_module, "switch_window", lambda: calls.append("wait") or 3.0)
    m.rollback(app, [PHP], to_legacy=True, ledger_url=ledger_url)  # never cut over: no wait
    assert calls == []
    m.cutover(app, [BACKUP], ledger_url=ledger_url)
    result = m.rollback(app, [BACKUP], to_legacy=True, ledger_url=ledger_url)
    assert (calls, result.waited_seconds) == (["wait"], 3.0)


def test_a_symlinked_crontab_stays_a_symlink(app: Path, tmp_path: Path, ledger_url: str) -> None:
    path = tmp_path / "host/etc/crontab"
    real = tmp_path / "host/etc/crontab.real"
    path.rename(real)
    path.symlink_to(real.name)
    m.cutover(app, [BACKUP], ledger_url=ledger_url)
    assert path.is_symlink()
    assert b"#owlmigrate:etc_crontab_3: " in real.read_bytes()
    m.rollback(app, [BACKUP], to_legacy=True, ledger_url=ledger_url)
    assert path.is_symlink() and real.read_bytes() == ORIGINAL


def test_a_job_dropped_from_the_plan_loses_its_trigger_and_the_journal_says_so(
    make_plan: Callable[..., Path], tmp_path: Path, ledger_url: str
) -> None:
    plan = make_plan({"etc/crontab": ORIGINAL})
    m.generate(plan, tmp_path / "app", ledger_url=ledger_url)
    smaller = make_plan(
        {"etc/crontab": ORIGINAL.replace(b"*/5 * * * * www-data", b"#*/5 * * * * www-data")}
    )
    result = m.generate(smaller, tmp_path / "app", ledger_url=ledger_url)
    assert result.triggers == [BACKUP]
    assert result.removed == [f"skills/{PHP}/SKILL.md"]
    assert not (tmp_path / "app" / "skills" / PHP).joinpath("SKILL.md").exists()
    last = m.history(tmp_path / "app", ledger_url=ledger_url)[-1]
    assert (last["job"], last["action"], last["to_state"]["removed"]) == (PHP, "generate", True)
    assert m.stages(tmp_path / "app", ledger_url=ledger_url).keys() == {BACKUP}


def test_an_unwritable_crontab_is_a_finding_and_leaves_nothing_pending(
    app: Path, tmp_path: Path, ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    crontabs = importlib.import_module("owlmigrate.migration.crontabs")

    def refuse(path: object, data: bytes, **_: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(crontabs, "atomic_write", refuse)
    with pytest.raises(FindingError, match="cannot write: Permission denied"):
        m.cutover(app, [BACKUP], ledger_url=ledger_url)
    rows = m.history(app, ledger_url=ledger_url)
    assert [(r["action"], r["status"]) for r in rows if r["job"] == BACKUP] == [
        ("generate", "done"),
        ("cutover", "undone"),
    ]
    assert crontab(tmp_path) == ORIGINAL
    monkeypatch.undo()
    assert m.cutover(app, [BACKUP], ledger_url=ledger_url).jobs == {BACKUP: "cut over"}


def test_generate_into_an_unwritable_place_is_a_finding(
    make_plan: Callable[..., Path], tmp_path: Path, ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    writer = importlib.import_module("owlmigrate.codegen.writer")

    def refuse(path: object, data: bytes, **_: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(writer, "atomic_write", refuse)
    plan = make_plan({"etc/crontab": ORIGINAL})
    with pytest.raises(FindingError, match="cannot write: Permission denied"):
        m.generate(plan, tmp_path / "app", ledger_url=ledger_url)
    assert {r["status"] for r in m_history_rows(ledger_url)} == {"undone"}


def m_history_rows(ledger_url: str) -> list[dict]:
    store = open_store(ledger_url, app_name=APP_NAME)
    try:
        return [{"status": e.status} for e in store.journal()]
    finally:
        store.close()


def test_a_plan_whose_host_tree_is_gone_leaves_its_jobs_in_place(
    make_plan: Callable[..., Path], tmp_path: Path, ledger_url: str
) -> None:
    plan = make_plan({"etc/crontab": ORIGINAL})
    (tmp_path / "host" / "etc" / "crontab").unlink()
    result = m.generate(plan, tmp_path / "app", ledger_url=ledger_url)
    assert result.triggers == []
    reasons = {n["job_id"]: n["reason"] for n in result.not_migrated}
    assert reasons[BACKUP].startswith("its source etc/crontab cannot be read")


def test_cutover_of_a_line_already_marked_but_stamped_back_is_idempotent(
    app: Path, tmp_path: Path, ledger_url: str
) -> None:
    m.cutover(app, [BACKUP], ledger_url=ledger_url)
    marked = crontab(tmp_path)
    m.stamp(app, [BACKUP], cut_over=False, reason="test", ledger_url=ledger_url)
    assert m.stages(app, ledger_url=ledger_url)[BACKUP]["stage"] == "generated"
    assert m.cutover(app, [BACKUP], ledger_url=ledger_url).jobs == {BACKUP: "cut over"}
    assert crontab(tmp_path) == marked


def test_a_plan_dropping_a_cut_over_job_is_refused_until_rolled_back_or_stamped(
    make_plan: Callable[..., Path], tmp_path: Path, ledger_url: str
) -> None:
    plan = make_plan({"etc/crontab": ORIGINAL})
    m.generate(plan, tmp_path / "app", ledger_url=ledger_url)
    m.cutover(tmp_path / "app", [BACKUP], ledger_url=ledger_url)
    # the operator deletes the job (marker and all) and rescans
    without = ORIGINAL.replace(b"30 2 * * * root /usr/local/bin/backup.sh --all % in%put\n", b"\n")
    smaller = make_plan({"etc/crontab": without})
    with pytest.raises(FindingError, match=r"drops jobs that are cut over.*etc_crontab_3.*stamp"):
        m.generate(smaller, tmp_path / "app", ledger_url=ledger_url)
    m.stamp(tmp_path / "app", [BACKUP], cut_over=False, reason="deleted", ledger_url=ledger_url)
    assert BACKUP not in m.generate(smaller, tmp_path / "app", ledger_url=ledger_url).triggers
