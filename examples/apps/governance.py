"""Governance constraints: limits a trigger keeps whoever runs it.

- ``cooldown_seconds``: no scheduled run within an hour of the last successful one;
- ``max_daily_runs`` / ``max_daily_cost``: per local day in the trigger's own zone (a DST day
  has 23 or 25 hours);
- ``max_cost_per_run``: an agent run that costs more is a failure (and falls back);
- ``max_concurrency`` + ``overlap_policy="skip"``: a run still going blocks the next one;
- the circuit breaker: after ``breaker_window`` runs with a failure rate of
  ``breaker_threshold`` the trigger is skipped until ``breaker_recovery_seconds`` have passed,
  then one trial run decides whether it closes again.

Skipped runs are recorded with their reason and never count as failures, daily runs or
cooldown starts. Manual runs (``owlmigrate trigger``) are an operator's explicit action: they
skip the frequency limits but still honour the breaker and concurrency.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from owlclaw_runtime import OwlClawApp

HERE = Path(__file__).resolve().parent


def output_dir() -> Path:
    path = Path(os.environ.get("OWLMIGRATE_EXAMPLE_DATA", HERE / "var"))
    path.mkdir(parents=True, exist_ok=True)
    return path


app = OwlClawApp("governance-demo")


@app.cron(
    "*/10 * * * *",
    event_name="sync_price_feed",
    timezone="Europe/Berlin",
    migration_weight=0.0,
    cooldown_seconds=3600,
    max_daily_runs=12,
    max_daily_cost=5.0,
    max_cost_per_run=0.25,
    max_concurrency=1,
    overlap_policy="skip",
    breaker_window=5,
    breaker_threshold=0.6,
    breaker_recovery_seconds=900,
    retry_on_failure=False,
)
def sync_price_feed(context: dict) -> dict:
    """Every 10 minutes, at most hourly and 12 times a Berlin day: pull the price feed.

    Set ``PRICE_FEED_DOWN=1`` to make the feed fail (watch the breaker open)."""
    if os.environ.get("PRICE_FEED_DOWN") == "1":
        raise ConnectionError("price feed unreachable")
    stamp = datetime.now(UTC).isoformat()
    with (output_dir() / "price_feed.log").open("a", encoding="utf-8") as handle:
        handle.write(f"{stamp} synced\n")
    return {"synced_at": stamp}
