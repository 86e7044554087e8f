"""The app on the embedded scheduler: start("local"), manual runs through it, and run() as a
real process stopped by SIGTERM after its in-flight run is committed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from owlclaw_runtime.ledger import LedgerStore, open_store
from owlclaw_runtime.triggers.models import ExecutionStatus
from runtime_helpers import new_app


async def test_start_local_and_trigger_now_through_it(ledger_store: LedgerStore) -> None:
    app, _, _ = new_app(ledger_store)
    got: list[dict] = []

    @app.cron("0 3 * * *", migration_weight=0.0)
    async def nightly(context: dict) -> None:
        await asyncio.sleep(0.05)
        got.append(context)

    backend = await app.start()  # "local" by default
    assert backend.name == "local" and (await backend.health())["ok"] is True
    execution_id = await app.cron_registry.trigger_now("nightly", reason="test")
    await app.stop()  # waits for the manual run
    stored = ledger_store.get_execution(execution_id)
    assert stored is not None and stored.status == ExecutionStatus.FALLBACK
    assert stored.backend == "local" and got[0]["reason"] == "test"


APP = """
import asyncio, pathlib
from owlclaw_runtime import OwlClawApp
from owlclaw_runtime.schedulers import LocalScheduler

app = OwlClawApp("proc")
MARK = pathlib.Path(__file__).with_name("started")

@app.cron("0 3 * * *", migration_weight=0.0)
async def slow():
    MARK.write_text("x")
    await asyncio.sleep(1.0)

class KickOff(LocalScheduler):
    # the embedded scheduler, plus one manual run as soon as it is up
    async def start(self):
        await super().start()
        await self.trigger_now("slow", {})

if __name__ == "__main__":
    app.run(KickOff(app))  # blocks until SIGTERM, then stops gracefully and closes the ledger
"""


def test_sigterm_stops_gracefully_after_the_in_flight_run(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(APP)
    env = {**os.environ, "OWLCLAW_LEDGER_URL": f"sqlite:///{tmp_path / 'l.db'}"}
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env=env)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "started").exists():
            assert proc.poll() is None, "the app exited early"
            assert time.monotonic() < deadline, "the manual run never started"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    store = open_store(f"sqlite:///{tmp_path / 'l.db'}", app_name="proc")
    try:
        (execution,) = store.history("slow")
    finally:
        store.close()
    assert execution.status == ExecutionStatus.FALLBACK
    assert execution.duration_seconds is not None and execution.duration_seconds >= 1.0
