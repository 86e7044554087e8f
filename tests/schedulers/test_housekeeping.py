"""The worker's housekeeping: module fingerprints, heartbeats written, refreshed and removed by a
real ``serve_app`` run, a stale module seen by the heartbeat and ``/healthz``, hooks run before
firing, and rounds kept out of the quiet window around instants."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from owlclaw_runtime.ledger import TriggerState, open_store
from owlclaw_runtime.loader import load_app, loaded_module, module_fingerprint
from owlclaw_runtime.observability.health import DEGRADED, HEALTHY, check_health
from owlclaw_runtime.schedulers.housekeeping import Housekeeper
from owlclaw_runtime.schedulers.runner import serve_app

MODULE = '''
from owlclaw_runtime import OwlClawApp

app = OwlClawApp("hk-test")


@app.cron("0 3 * * *", event_name="nightly", migration_weight={weight}, shadow={shadow})
def nightly(context):
    """Nightly job."""
    return {command!r}
'''


def module_source(weight: str = "0.0", shadow: str = "True", command: str = "backup") -> str:
    return MODULE.format(weight=weight, shadow=shadow, command=command)


@pytest.fixture
def app_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OWLCLAW_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    path = tmp_path / "owlclaw_app.py"
    path.write_text(module_source())
    return path


# -- fingerprints ------------------------------------------------------------------------------


@given(
    weight=st.sampled_from(["0.0", "0.1", "0.5", "1.0", "1"]),
    shadow=st.sampled_from(["True", "False"]),
    comment=st.text(alphabet="abc xyz", max_size=20),
)
def test_shadow_weight_comments_and_layout_leave_the_fingerprint_alone(
    weight: str, shadow: str, comment: str
) -> None:
    base = module_fingerprint(module_source().encode())
    edited = module_source(weight, shadow).replace("\n\n\n@app", f"\n# {comment}\n\n@app")
    assert module_fingerprint(edited.encode()) == base


@pytest.mark.parametrize(
    "edit",
    [
        lambda s: s.replace('"0 3 * * *"', '"0 4 * * *"'),  # another schedule
        lambda s: s.replace("'backup'", "'restore'"),  # another job
        lambda s: s + '\n\n@app.cron("* * * * *", event_name="added")\ndef added(c):\n    pass\n',
        lambda s: s + "\ndef broken(:\n",  # does not parse
    ],
)
def test_what_a_worker_serves_changes_the_fingerprint(edit: Any) -> None:
    source = module_source()
    assert module_fingerprint(edit(source).encode()) != module_fingerprint(source.encode())


def test_load_app_records_the_bytes_it_ran(app_file: Path) -> None:
    app = load_app(app_file)
    module = loaded_module(app)
    assert module is not None and module.path == app_file.resolve()
    assert module.sha256 == hashlib.sha256(app_file.read_bytes()).hexdigest()
    assert module.fingerprint == module_fingerprint(app_file.read_bytes())
    assert loaded_module(object()) is None


# -- a real serve_app run ----------------------------------------------------------------------


async def _serve(app: Any, body: Any, **options: Any) -> Any:
    """Run serve_app on the local backend while ``body(app)`` runs, then stop it."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve_app(app, "local", stop=stop, **options))
    try:
        await _until(lambda: app.backend is not None and app.ledger.heartbeats())
        result = await body(app)
    finally:
        stop.set()
        summary = await task
    return result, summary


async def _until(condition: Any, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await asyncio.to_thread(condition):
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.05)


def test_serve_app_writes_refreshes_and_removes_its_heartbeat(app_file: Path) -> None:
    app = load_app(app_file)
    seen: list[Any] = []

    async def body(app: Any) -> None:
        (first,) = app.ledger.heartbeats()
        seen.append(first)
        await _until(lambda: app.ledger.heartbeats()[0].last_seen > first.last_seen)
        seen.append(app.ledger.heartbeats()[0])

    try:
        _, summary = asyncio.run(_serve(app, body, heartbeat_seconds=0.2))
        first, later = seen
        module = loaded_module(app)
        assert module is not None
        assert (first.app_name, first.host, first.pid) == (
            "hk-test",
            socket.gethostname(),
            os.getpid(),
        )
        assert (first.backend, first.tenant_id, first.triggers) == (
            "local",
            "default",
            ("nightly",),
        )
        assert first.module_path == str(module.path)
        assert first.module_sha256 == module.sha256
        assert first.module_fingerprint == module.fingerprint
        assert first.stale_module is False and first.interval_seconds == 0.2
        assert first.worker_id == summary.worker["worker_id"] == later.worker_id
        assert later.started_at == first.started_at
        assert app.ledger.heartbeats() == []  # a graceful stop deletes it
    finally:
        app.close()


def test_a_regenerated_module_is_flagged_stale_but_a_cutover_edit_is_not(app_file: Path) -> None:
    app = load_app(app_file)

    async def body(app: Any) -> list[Any]:
        loop = asyncio.get_running_loop()
        reports = [await asyncio.to_thread(check_health, app, loop=loop)]
        # what cutover and step write: the served triggers stay what the module says
        app_file.write_text(module_source(weight="0.5", shadow="False"))
        await asyncio.sleep(0.5)
        assert app.ledger.heartbeats()[0].stale_module is False
        reports.append(await asyncio.to_thread(check_health, app, loop=loop))
        # a regenerate: another schedule
        app_file.write_text(module_source().replace("0 3 * * *", "0 4 * * *"))
        await _until(lambda: app.ledger.heartbeats()[0].stale_module)
        reports.append(await asyncio.to_thread(check_health, app, loop=loop))
        beat = app.ledger.heartbeats()[0]
        assert "restart the worker" in beat.details["stale_reason"]
        # it keeps serving exactly what it loaded
        assert app.cron_registry.get_trigger("nightly").expression == "0 3 * * *"
        return reports

    try:
        (fresh, cut, stale), summary = asyncio.run(_serve(app, body, heartbeat_seconds=0.1))
        assert fresh["status"] == cut["status"] == HEALTHY, (fresh, cut)
        assert fresh["checks"]["module"]["ok"] is True
        assert stale["status"] == DEGRADED
        assert stale["reasons"] == [
            "owlclaw_app.py changed on disk since this worker loaded it: "
            "restart the worker to serve the new triggers"
        ]
        assert stale["checks"]["module"]["stale"] is True
        assert stale["ready"] is True  # degraded, still serving
        assert summary.worker["stale_module"] is True
    finally:
        app.close()


def test_hooks_run_before_firing_and_a_repair_reaches_the_next_run(app_file: Path) -> None:
    """A hook that flips the trigger live in the ledger (as settling a cutover does): the run
    after it is not skipped in shadow, although the worker had cached the shadow state."""
    app = load_app(app_file)
    calls: list[str] = []
    repair: dict[str, Any] = {"due": False, "at": None}

    def hook() -> list[str]:
        calls.append("hook")
        if not repair["due"]:
            return []
        repair["due"], repair["at"] = False, len(calls)
        last = app.ledger.get_trigger_state("nightly").last_fired_at
        app.ledger.save_trigger_state(TriggerState("nightly", shadow=False, last_fired_at=last))
        return ["completed interrupted cutover of nightly"]

    async def body(app: Any) -> list[str]:
        at = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
        skipped = await app.dispatch("nightly", scheduled_at=at)
        repair["due"] = True
        # the round after the repair has begun: the repair's round (and its cache refresh) ended
        await _until(lambda: repair["at"] is not None and len(calls) > repair["at"])
        ran = await app.dispatch("nightly", scheduled_at=at + timedelta(days=1))
        return [str(skipped[0].status), str(ran[0].status), skipped[0].skip_reason or ""]

    try:
        (first, second, reason), summary = asyncio.run(
            _serve(app, body, heartbeat_seconds=0.1, housekeeping=[hook])
        )
        assert calls[0] == "hook"  # before the backend started
        assert (first, reason) == ("skipped", "shadow")
        assert second == "fallback"  # the job ran (its fallback is the legacy job)
        assert [s["note"] for s in summary.worker["settled"]] == [
            "completed interrupted cutover of nightly"
        ]
    finally:
        app.close()


def test_a_failing_hook_or_ledger_never_stops_the_worker(app_file: Path) -> None:
    app = load_app(app_file)

    def hook() -> list[str]:
        raise RuntimeError("journal unreadable")

    async def body(app: Any) -> int:
        await asyncio.sleep(0.4)
        return len(app.ledger.heartbeats())

    try:
        beats, summary = asyncio.run(_serve(app, body, heartbeat_seconds=0.1, housekeeping=[hook]))
        assert beats == 1
        assert summary.worker["last_error"] == "RuntimeError: journal unreadable"
        assert summary.worker["rounds"] >= 2
    finally:
        app.close()


def test_no_heartbeat_when_switched_off(app_file: Path) -> None:
    app = load_app(app_file)

    async def run() -> list[Any]:
        stop = asyncio.Event()
        task = asyncio.create_task(serve_app(app, "local", stop=stop, heartbeat_seconds=None))
        await _until(lambda: app.backend is not None)
        await asyncio.sleep(0.2)
        beats = app.ledger.heartbeats()
        stop.set()
        await task
        return beats

    try:
        assert asyncio.run(run()) == []
    finally:
        app.close()


# -- when rounds happen ------------------------------------------------------------------------


class _Backend:
    name = "fake"

    def __init__(self, nxt: datetime | None) -> None:
        self.nxt = nxt

    def next_fires(self) -> dict[str, datetime | None]:
        return {"job": self.nxt}


class _App:
    name = "t"
    tenant_id = "default"

    def __init__(self, now: datetime) -> None:
        self.clock = now

    def now(self) -> datetime:
        return self.clock


INSTANT = datetime(2026, 3, 1, 12, 1, tzinfo=UTC)


@given(offset=st.floats(min_value=-0.2, max_value=30.0), periodic_left=st.floats(0.0, 5.0))
def test_no_round_starts_in_the_quiet_window_and_one_runs_before_each_instant(
    offset: float, periodic_left: float
) -> None:
    """From any moment before an instant: the next round never starts in the half second
    before it nor the quarter second after, and a round happens before it (at the latest
    lead_seconds before, or already done)."""
    now = INSTANT - timedelta(seconds=offset)
    keeper = Housekeeper(_App(now), interval_seconds=5.0, heartbeat=False)
    keeper._backend = _Backend(INSTANT)
    keeper._last_periodic = time.monotonic() - (5.0 - periodic_left)
    wait = keeper._seconds_to_next_round(now)
    at = now + timedelta(seconds=wait)
    assert not (INSTANT - timedelta(seconds=0.5) < at < INSTANT + timedelta(seconds=0.25))
    if offset >= 3.0:  # the pre-instant round is still ahead: it comes before the quiet window
        assert at <= INSTANT - timedelta(seconds=3.0) + timedelta(microseconds=1)
    keeper._mark_pre_done(at)
    if offset > 0.5 and at < INSTANT:
        assert keeper._pre_done == INSTANT or (INSTANT - at) > timedelta(seconds=3.0)


def test_the_pre_instant_round_is_done_once_per_instant() -> None:
    now = INSTANT - timedelta(seconds=2)
    keeper = Housekeeper(_App(now), interval_seconds=60.0, heartbeat=False)
    keeper._backend = _Backend(INSTANT)
    keeper._last_periodic = time.monotonic()
    assert keeper._seconds_to_next_round(now) == 0.0  # inside the lead: round now
    keeper._mark_pre_done(now)
    # done for this instant: the next one is the periodic round, a minute away
    assert keeper._seconds_to_next_round(now) > 50


def test_without_next_fires_the_instants_come_from_the_schedules(app_file: Path) -> None:
    app = load_app(app_file)
    try:
        keeper = Housekeeper(app, heartbeat=False)
        keeper._backend = object()  # e.g. the Hatchet backend: no next_fires
        now = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
        assert keeper._next_instant(now) == datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
    finally:
        app.close()


def test_store_open_in_another_process_sees_the_heartbeat_of_a_worker(app_file: Path) -> None:
    """The toolkit reads heartbeats through its own store on the same ledger."""
    app = load_app(app_file)

    async def body(app: Any) -> list[str]:
        other = open_store(os.environ["OWLCLAW_LEDGER_URL"])
        try:
            return [h.app_name for h in other.heartbeats("hk-test")]
        finally:
            other.close()

    try:
        names, _ = asyncio.run(_serve(app, body))
        assert names == ["hk-test"]
    finally:
        app.close()
