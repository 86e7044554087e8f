"""Weekly data clean-up: a legacy shell job, run exactly as cron ran it.

Legacy crontab (Debian ``/etc/crontab``)::

    15 3 * * 0 www-data find /srv/cache -type f -name '*.tmp' -mtime +7 -print -delete | wc -l

The trigger's body runs the original command through :class:`LegacyCommand`: ``/bin/sh -c``,
cron's minimal environment plus the crontab's assignments, a timeout, and the tail of the output
kept in the ledger. A non-zero exit raises ``LegacyJobFailed``, so the run is recorded as failed
and retried. ``overlap_policy="skip"`` refuses a second run while one is still going.
"""

from __future__ import annotations

import os
from pathlib import Path

from owlclaw_runtime import LegacyCommand, OwlClawApp

HERE = Path(__file__).resolve().parent
COMMAND = "find \"$CLEAN_DIR\" -type f -name '*.tmp' -mtime +7 -print -delete | wc -l"


def cache_dir() -> Path:
    """The directory cleaned: ``$CLEAN_DIR``, default ``<example data>/cache``."""
    base = Path(os.environ.get("OWLMIGRATE_EXAMPLE_DATA", HERE / "var"))
    path = Path(os.environ.get("CLEAN_DIR", base / "cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path


app = OwlClawApp("cleanup-demo")


@app.cron(
    "15 3 * * 0",
    event_name="weekly_data_cleanup",
    dialect="debian",
    migration_weight=0.0,
    overlap_policy="skip",
    max_duration=900,
    max_retries=1,
    retry_delay_seconds=300,
)
async def weekly_data_cleanup(context: dict) -> object:
    """Sunday 03:15: delete cache files older than a week (the legacy find | wc -l)."""
    legacy = LegacyCommand(
        COMMAND,
        stdin=None,
        env={"CLEAN_DIR": str(cache_dir()), "MAILTO": ""},
        user=None,
        dialect="debian",
        timeout=900,
    )
    return await legacy.arun()
