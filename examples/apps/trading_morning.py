"""Trading-day morning decision: weekdays at 09:30 New York time, exact across DST.

Legacy crontab (cronie, ``CRON_TZ=America/New_York``)::

    CRON_TZ=America/New_York
    30 9 * * 1-5 trader /opt/trading/morning_decision.sh

The trigger keeps the expression, zone and dialect as written, so it fires at 13:30 UTC in
summer and 14:30 UTC in winter, never an hour off. The fallback is the legacy rule (compare the
last close with the mean of the previous closes); the agent, when a share of runs is handed to
it, works under a cost ceiling per run and per day.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from owlclaw_runtime import OwlClawApp

HERE = Path(__file__).resolve().parent
PRICES = Path(os.environ.get("PRICES_FILE", HERE / "fixtures" / "prices.csv"))


def output_dir() -> Path:
    path = Path(os.environ.get("OWLMIGRATE_EXAMPLE_DATA", HERE / "var"))
    path.mkdir(parents=True, exist_ok=True)
    return path


app = OwlClawApp("trading-demo")


def decide(closes: list[float], band: float = 0.01) -> str:
    """``buy`` when the last close is more than ``band`` above the mean of the earlier closes,
    ``sell`` when more than ``band`` below it, else ``hold``."""
    if len(closes) < 2:
        return "hold"
    *earlier, last = closes
    mean = sum(earlier) / len(earlier)
    if last > mean * (1 + band):
        return "buy"
    if last < mean * (1 - band):
        return "sell"
    return "hold"


@app.cron(
    "30 9 * * 1-5",
    event_name="trading_morning_decision",
    timezone="America/New_York",
    dialect="cronie",
    focus=["trading_decision"],
    migration_weight=0.0,
    max_cost_per_run=0.50,
    max_daily_cost=2.00,
    max_daily_runs=1,
    max_duration=120,
    priority=10,
)
def trading_morning_decision(context: dict) -> dict:
    """Weekday 09:30 New York: propose buy, sell or hold from the closing prices."""
    with PRICES.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    closes = [float(r["close"]) for r in rows]
    decision = {"symbol": rows[-1]["symbol"], "as_of": rows[-1]["date"], "action": decide(closes)}
    (output_dir() / "trading_decision.json").write_text(json.dumps(decision), encoding="utf-8")
    return decision
