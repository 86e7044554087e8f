"""The Hatchet backend against a running engine (``make hatchet-up``; ``make test`` starts it).

One worker subprocess (``owlmigrate run --backend hatchet``) serves the whole module; the test
process talks to the engine through a client-only backend. The tests run in file order: the
last two wait for real minute boundaries (two waits of at most ~75 s in all).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from owlclaw_runtime.loader import load_app
from owlclaw_runtime.schedulers.hatchet import SCHEDULED_AT_KEY, CronRunInput, HatchetBackend

pytestmark = pytest.mark.hatchet

APP = '''
import os
from pathlib import Path

from owlclaw_runtime import OwlClawApp

app = OwlClawApp("hatchet-e2e", tenant_id=os.environ["OWLMIGRATE_E2E_TENANT"])
WORK = Path(os.environ["OWLMIGRATE_E2E_DIR"])


@app.cron("* * * * *", migration_weight=0.0)
def minutely(context):
    """Every minute."""


@app.cron("* * * * *", migration_weight=0.0)
def paused_minutely(context):
    """Every minute, paused by the test."""


@app.cron("0,30 2 * * *", timezone="America/New_York", migration_weight=0.0)
def spring_double(context):
    """Runs twice at 03:00 EDT on the spring-forward day."""


@app.cron("0 4 1 1 *", migration_weight=0.0, max_retries=2, retry_backoff_factor=1.5,
          retry_max_delay_seconds=2)
def flaky(context):
    """Fails its first attempt."""
    marker = WORK / "flaky-failed-once"
    if not marker.exists():
        marker.write_text("1")
        raise RuntimeError("first attempt fails on purpose")


SHAPES = [
    ("@daily", {}),
    ("@hourly", {}),
    ("0 0 * * 7", {}),
    ("5 4 * * sun", {}),
    ("*/7 3-5 * * 1-5", {"timezone": "America/New_York"}),
    ("*/15 1 * * *", {"timezone": "America/New_York"}),
    ("30 2 * * *", {"timezone": "Europe/London"}),
    ("0 0 1,15 * 1", {}),
    ("0 0 */2 * 1", {}),
    ("45 0 * * *", {"timezone": "Australia/Lord_Howe"}),
    ("0 12 * * *", {"timezone": "Asia/Kathmandu"}),
    ("0 9-17/2 * * mon-fri", {"timezone": "America/Los_Angeles"}),
    ("15 */6 * * *", {"timezone": "Australia/Sydney"}),
    ("0 0 29 2 *", {}),
    ("0 0 31 2 *", {}),
    ("0 0 * * *", {"timezone": "America/Santiago"}),
    ("0 3 * * *", {"dialect": "cronie", "semantics": "wallclock", "timezone": "Europe/Berlin",
                   "daemon_timezone": "UTC"}),
    ("0 3 * * *", {"dialect": "busybox", "semantics": "wallclock",
                   "timezone": "America/New_York"}),
]
for index, (expression, options) in enumerate(SHAPES):
    app.cron(expression, event_name=f"shape_{index}", migration_weight=0.0, **options)(
        lambda: None
    )
'''


def _owlmigrate() -> str:
    return str(Path(sys.executable).with_name("owlmigrate"))


class Worker:
    """``owlmigrate run --backend hatchet`` in a subprocess, logging to a file."""

    def __init__(self, app_file: Path, log: Path) -> None:
        self.app_file = app_file
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120) -> float:
        offset = self.log.stat().st_size if self.log.exists() else 0
        began = time.monotonic()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    _owlmigrate(),
                    "run",
                    "--app",
                    str(self.app_file),
                    "--backend",
                    "hatchet",
                    "--max-runtime",
                    "1200",
                ],
                stdout=out,
                stderr=out,
                cwd=self.app_file.parent,
                start_new_session=True,
            )
        while time.monotonic() - began < timeout:
            text = self.log.read_bytes()[offset:].decode(errors="replace")
            if "trigger(s) on hatchet" in text:
                return time.monotonic() - began
            if self.proc.poll() is not None:
                pytest.fail(f"worker exited with {self.proc.returncode}:\n{text[-3000:]}")
            time.sleep(0.2)
        pytest.fail(f"worker not up after {timeout}s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> int | None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return None if proc is None else proc.returncode
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            return proc.wait(timeout=10)


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not os.environ.get("HATCHET_CLIENT_TOKEN"):
        pytest.skip(
            "HATCHET_CLIENT_TOKEN is not set: start the engine with `make hatchet-up` and "
            "`set -a; . .hatchet/env; set +a` (make test does both)"
        )
    work = tmp_path_factory.mktemp("hatchet-e2e")
    app_file = work / "app.py"
    app_file.write_text(APP)
    tenant = f"e2e-{uuid.uuid4().hex[:8]}"
    ledger = os.environ.get("OWLMIGRATE_TEST_PG_URL") or f"sqlite:///{work / 'ledger.db'}"
    env = {
        "HATCHET_CLIENT_NAMESPACE": f"e2e{uuid.uuid4().hex[:8]}",
        "OWLCLAW_LEDGER_URL": ledger,
        "OWLMIGRATE_E2E_TENANT": tenant,
        "OWLMIGRATE_E2E_DIR": str(work),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    worker = Worker(app_file, work / "worker.log")
    app = load_app(app_file)
    try:
        startup = worker.start()
        yield {"app": app, "worker": worker, "tenant": tenant, "work": work, "startup": startup}
    finally:
        worker.stop()
        _delete_workflows(app)
        app.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _delete_workflows(app: Any) -> None:
    """Leave no cron firing in the engine after the module."""
    backend = HatchetBackend(app, worker=False)
    names = {t.name for t in backend.tasks().values()}
    client = backend.client
    for row in client.workflows.list(limit=500).rows or []:
        if row.name in names:
            client.workflows.delete(row.metadata.id)


def _client(e2e: dict[str, Any]) -> HatchetBackend:
    return HatchetBackend(e2e["app"], worker=False)


async def _wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await asyncio.to_thread(check)
        if found:
            return found
        await asyncio.sleep(0.25)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def _rows(e2e: dict[str, Any], event: str) -> list[Any]:
    return e2e["app"].ledger.history(event, tenant_id=e2e["tenant"], limit=100)


def test_the_engine_accepts_every_superset_expression(e2e: dict[str, Any]) -> None:
    backend = _client(e2e)
    app = e2e["app"]
    rows = backend.cron_rows()
    by_workflow: dict[str, set[str]] = {}
    for row in rows:
        by_workflow.setdefault(row.workflow_name, set()).add(row.cron)
    checked = 0
    for config in app.cron_registry.list_triggers():
        expected = set(app.cron_registry.schedule(config.event_name).utc_superset())
        name = backend.tasks()[config.event_name].name
        assert by_workflow.get(name, set()) == expected, config.event_name
        checked += 1
    assert checked == 22
    assert "shape_14" in app.cron_registry  # 0 0 31 2 *: never fires, registered without crons
    assert backend.tasks()["shape_14"].name not in by_workflow


async def test_trigger_now_starts_a_run_without_waiting(e2e: dict[str, Any]) -> None:
    backend = _client(e2e)
    backend.tasks()  # build the client and tasks (imports hatchet-sdk) before timing
    began = time.monotonic()
    execution_id = await backend.trigger_now("minutely", {"reason": "e2e"})
    assert time.monotonic() - began < 5
    app = e2e["app"]

    def done() -> Any:
        row = app.ledger.get_execution(execution_id, tenant_id=e2e["tenant"])
        return row if row is not None and row.status.is_terminal else None

    row = await _wait_for(done, 60, "the manual run")
    assert (row.status.value, row.trigger_type, row.backend) == ("fallback", "manual", "hatchet")
    assert row.context["reason"] == "e2e"
    assert row.context["hatchet_run_id"]


async def test_the_gate_runs_a_dst_tick_twice_and_a_non_instant_tick_not_at_all(
    e2e: dict[str, Any],
) -> None:
    task = _client(e2e).tasks()["spring_double"]
    spring = await task.aio_run(
        CronRunInput(), additional_metadata={SCHEDULED_AT_KEY: "2026-03-08T07:00:00Z"}
    )
    assert (spring["runs"], spring["statuses"]) == (2, ["fallback", "fallback"])
    summer = await task.aio_run(
        CronRunInput(), additional_metadata={SCHEDULED_AT_KEY: "2026-06-01T07:00:00Z"}
    )
    assert (summer["runs"], summer["executions"]) == (0, [])  # 03:00 EDT: not an instant
    rows = [r for r in _rows(e2e, "spring_double") if r.trigger_type == "cron"]
    assert sorted(r.context["run_index"] for r in rows) == [0, 1]
    assert {r.scheduled_at for r in rows} == {datetime(2026, 3, 8, 7, 0, tzinfo=UTC)}


async def test_a_failed_run_is_retried_by_the_engine(e2e: dict[str, Any]) -> None:
    execution_id = await _client(e2e).trigger_now("flaky", {})

    def retried() -> Any:
        rows = _rows(e2e, "flaky")
        done = [r for r in rows if r.status.value == "fallback"]
        return rows if done else None

    rows = await _wait_for(retried, 90, "the retry of flaky")
    by_attempt = sorted((r.retry_count, r.status.value) for r in rows)
    assert by_attempt == [(0, "failed"), (1, "fallback")]
    first = e2e["app"].ledger.get_execution(execution_id, tenant_id=e2e["tenant"])
    assert first.status.value == "failed"
    assert "first attempt fails on purpose" in (first.error_message or "")


def _next_boundary(margin: float = 8.0) -> datetime:
    now = datetime.now(UTC)
    boundary = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    if (boundary - now).total_seconds() < margin:
        boundary += timedelta(minutes=1)
    return boundary


async def _sleep_until(instant: datetime) -> None:
    await asyncio.sleep(max(0.0, (instant - datetime.now(UTC)).total_seconds()))


async def test_a_cron_fires_once_per_instant_and_a_paused_one_not_at_all(
    e2e: dict[str, Any],
) -> None:
    backend = _client(e2e)
    await backend.pause("paused_minutely")
    rows = [r for r in backend.cron_rows() if r.workflow_name.endswith("cron_paused_minutely")]
    assert rows and not any(r.enabled for r in rows)
    boundary = _next_boundary()

    def fired() -> Any:
        got = [r for r in _rows(e2e, "minutely") if r.scheduled_at == boundary]
        return got if got and all(r.status.is_terminal for r in got) else None

    await _sleep_until(boundary)
    got = await _wait_for(fired, 45, f"minutely at {boundary:%H:%M}")
    await asyncio.sleep(3)  # a duplicate delivery would show up by now
    got = [r for r in _rows(e2e, "minutely") if r.scheduled_at == boundary]
    assert [(r.trigger_type, r.status.value, r.backend) for r in got] == [
        ("cron", "fallback", "hatchet")
    ]
    delay = (got[0].triggered_at - boundary).total_seconds()
    assert 0 <= delay < 15, delay  # Hatchet enqueues at the instant; a loaded box adds seconds
    assert not [r for r in _rows(e2e, "paused_minutely") if r.scheduled_at == boundary]
    await backend.resume("paused_minutely")
    rows = [r for r in backend.cron_rows() if r.workflow_name.endswith("cron_paused_minutely")]
    assert rows and all(r.enabled for r in rows)
    assert (
        not e2e["app"].ledger.get_trigger_state("paused_minutely", tenant_id=e2e["tenant"]).paused
    )


async def test_a_worker_restart_loses_no_run(e2e: dict[str, Any]) -> None:
    worker: Worker = e2e["worker"]
    boundary = _next_boundary(margin=15)
    assert worker.stop() == 0  # graceful: SIGTERM, exit 0
    await _sleep_until(boundary + timedelta(seconds=3))  # the tick is enqueued, no worker
    assert not [r for r in _rows(e2e, "minutely") if r.scheduled_at == boundary]
    worker.start()

    def ran() -> Any:
        got = [r for r in _rows(e2e, "minutely") if r.scheduled_at == boundary]
        return got if got and got[0].status.is_terminal else None

    got = await _wait_for(ran, 60, f"the {boundary:%H:%M} run after the restart")
    assert len(got) == 1 and got[0].trigger_type == "cron"
    assert got[0].triggered_at > boundary + timedelta(seconds=3)
