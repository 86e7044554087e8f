"""Hourly inventory check: the seed migration guide's first example, migrated.

Legacy crontab line (``/etc/cron.d/inventory``)::

    0 * * * * inventory /usr/bin/python /app/scripts/hourly_check.py

The legacy logic (read stock levels, list the SKUs at or below their reorder point, write a
low-stock report) is the trigger's body, which is its fallback. ``migration_weight=0.0`` keeps
every run on that fallback until ``owlmigrate step`` hands a share of the runs to the agent.

    owlmigrate trigger hourly_inventory_check --app examples/apps/inventory_check.py
"""

from __future__ import annotations

import csv
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from owlclaw_runtime import OwlClawApp

HERE = Path(__file__).resolve().parent
STOCK_FILE = Path(os.environ.get("INVENTORY_FILE", HERE / "fixtures" / "inventory.csv"))


def output_dir() -> Path:
    """Where the example writes (``$OWLMIGRATE_EXAMPLE_DATA``, default ``examples/apps/var``)."""
    path = Path(os.environ.get("OWLMIGRATE_EXAMPLE_DATA", HERE / "var"))
    path.mkdir(parents=True, exist_ok=True)
    return path


app = OwlClawApp("inventory-demo")


def low_stock(rows: list[dict[str, str]]) -> list[dict[str, object]]:
    """SKUs at or below their reorder point, most urgent (lowest cover) first."""
    out: list[dict[str, object]] = []
    for row in rows:
        on_hand, point = int(row["on_hand"]), int(row["reorder_point"])
        if on_hand <= point:
            qty = int(row["reorder_qty"]) * (2 if on_hand == 0 else 1)
            out.append({"sku": row["sku"], "name": row["name"], "on_hand": on_hand, "order": qty})
    return sorted(out, key=lambda r: (int(r["on_hand"]), str(r["sku"])))  # type: ignore[call-overload]


@app.cron(
    "0 * * * *",
    event_name="hourly_inventory_check",
    focus="inventory_monitor",
    migration_weight=0.0,
    fallback_strategy="on_failure",
    max_duration=300,
)
def hourly_inventory_check(context: dict) -> dict:
    """Hourly: list SKUs at or below their reorder point and write the low-stock report."""
    with STOCK_FILE.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    report = {
        "generated_at": datetime.now(UTC).isoformat(),
        "trigger_type": context.get("trigger_type"),
        "checked": len(rows),
        "low_stock": low_stock(rows),
    }
    target = output_dir() / "low_stock.json"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=2), encoding="utf-8")
    tmp.replace(target)  # atomic: a reader never sees half a report
    return report
