"""Start delay of the embedded scheduler with many triggers due in the same minute, against
APScheduler 3 doing the same in the same run.

Real clock. Ours: N triggers ``* * * * *`` on an OwlClawApp with a SQLite ledger file (the
default set-up), fired by the LocalScheduler at the next minute boundary; the delay is measured
from the scheduled instant to the first line of each fallback, so it includes the scheduler's
wake-up, its ledger claim of the batch (the watermark, committed before anything runs), and
each run's admission (pause, slots, governance from the cached states) and decision. The
runs' ``running`` rows are queued as their jobs start (``--running-row-first`` commits each
before its job instead). Peer: APScheduler 3's AsyncIOScheduler with N cron jobs due at one
instant (a whole second ~8 s after ours), each job a coroutine recording the same delay;
nothing is persisted (its default memory job store).

Run: .venv/bin/python benchmarks/trigger_latency.py [--triggers N]
The last line is JSON: {"benchmark": "trigger_latency", ..., "ratio_vs_apscheduler": X} where
X = APScheduler P99 / ours P99 (>= 1 means we start jobs sooner).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "runtime"))

from owlclaw_runtime import OwlClawApp
from owlclaw_runtime.ledger import open_store
from owlclaw_runtime.schedulers import LocalScheduler


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pct(p: float) -> float:
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
        return ordered[index]

    return {
        "p50_ms": round(pct(50) * 1000, 2),
        "p95_ms": round(pct(95) * 1000, 2),
        "p99_ms": round(pct(99) * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
    }


def next_boundary(min_lead: float = 3.0) -> datetime:
    now = datetime.now(UTC)
    boundary = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    if (boundary - now).total_seconds() < min_lead:
        boundary += timedelta(minutes=1)
    return boundary


async def run_ours(
    n: int, workdir: Path, running_row_first: bool = False
) -> tuple[list[float], list[float]]:
    """(instant -> fallback first line, instant -> runs handed to the pipeline) per run."""
    store = open_store(f"sqlite:///{workdir / 'owlclaw-ledger.db'}")
    app = OwlClawApp("bench", ledger=store, max_concurrent=n)
    app.pipeline.running_row_before_start = running_row_first
    delays: list[float] = []
    dispatched: list[float] = []
    boundary_ts: list[float] = []
    boundary_iso: list[str] = []
    original = app.start_due

    def timed_start_due(due: Any) -> Any:
        # the scheduler hands a wake-up's runs over in one call (after the watermark write)
        if boundary_ts:
            handed_at = time.time() - boundary_ts[0]
            measured = [d for d in due if d.scheduled_at.timestamp() == boundary_ts[0]]
            dispatched.extend(handed_at for _ in measured)
        return original(due)

    app.start_due = timed_start_due  # type: ignore[method-assign]

    def make(i: int):
        async def job(context: dict) -> None:
            # only the instant measured (a trigger armed just before another boundary fires
            # there too)
            if boundary_iso and context["scheduled_at"] == boundary_iso[0]:
                delays.append(time.time() - boundary_ts[0])

        job.__name__ = f"job_{i:04d}"
        return job

    for i in range(n):
        app.cron("* * * * *", migration_weight=0.0, max_concurrency=1)(make(i))
    scheduler = LocalScheduler(app)
    await scheduler.start()
    # arm (first-start watermarks) before the boundary we measure
    while not scheduler.is_leader or len(scheduler.next_fires()) < n:
        await asyncio.sleep(0.05)
    boundary = next_boundary()
    boundary_iso.append(boundary.strftime("%Y-%m-%dT%H:%M:%SZ"))
    boundary_ts.append(boundary.timestamp())
    print(f"ours: {n} triggers armed; waiting for {boundary:%H:%M:%S}Z", file=sys.stderr)
    deadline = boundary.timestamp() + 60
    while len(delays) < n and time.time() < deadline:
        await asyncio.sleep(0.05)
    await scheduler.stop()
    await app.pipeline.drain()
    store.close()
    return delays, dispatched


async def run_apscheduler(n: int, at: datetime) -> list[float]:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.cron import CronTrigger

    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler = AsyncIOScheduler(timezone=UTC)
    delays: list[float] = []
    at_ts = at.timestamp()

    async def job() -> None:
        delays.append(time.time() - at_ts)

    trigger = CronTrigger(
        year=at.year,
        month=at.month,
        day=at.day,
        hour=at.hour,
        minute=at.minute,
        second=at.second,
        timezone=UTC,
    )
    for i in range(n):
        scheduler.add_job(job, trigger, id=f"job_{i:04d}", misfire_grace_time=60)
    scheduler.start()
    print(f"apscheduler: {n} jobs; waiting for {at:%H:%M:%S}Z", file=sys.stderr)
    deadline = at_ts + 60
    while len(delays) < n and time.time() < deadline:
        await asyncio.sleep(0.05)
    scheduler.shutdown(wait=False)
    return delays


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triggers", type=int, default=1000)
    parser.add_argument(
        "--running-row-first",
        action="store_true",
        help="commit each run's running row before its job starts (the stricter, slower mode)",
    )
    args = parser.parse_args()
    n = args.triggers
    with tempfile.TemporaryDirectory() as tmp:
        ours, dispatched = await run_ours(n, Path(tmp), args.running_row_first)
    peer_at = (datetime.now(UTC) + timedelta(seconds=8)).replace(microsecond=0)
    peer = await run_apscheduler(n, peer_at)
    if len(ours) < n or len(peer) < n:
        raise SystemExit(f"incomplete: ours {len(ours)}/{n}, apscheduler {len(peer)}/{n}")
    ours_p = percentiles(ours)
    peer_p = percentiles(peer)
    sched_p = percentiles(dispatched)
    print(f"owlclaw local scheduler ({n} triggers, SQLite ledger): {ours_p}")
    print(f"  of which instant -> runs handed to app.start_due (scheduler only): {sched_p}")
    print(f"APScheduler 3 AsyncIOScheduler ({n} jobs, memory store): {peer_p}")
    print(
        json.dumps(
            {
                "benchmark": "trigger_latency",
                "triggers": n,
                "running_row_first": args.running_row_first,
                "ours": ours_p,
                "ours_scheduler_only": sched_p,
                "apscheduler": peer_p,
                "goal_p99_ms": 50,
                "load_average_1m": round(os.getloadavg()[0], 2),
                "cpus": os.cpu_count(),
                "meets_goal": ours_p["p99_ms"] <= 50,
                "ratio_vs_apscheduler": round(peer_p["p99_ms"] / max(ours_p["p99_ms"], 0.01), 3),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
