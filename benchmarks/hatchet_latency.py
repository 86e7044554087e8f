"""Firing through the Hatchet engine: start delay of cron runs and manual-run throughput.

Needs the engine: the client environment is read from ``.hatchet/env`` when
HATCHET_CLIENT_TOKEN is not set, and ``scripts/hatchet.sh up`` is run first when that file is
missing. One worker runs in this process.

1. Start delay: N owlclaw triggers ``* * * * *`` (tasks ``cron_*`` on the UTC superset, gate,
   full pipeline with its ledger) and, on the same worker, N plain hatchet-sdk tasks with the
   same cron (the peer: what Hatchet itself gives); at the next minute boundary each records
   the delay from the scheduled instant to its first line.
2. Throughput: a burst of M ``trigger_now`` calls; runs per second from the first call to the
   last run's first line.

Run: .venv/bin/python benchmarks/hatchet_latency.py [--triggers N] [--burst M]
Ledger: OWLMIGRATE_TEST_PG_URL when set (the shared PostgreSQL of a Hatchet deployment), else
a SQLite file. The last line is JSON with ``ratio_vs_hatchet_plain`` = plain P95 / ours P95
(>= 1 means our gate and pipeline add nothing measurable to Hatchet's own delay).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "runtime"))

# module level: hatchet-sdk resolves the task function's annotations in this namespace
from hatchet_sdk import Context, EmptyModel  # noqa: E402


def load_env() -> None:
    if os.environ.get("HATCHET_CLIENT_TOKEN"):
        return
    env_file = ROOT / ".hatchet" / "env"
    if not env_file.exists():
        # `make bench` starts PostgreSQL only; bring the engine up the same way `make test` does
        print("no engine environment: running scripts/hatchet.sh up", file=sys.stderr)
        subprocess.run(["bash", str(ROOT / "scripts" / "hatchet.sh"), "up"], check=True)
    for line in env_file.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            os.environ.setdefault(key.strip(), value.strip())


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pct(p: float) -> float:
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
        return ordered[index]

    return {
        "n": len(ordered),
        "p50_ms": round(pct(50) * 1000, 1),
        "p95_ms": round(pct(95) * 1000, 1),
        "p99_ms": round(pct(99) * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 1),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triggers", type=int, default=25)
    parser.add_argument("--burst", type=int, default=200)
    args = parser.parse_args()
    load_env()
    os.environ["HATCHET_CLIENT_NAMESPACE"] = f"bench{uuid.uuid4().hex[:6]}"
    logging.getLogger("hatchet_sdk").setLevel(logging.WARNING)
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("hatchet"):
            logging.getLogger(name).setLevel(logging.WARNING)

    from owlclaw_runtime import OwlClawApp
    from owlclaw_runtime.schedulers.hatchet import HatchetBackend, make_client

    tmp = tempfile.mkdtemp()
    ledger = os.environ.get("OWLMIGRATE_TEST_PG_URL") or f"sqlite:///{tmp}/ledger.db"
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    app = OwlClawApp("hbench", ledger=ledger, tenant_id=tenant, max_concurrent=args.burst)
    ours: list[float] = []
    plain: list[float] = []
    manual_done: list[float] = []

    def owl_job(i: int) -> Any:
        async def job(context: dict[str, Any]) -> None:
            now = time.time()
            if context["trigger_type"] == "manual":
                manual_done.append(now)
            else:
                scheduled = datetime.fromisoformat(context["scheduled_at"].replace("Z", "+00:00"))
                ours.append(now - scheduled.timestamp())

        job.__name__ = f"owl_{i:03d}"
        return job

    for i in range(args.triggers):
        app.cron("* * * * *", migration_weight=0.0, max_concurrency=args.burst)(owl_job(i))

    client = make_client()
    plain_tasks = []
    for i in range(args.triggers):

        async def plain_job(input: EmptyModel, ctx: Context) -> None:
            scheduled = ctx.additional_metadata.get("hatchet__cron_scheduled_at")
            if scheduled:
                at = datetime.fromisoformat(str(scheduled).replace("Z", "+00:00"))
                plain.append(time.time() - at.timestamp())

        plain_tasks.append(client.task(name=f"plain_{i:03d}", on_crons=["* * * * *"])(plain_job))

    backend = HatchetBackend(
        app, client=client, slots=max(2 * args.triggers, args.burst), extra_workflows=plain_tasks
    )
    began = time.monotonic()
    await app.start(backend)
    startup = time.monotonic() - began
    print(f"worker up in {startup:.1f}s with {2 * args.triggers} tasks", file=sys.stderr)
    try:
        now = datetime.now(UTC)
        boundary = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
        if (boundary - now).total_seconds() < 5:
            boundary += timedelta(minutes=1)
        print(f"waiting for {boundary:%H:%M:%S}Z", file=sys.stderr)
        deadline = boundary.timestamp() + 40
        while (len(ours) < args.triggers or len(plain) < args.triggers) and time.time() < deadline:
            await asyncio.sleep(0.2)
        if len(ours) < args.triggers or len(plain) < args.triggers:
            raise SystemExit(f"missing cron runs: ours {len(ours)}, plain {len(plain)}")

        # burst of manual runs through the engine
        names = [c.event_name for c in app.cron_registry.list_triggers()]
        first = time.time()
        await asyncio.gather(
            *(backend.trigger_now(names[i % len(names)], {"i": i}) for i in range(args.burst))
        )
        submitted = time.time() - first
        deadline = time.time() + 120
        while len(manual_done) < args.burst and time.time() < deadline:
            await asyncio.sleep(0.1)
        if len(manual_done) < args.burst:
            raise SystemExit(f"burst incomplete: {len(manual_done)}/{args.burst}")
        elapsed = max(manual_done) - first
        await app.pipeline.drain()
        ledger_rows = sum(
            1
            for name in names
            for e in app.ledger.history(name, tenant_id=tenant, limit=100)
            if e.trigger_type == "manual"
        )
    finally:
        await app.stop()
        for task in [*backend.tasks().values(), *plain_tasks]:
            for row in client.workflows.list(workflow_name=task.name, limit=5).rows or []:
                if row.name == task.name:
                    client.workflows.delete(row.metadata.id)
        app.close()

    ours_p = percentiles(ours)
    plain_p = percentiles(plain)
    throughput = args.burst / elapsed
    kind = ledger.split(":")[0].split("+")[0]
    print(f"engine {os.environ.get('HATCHET_ENGINE_VERSION', '?')}, ledger {kind}")
    print(f"cron start delay, owlclaw tasks (gate + pipeline): {ours_p}")
    print(f"cron start delay, plain hatchet tasks: {plain_p}")
    print(
        f"trigger_now burst: {args.burst} runs in {elapsed:.2f}s = {throughput:.1f} runs/s "
        f"(submitted in {submitted:.2f}s; {ledger_rows} ledger rows)"
    )
    print(
        json.dumps(
            {
                "benchmark": "hatchet_latency",
                "engine_version": os.environ.get("HATCHET_ENGINE_VERSION"),
                "ledger": kind,
                "triggers": args.triggers,
                "cron_delay": ours_p,
                "cron_delay_plain_hatchet": plain_p,
                "goal_p95_ms": 2000,
                "meets_goal": ours_p["p95_ms"] <= 2000,
                "burst": args.burst,
                "runs_per_second": round(throughput, 1),
                "worker_startup_seconds": round(startup, 1),
                "load_average_1m": round(os.getloadavg()[0], 2),
                "ratio_vs_hatchet_plain": round(plain_p["p95_ms"] / max(ours_p["p95_ms"], 0.1), 3),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
