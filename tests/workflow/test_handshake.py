"""The cutover handshake (``refusals``), the status views of workers and pending switches, and
the worker's Settler, over a generated app and a real ledger (SQLite file or PostgreSQL)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from owlclaw_runtime.ledger import JournalEntry, LedgerStore, WorkerHeartbeat, open_store
from owlclaw_runtime.loader import module_fingerprint

from owlmigrate import migration as m
from owlmigrate.journal import replay, state_of
from owlmigrate.migration import AppDir
from owlmigrate.migration._base import migration_lock
from owlmigrate.migration.handshake import (
    SETTLED_ACTION,
    Settler,
    pending_notes,
    refusals,
    workers,
)
from owlmigrate.migration.ledger_identity import app_name_for
from owlmigrate.rewrite import is_disabled, read_cron_keyword, set_cron_keyword

CRONTAB = b"30 2 * * * root /usr/local/bin/backup.sh\n*/5 * * * * www-data php /srv/cron.php\n"
JOBS = ["etc_crontab_1", "etc_crontab_2"]
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def world(
    make_plan: Callable[..., Path], tmp_path: Path, ledger_url: str
) -> Iterator[tuple[AppDir, LedgerStore]]:
    plan = make_plan({"etc/crontab": CRONTAB})
    m.generate(plan, tmp_path / "app", ledger_url=ledger_url)
    store = open_store(ledger_url, app_name=app_name_for(tmp_path / "app"))
    try:
        yield AppDir.load(tmp_path / "app"), store
    finally:
        store.close()


def beat(app: AppDir, worker_id: str = "w1", **changes: object) -> WorkerHeartbeat:
    """The heartbeat a worker that loaded the module on disk now would write."""
    data = app.module_path.read_bytes()
    values: dict[str, object] = {
        "worker_id": worker_id,
        "app_name": "testhost",
        "host": "web-1",
        "pid": 101,
        "backend": "local",
        "started_at": NOW - timedelta(minutes=5),
        "last_seen": NOW - timedelta(seconds=2),
        "module_path": str(app.module_path.resolve()),
        "module_sha256": hashlib.sha256(data).hexdigest(),
        "module_fingerprint": module_fingerprint(data),
        "triggers": tuple(JOBS),
        "interval_seconds": 5.0,
    }
    values.update(changes)
    return WorkerHeartbeat(**values)  # type: ignore[arg-type]


def test_no_worker_refuses_every_trigger_saying_how_to_start_one(
    world: tuple[AppDir, LedgerStore],
) -> None:
    app, store = world
    got = refusals(app, store, JOBS, now=NOW)
    assert set(got) == set(JOBS)
    assert got[JOBS[0]].startswith("no worker is running for this app: start one with ")
    assert f"`owlmigrate run --app {app.path}`" in got[JOBS[0]]


def test_a_dead_worker_does_not_count_and_is_named(world: tuple[AppDir, LedgerStore]) -> None:
    app, store = world
    store.record_heartbeat(beat(app, last_seen=NOW - timedelta(seconds=21)))  # > 3 * 5 + 5
    got = refusals(app, store, JOBS[:1], now=NOW)
    assert "was last seen 21s ago and is presumed dead" in got[JOBS[0]]
    assert "worker w1 on web-1 (pid 101, local)" in got[JOBS[0]]
    # a wider max age accepts it
    assert refusals(app, store, JOBS, now=NOW, max_age_seconds=60) == {}


def test_a_live_worker_on_the_module_on_disk_lets_every_trigger_go(
    world: tuple[AppDir, LedgerStore],
) -> None:
    app, store = world
    store.record_heartbeat(beat(app))
    assert refusals(app, store, JOBS, now=NOW) == {}
    # another tenant's or another app's worker is not this app's
    assert refusals(app, store, JOBS, now=NOW, tenant_id="acme") != {}
    other = beat(app, "w2", app_name="elsewhere", module_path="/srv/other/owlclaw_app.py")
    store.remove_heartbeat("w1")
    store.record_heartbeat(other)
    assert set(refusals(app, store, JOBS, now=NOW)) == set(JOBS)


def test_cutover_and_step_edits_keep_the_worker_current_a_regenerate_does_not(
    world: tuple[AppDir, LedgerStore],
) -> None:
    app, store = world
    store.record_heartbeat(beat(app))
    source = app.read_module()
    # what cutover writes into the module: still the module the worker serves
    live = set_cron_keyword(source, JOBS[0], "shadow", "False", path="m").source
    app.module_path.write_text(live)
    assert refusals(app, store, JOBS, now=NOW) == {}
    # a regenerate that changed a schedule: the worker must be restarted first
    app.module_path.write_text(live.replace('"30 2 * * *"', '"45 2 * * *"'))
    got = refusals(app, store, JOBS, now=NOW)
    assert set(got) == set(JOBS)
    assert "serves an older owlclaw_app.py than the one on disk" in got[JOBS[1]]
    assert "restart it (`owlmigrate run --app" in got[JOBS[1]]
    assert workers("testhost", app.module_path, store, now=NOW)[0]["module"] == "stale"


def test_a_trigger_the_worker_does_not_serve_is_refused(world: tuple[AppDir, LedgerStore]) -> None:
    app, store = world
    store.record_heartbeat(beat(app, triggers=(JOBS[0],)))
    got = refusals(app, store, [*JOBS, JOBS[1]], now=NOW)
    assert list(got) == [JOBS[1]]
    assert f"does not serve trigger {JOBS[1]!r}" in got[JOBS[1]]
    # one live worker serving it is enough
    store.record_heartbeat(beat(app, "w2", host="web-2"))
    assert refusals(app, store, JOBS, now=NOW) == {}
    # but every live worker must run the module on disk
    store.record_heartbeat(beat(app, "w3", module_fingerprint="0" * 64))
    assert set(refusals(app, store, JOBS, now=NOW)) == set(JOBS)


def test_workers_view_for_status(world: tuple[AppDir, LedgerStore]) -> None:
    app, store = world
    store.record_heartbeat(beat(app, details={"settled": [{"at": "x", "note": "n"}]}))
    store.record_heartbeat(
        beat(app, "w2", started_at=NOW, last_seen=NOW - timedelta(seconds=40), pid=7)
    )
    alive, dead = workers("testhost", app.module_path, store, now=NOW)
    assert (alive["worker_id"], alive["alive"], alive["module"]) == ("w1", True, "fresh")
    assert alive["age_seconds"] == 2.0 and alive["triggers"] == JOBS
    assert alive["settled"] == [{"at": "x", "note": "n"}]
    assert (dead["pid"], dead["alive"], dead["age_seconds"]) == (7, False, 40.0)
    assert alive["last_seen"] == "2026-03-01T11:59:58Z"


def _pending_cutover(store: LedgerStore, job: str) -> int:
    return store.journal_append(
        JournalEntry(
            job=job,
            action="cutover",
            at=NOW,
            user="ops",
            from_state={"shadow_literal": "True", "paused": False},
            to_state={},
            status="pending",
        )
    )


def test_the_settler_completes_a_cutover_killed_after_its_crontab_write(
    world: tuple[AppDir, LedgerStore],
) -> None:
    """The state ``cutover.crontab_written`` leaves: line disabled, module and ledger in shadow,
    a pending row. The worker's hook finishes the switch like the next command would."""
    app, store = world
    settler = Settler(app.path, store, actor="worker:test")
    assert settler() == []  # nothing pending: nothing done
    job = JOBS[0]
    m.cutover(app.path, [job], ledger_url=_url(store))
    # put the job back in the crashed state by hand: module and ledger in shadow again, the
    # row pending, the line still disabled
    app.module_path.write_text(
        set_cron_keyword(app.read_module(), job, "shadow", "True", path="m").source
    )
    state = store.get_trigger_state(job)
    store.save_trigger_state(dataclasses.replace(state, shadow=True))
    row = _pending_cutover(store, job)
    assert pending_notes(store) == [
        f"cutover of {job} interrupted (journal row {row}); the running worker or the next "
        "owlmigrate command will settle it"
    ]
    notes = settler()
    assert notes == [f"completed interrupted cutover of {job} (journal row {row})"]
    assert store.journal_pending() == []
    assert store.get_trigger_state(job).shadow is False
    assert read_cron_keyword(AppDir.load(app.path).read_module(), job, "shadow") == "False"
    assert is_disabled(app.crontab_path(job).read_bytes(), job)
    assert state_of(replay(store.journal()), job).cut_over
    (event,) = [e for e in store.events(job) if e.action == SETTLED_ACTION]
    assert event.actor == "worker:test"
    assert event.details == {"journal_row": row, "interrupted": "cutover", "status": "done"}
    assert settler() == []  # settled once


def test_the_settler_undoes_a_cutover_killed_before_its_crontab_write(
    world: tuple[AppDir, LedgerStore],
) -> None:
    app, store = world
    job = JOBS[1]
    row = _pending_cutover(store, job)
    assert Settler(app.path, store)() == [f"undid interrupted cutover of {job} (journal row {row})"]
    assert store.get_trigger_state(job).shadow is True
    assert not is_disabled(app.crontab_path(job).read_bytes(), job)


def test_the_settler_leaves_a_running_command_alone(world: tuple[AppDir, LedgerStore]) -> None:
    app, store = world
    _pending_cutover(store, JOBS[0])
    other = open_store(_url(store), app_name=store.app_name)  # the live command's own lock
    try:
        with migration_lock(other) as held:
            assert held
            assert Settler(app.path, store)() == []
            assert len(store.journal_pending()) == 1
    finally:
        other.close()
    assert len(Settler(app.path, store)()) == 1  # once the command is gone


def _url(store: LedgerStore) -> str:
    return store.url.render_as_string(hide_password=False)  # type: ignore[attr-defined]


def test_status_text_lists_workers_and_pending_switches(world: tuple[AppDir, LedgerStore]) -> None:
    from owlmigrate.commands.status import render_text

    app, store = world
    store.record_heartbeat(beat(app))
    store.record_heartbeat(beat(app, "w2", pid=7, last_seen=NOW - timedelta(seconds=90)))
    _pending_cutover(store, JOBS[0])
    data = {
        "triggers": [],
        "workers": workers("testhost", app.module_path, store, now=NOW),
        "pending": pending_notes(store),
    }
    lines = render_text(data).splitlines()
    assert lines[1:] == [
        "workers:",
        "  web-1 pid 101 (local): seen 2s ago, module fresh; serves 2 trigger(s): "
        + ", ".join(JOBS),
        "  web-1 pid 7 (local): last seen 90s ago, presumed dead; serves 2 trigger(s): "
        + ", ".join(JOBS),
        f"pending: cutover of {JOBS[0]} interrupted (journal row 3); the running worker or the "
        "next owlmigrate command will settle it",
    ]
    store.remove_heartbeat("w1")
    data["workers"] = workers("testhost", app.module_path, store, now=NOW)
    assert "workers: none running (start one: owlmigrate run --app DIR)" in render_text(data)


# ---------------------------------------------------------------------------------------------
# cutover obeys the handshake


def test_cutover_without_a_worker_is_refused_and_changes_nothing(
    world: tuple[AppDir, LedgerStore], ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from owlmigrate.errors import FindingError

    app, store = world
    monkeypatch.delenv("OWLMIGRATE_WORKER_CHECK")
    crontab = app.crontab_path(JOBS[0])
    before = (crontab.read_bytes(), app.read_module())
    with pytest.raises(FindingError, match=r"no running worker would fire.*--force"):
        m.cutover(app.path, [JOBS[0]], ledger_url=ledger_url)
    assert (crontab.read_bytes(), app.read_module()) == before
    assert [e.action for e in store.journal(JOBS[0])] == ["generate"]
    # a live worker on the current module lets it through (its heartbeat is "now")
    store.record_heartbeat(beat(app, last_seen=datetime.now(UTC)))
    assert m.cutover(app.path, [JOBS[0]], ledger_url=ledger_url).jobs == {JOBS[0]: "cut over"}


def test_a_forced_cutover_says_what_it_risks_and_is_journaled_as_forced(
    world: tuple[AppDir, LedgerStore], ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, store = world
    monkeypatch.delenv("OWLMIGRATE_WORKER_CHECK")
    result = m.cutover(app.path, [JOBS[1]], ledger_url=ledger_url, force=True)
    assert result.jobs == {JOBS[1]: "cut over"}
    assert any("their runs are lost" in w for w in result.warnings)
    assert [(e.action, e.forced) for e in store.journal(JOBS[1])] == [
        ("generate", False),
        ("cutover", True),
    ]
