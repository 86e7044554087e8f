"""A real ``owlmigrate run`` worker on a copied host tree settles a cutover killed between its
crontab write and its ledger write (``OWLMIGRATE_CRASH_AT=cutover.crontab_written``): the line
is disabled and the trigger still in shadow, so without the worker the job would be run by
nobody ("skipped: shadow") until the next owlmigrate command. The worker completes the switch
and the next instant runs the job for real, exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from owlclaw_runtime.ledger import open_store
from owlclaw_runtime.triggers.models import ExecutionStatus

from owlmigrate.migration import AppDir
from owlmigrate.migration.handshake import SETTLED_ACTION
from owlmigrate.migration.ledger_identity import app_name_for
from owlmigrate.rewrite import is_disabled, read_cron_keyword

CLI = "import sys; from owlmigrate.cli import main; main(sys.argv[1:])"


def _cli(args: list[str], env: dict[str, str], **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        env={**env, **extra},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _wait_for(condition: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def _mid_minute() -> None:
    """Wait until the second within the minute is in [5, 35]: the kill and the worker's repair
    then both happen well before the next minute's instant (as cutover's own window does)."""
    while not 5 <= datetime.now(UTC).second <= 35:
        time.sleep(0.2)


@pytest.mark.slow
def test_a_running_worker_settles_a_killed_cutover_before_the_next_instant(
    make_plan: Callable[..., Path], tmp_path: Path
) -> None:
    out = tmp_path / "ran.txt"
    crontab = f"* * * * * echo ran >> {out}\n".encode()
    plan = make_plan({"var/spool/cron/crontabs/root": crontab})
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OWLCLAW_")}
    env.update(
        OWLCLAW_LEDGER_URL=url,
        OWLMIGRATE_SWITCH_WINDOW="off",
        OWLCLAW_LOGGING__DESTINATION=str(tmp_path / "worker.log"),
    )
    app_dir = tmp_path / "app"
    done = _cli(["generate", str(plan), "-o", str(app_dir)], env)
    assert done.returncode == 0, done.stderr
    (job,) = AppDir.load(app_dir).jobs

    worker = subprocess.Popen(
        [sys.executable, "-c", CLI, "run", "--app", str(app_dir), "--heartbeat-seconds", "0.5"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    store = open_store(url, app_name=app_name_for(app_dir))
    try:
        _wait_for(lambda: store.heartbeats() or worker.poll() is not None, 120, "a heartbeat")
        assert worker.poll() is None, worker.communicate()
        (beat,) = store.heartbeats()
        assert beat.triggers == (job,) and beat.stale_module is False

        _mid_minute()
        crashed = _cli(
            ["cutover", "--all", "--app", str(app_dir)],
            env,
            OWLMIGRATE_CRASH_AT="cutover.crontab_written",
        )
        assert crashed.returncode == 137, crashed.stderr
        killed_at = datetime.now(UTC)
        instant = killed_at.replace(second=0, microsecond=0) + timedelta(minutes=1)
        app = AppDir.load(app_dir)
        assert is_disabled(app.crontab_path(job).read_bytes(), job)  # legacy side: off
        # the worker settles it: no command runs in between
        _wait_for(lambda: not store.journal_pending(), 30, "the worker to settle the row")
        assert datetime.now(UTC) < instant - timedelta(seconds=3)  # in time for the instant
        assert store.get_trigger_state(job).shadow is False
        assert read_cron_keyword(AppDir.load(app_dir).read_module(), job, "shadow") == "False"
        events = [e for e in store.events(job) if e.action == SETTLED_ACTION]
        assert [e.details["status"] for e in events] == ["done"]

        def finished_at_instant() -> list[object]:
            rows = store.history(job, limit=20)
            return [
                r
                for r in rows
                if r.scheduled_at == instant
                and r.status not in (ExecutionStatus.RUNNING, ExecutionStatus.PENDING)
            ]

        (run,) = _wait_for(finished_at_instant, 120, f"the run of {instant}")  # type: ignore[misc]
        assert run.status == ExecutionStatus.FALLBACK, (run.status, run.skip_reason)  # type: ignore[attr-defined]
        time.sleep(1.0)  # nothing else arrives for that instant
        assert len(finished_at_instant()) == 1
        assert out.read_text() == "ran\n"  # the job ran exactly once, by the trigger
        # the heartbeat says what it settled, and the module it serves is still current
        (beat,) = store.heartbeats()
        assert beat.stale_module is False
        assert [s["note"] for s in beat.details["settled"]] == [
            f"completed interrupted cutover of {job} (journal row 2)"
        ]
        status = _cli(["status", "--app", str(app_dir), "--json"], env)
        data = json.loads(status.stdout)
        assert data["pending"] == []
        (shown,) = data["workers"]
        assert (shown["alive"], shown["module"], shown["triggers"]) == (True, "fresh", [job])
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(10)
        _, stderr = worker.communicate()
        store_beats = store.heartbeats()
        store.close()
    assert worker.returncode == 0, stderr
    assert store_beats == []  # a graceful stop removes the heartbeat
