"""The Hatchet backend with its worker in this process (as ``app.start("hatchet")`` runs it):
start, health, a manual run, graceful stop; and an expression the engine refuses."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from owlclaw_runtime import OwlClawApp
from owlclaw_runtime.ledger import open_store
from owlclaw_runtime.schedulers import create_backend
from owlclaw_runtime.schedulers.hatchet import HatchetBackend, HatchetError

pytestmark = pytest.mark.hatchet


@pytest.fixture
def namespace(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if not os.environ.get("HATCHET_CLIENT_TOKEN"):
        pytest.skip(
            "HATCHET_CLIENT_TOKEN is not set: start the engine with `make hatchet-up` and "
            "`set -a; . .hatchet/env; set +a` (make test does both)"
        )
    name = f"inproc{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("HATCHET_CLIENT_NAMESPACE", name)
    yield name


def _cleanup(backend: HatchetBackend) -> None:
    names = {t.name for t in backend.tasks().values()}
    for row in backend.client.workflows.list(limit=500).rows or []:
        if row.name in names:
            backend.client.workflows.delete(row.metadata.id)


async def test_a_worker_in_this_process_runs_a_manual_run_and_stops(
    namespace: str, tmp_path: Path
) -> None:
    app = OwlClawApp("inproc", ledger=open_store(f"sqlite:///{tmp_path / 'ledger.db'}"))
    seen: list[dict[str, Any]] = []

    @app.cron("0 3 * * *", timezone="Europe/Paris", migration_weight=0.0)
    async def nightly(context: dict[str, Any]) -> None:
        seen.append(context)

    backend = create_backend("hatchet", app)
    assert isinstance(backend, HatchetBackend)
    try:
        await app.start(backend)
        health = await backend.health()
        assert health["ok"] and health["engine"]["ok"]
        assert health["worker"]["status"] == "HEALTHY" and health["worker"]["alive"]
        execution_id = await app.cron_registry.trigger_now("nightly", reason="inproc")
        deadline = time.monotonic() + 60
        while not seen and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await app.stop()  # graceful: the run is finished and recorded
        assert (await backend.health())["worker"]["alive"] is False
        row = app.ledger.get_execution(execution_id)
        assert row is not None and row.status.value == "fallback"
        assert (row.trigger_type, row.backend) == ("manual", "hatchet")
        assert seen[0]["reason"] == "inproc"
        assert [e.action for e in app.ledger.events("nightly")] == ["manual_trigger"]
    finally:
        if app.backend is not None:
            await app.stop()
        _cleanup(backend)
        app.close()


async def test_an_expression_the_engine_refuses_is_reported_by_trigger(
    namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = OwlClawApp("refused", ledger=open_store(f"sqlite:///{tmp_path / 'ledger.db'}"))
    app.cron("0 3 * * 0", event_name="weekly", migration_weight=0.0)(lambda: None)
    schedule = app.cron_registry.schedule("weekly")
    # robfig/cron (the engine's validator) has no 7 for Sunday; our superset never emits it
    monkeypatch.setattr(schedule, "utc_superset", lambda: ["0 3 * * 7"])
    backend = HatchetBackend(app)
    try:
        with pytest.raises(HatchetError, match=r"refused trigger 'weekly' .*0 3 \* \* 7"):
            await backend.start()
        assert (await backend.health())["ok"] is False  # no worker thread
    finally:
        await backend.stop()
        app.close()


async def test_an_app_without_triggers_starts_no_worker(namespace: str, tmp_path: Path) -> None:
    app = OwlClawApp("empty", ledger=open_store(f"sqlite:///{tmp_path / 'ledger.db'}"))
    backend = HatchetBackend(app)
    try:
        await backend.start()
        report = await backend.health()
    finally:
        await backend.stop()
        app.close()
    assert report["ok"] and report["tasks"] == 0 and "worker" not in report


async def test_serve_app_on_hatchet_keeps_a_heartbeat_and_runs_hooks(
    namespace: str, tmp_path: Path
) -> None:
    """The worker's housekeeping is backend-agnostic: on Hatchet too the heartbeat names the
    backend and the triggers served, hooks run before firing starts, and a graceful stop
    deletes the heartbeat."""
    from owlclaw_runtime.schedulers.runner import serve_app

    app = OwlClawApp("hk-hatchet", ledger=open_store(f"sqlite:///{tmp_path / 'ledger.db'}"))
    app.cron("0 3 * * *", event_name="nightly", migration_weight=0.0)(lambda: None)
    backend = create_backend("hatchet", app)
    hook_calls: list[bool] = []
    stop = asyncio.Event()

    def hook() -> list[str]:
        hook_calls.append(app.backend is None)  # the first call comes before the backend
        return []

    task = asyncio.create_task(
        serve_app(app, backend, stop=stop, heartbeat_seconds=0.5, housekeeping=[hook])
    )
    try:
        deadline = time.monotonic() + 90
        while not app.ledger.heartbeats() and time.monotonic() < deadline and not task.done():
            await asyncio.sleep(0.1)
        (beat,) = app.ledger.heartbeats()
        assert (beat.backend, beat.app_name, beat.triggers) == (
            "hatchet",
            "hk-hatchet",
            ("nightly",),
        )
        stop.set()
        summary = await task
        assert summary.backend == "hatchet"
        assert hook_calls[0] is True and len(hook_calls) >= 2
        assert app.ledger.heartbeats() == []
    finally:
        stop.set()
        if not task.done():
            await task
        _cleanup(backend)
        app.close()
