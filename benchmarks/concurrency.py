"""Concurrency benchmark: N executions due at the same instant on one worker.

Ours: N triggers dispatched at once through the full pipeline (gate, governance, decision,
fallback, ledger rows committed to SQLite before and after each run, observers, breaker), with
``max_concurrent=N``; each fallback is an async job sleeping ``--sleep`` seconds.
Peer: APScheduler 3's AsyncIOScheduler running the same N jobs due at one instant (memory job
store; the durable SQLAlchemy job store on SQLite is measured too, as a second figure). With
OWLMIGRATE_TEST_PG_URL set (``make bench``), ours is also measured on a PostgreSQL ledger.

Figures: wall time (first due instant to last completion), throughput (runs per second of wall
time) and p99 end-to-end latency (due instant to completion, ledger committed for ours).
``ratio_vs_apscheduler`` = APScheduler (memory store) wall time / ours: >= 1 means we win.

Run: .venv/bin/python benchmarks/concurrency.py [--n 1000] [--sleep 0.05] [--full]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SLEEP = 0.05
_finish: dict[int, float] = {}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def _figures(name: str, wall: float, latencies: list[float], n: int) -> dict[str, float]:
    return {
        f"{name}_wall_seconds": round(wall, 4),
        f"{name}_throughput_per_second": round(n / wall, 1),
        f"{name}_p50_seconds": round(statistics.median(latencies), 4),
        f"{name}_p99_seconds": round(_pct(latencies, 0.99), 4),
    }


async def run_ours(n: int, sleep: float, ledger_url: str) -> dict[str, Any]:
    from owlclaw_runtime import OwlClawApp
    from owlclaw_runtime.triggers.models import ExecutionStatus

    app = OwlClawApp("bench", ledger=ledger_url, max_concurrent=n)

    async def job() -> None:
        await asyncio.sleep(sleep)

    for i in range(n):
        app.cron_registry.register(
            f"job{i}", "* * * * *", fallback_handler=job, migration_weight=0.0
        )
    # warm up: open the ledger and read the trigger states once, as a running worker has
    app.cron_registry.register("warmup", "* * * * *", fallback_handler=job, migration_weight=0.0)
    await app.dispatch("warmup", scheduled_at=datetime.now(UTC))

    due = datetime.now(UTC)
    start = time.perf_counter()
    done: list[float] = []

    async def one(i: int) -> None:
        await app.dispatch(f"job{i}", scheduled_at=due)
        done.append(time.perf_counter() - start)

    await asyncio.gather(*(one(i) for i in range(n)))
    wall = time.perf_counter() - start
    # every run must be in the ledger, committed, with the fallback's status
    statuses: dict[str, int] = {}
    for execution in app.ledger.iter_all_executions():
        statuses[execution.status.value] = statuses.get(execution.status.value, 0) + 1
    app.close()
    expected = {ExecutionStatus.FALLBACK.value: n + 1}  # + the warm-up run
    if statuses != expected:
        raise SystemExit(f"ours: ledger rows {statuses}, expected {expected}")
    return {"wall": wall, "latencies": done}


async def _peer_job(i: int) -> None:
    await asyncio.sleep(SLEEP)
    _finish[i] = time.time()


async def run_apscheduler(n: int, sleep: float, directory: Path | None) -> dict[str, Any]:
    from apscheduler.executors.asyncio import AsyncIOExecutor
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    global SLEEP
    SLEEP = sleep
    _finish.clear()
    jobstores: dict[str, Any] = {}
    if directory is not None:
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

        jobstores["default"] = SQLAlchemyJobStore(url=f"sqlite:///{directory / 'aps.db'}")
    scheduler = AsyncIOScheduler(
        jobstores=jobstores,
        executors={"default": AsyncIOExecutor()},
        job_defaults={"misfire_grace_time": 60, "coalesce": False, "max_instances": 1},
        timezone="UTC",
    )
    scheduler.start()
    due = datetime.now(UTC) + timedelta(seconds=1.0 + n / 2000)
    for i in range(n):
        scheduler.add_job(
            f"{__name__}:_peer_job" if directory is not None else _peer_job,
            "date",
            run_date=due,
            args=[i],
            id=f"job{i}",
        )
    due_ts = due.timestamp()
    deadline = time.time() + 120
    while len(_finish) < n and time.time() < deadline:
        await asyncio.sleep(0.01)
    scheduler.shutdown(wait=False)
    if len(_finish) < n:
        raise SystemExit(f"apscheduler: only {len(_finish)} of {n} jobs finished")
    latencies = [t - due_ts for t in _finish.values()]
    return {"wall": max(_finish.values()) - due_ts, "latencies": latencies}


@contextlib.contextmanager
def _pg_schema(base_url: str) -> Iterator[str]:
    """A fresh PostgreSQL schema for one run (dropped afterwards)."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(base_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--sleep", type=float, default=0.05)
    parser.add_argument("--full", action="store_true", help="N=5000")
    args = parser.parse_args(argv)
    n = 5000 if args.full else args.n
    logging.disable(logging.WARNING)

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        ours = asyncio.run(run_ours(n, args.sleep, f"sqlite:///{directory / 'ours.db'}"))
        peer = asyncio.run(run_apscheduler(n, args.sleep, None))
        peer_sql = asyncio.run(run_apscheduler(n, args.sleep, directory))
    pg_url = os.environ.get("OWLMIGRATE_TEST_PG_URL")
    ours_pg = None
    if pg_url:  # `make bench` exports it: the scale-out ledger, measured as an extra figure
        with _pg_schema(pg_url) as url:
            ours_pg = asyncio.run(run_ours(n, args.sleep, url))

    result: dict[str, Any] = {"benchmark": "concurrency", "n": n, "job_sleep_seconds": args.sleep}
    result.update(_figures("ours", ours["wall"], ours["latencies"], n))
    result.update(_figures("apscheduler", peer["wall"], peer["latencies"], n))
    result.update(_figures("apscheduler_sqlite", peer_sql["wall"], peer_sql["latencies"], n))
    if ours_pg is not None:
        result.update(_figures("ours_postgres", ours_pg["wall"], ours_pg["latencies"], n))
    result["ratio_vs_apscheduler_sqlite"] = round(peer_sql["wall"] / ours["wall"], 3)
    result["ratio_vs_apscheduler"] = round(peer["wall"] / ours["wall"], 3)
    for key, value in result.items():
        if key != "benchmark":
            print(f"{key}: {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
