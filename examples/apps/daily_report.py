"""Daily report: every morning at 08:00 London time, summarise yesterday's runs from the ledger.

Legacy crontab (Debian, host in Europe/London)::

    0 8 * * * reports /usr/local/bin/daily-report --yesterday | mail -s "cron report" ops

The report reads the app's own ledger (every run of every trigger is there, skipped ones
included) and writes a Markdown file; the legacy ``mail`` pipe becomes a notification channel
(see ``owlclaw.yaml`` ``cron.notifications``).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from owlclaw_runtime import OwlClawApp

HERE = Path(__file__).resolve().parent


def output_dir() -> Path:
    path = Path(os.environ.get("OWLMIGRATE_EXAMPLE_DATA", HERE / "var"))
    path.mkdir(parents=True, exist_ok=True)
    return path


app = OwlClawApp("report-demo")


@app.cron(
    "0 8 * * *",
    event_name="daily_report",
    timezone="Europe/London",
    migration_weight=0.0,
    overlap_policy="skip",
)
def daily_report(context: dict) -> dict:
    """08:00 London: a Markdown summary of the last 24 hours of runs, per trigger."""
    since = datetime.now(UTC) - timedelta(days=1)
    lines = ["# Cron report", "", f"Runs since {since:%Y-%m-%d %H:%M} UTC", ""]
    lines += ["| trigger | runs | successes | failures | skipped |", "|---|---|---|---|---|"]
    totals = {}
    for config in app.cron_registry.list_triggers():
        stats = app.ledger.stats(config.event_name, tenant_id=app.tenant_id, since=since)
        totals[config.event_name] = stats.overall.executions
        lines.append(
            f"| {config.event_name} | {stats.overall.executions} | {stats.overall.successes} "
            f"| {stats.overall.failures} | {stats.skipped} |"
        )
    path = output_dir() / "daily_report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"report": str(path), "runs": totals}
