"""Read-only views: the journal (``history``) and each trigger's migration stage."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC
from pathlib import Path
from typing import Any

from owlclaw_runtime.ledger import (
    LedgerStore,
)

from owlmigrate.journal import (
    replay,
    state_of,
)
from owlmigrate.migration._base import AppDir, open_ledger
from owlmigrate.migration.ledger_identity import check_ledger

# ---------------------------------------------------------------------------------------------
# history and stages


def history(
    app_dir: str | Path, *, job: str | None = None, ledger_url: str | None = None
) -> list[dict[str, Any]]:
    """The journal, oldest first, as plain dicts (read-only: pending rows are shown, not fixed)."""
    app = AppDir.load(app_dir)
    store = open_ledger(app.path, ledger_url)
    try:
        check_ledger(app.manifest, store, app.path)
        rows = store.journal(job)
    finally:
        store.close()
    out = []
    for entry in rows:
        item = asdict(entry)
        item["at"] = entry.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        out.append(item)
    return out


def stages(
    app_dir: str | Path, *, ledger_url: str | None = None, tenant_id: str = "default"
) -> dict[str, dict[str, Any]]:
    """Per trigger: migration stage, weight, shadow and pause as the journal and ledger see them
    (``owlmigrate status`` shows these)."""
    app = AppDir.load(app_dir)
    store = open_ledger(app.path, ledger_url)
    try:
        check_ledger(app.manifest, store, app.path)
        return stages_from(app, store, tenant_id=tenant_id)
    finally:
        store.close()


def stages_from(
    app: AppDir, store: LedgerStore, *, tenant_id: str = "default"
) -> dict[str, dict[str, Any]]:
    """:func:`stages` over an already open ledger (the status command's)."""
    states = replay(store.journal())
    out = {}
    for name in app.jobs:
        state = state_of(states, name)
        trigger = store.get_trigger_state(name, tenant_id=tenant_id)
        stats = store.stats(name, tenant_id=tenant_id)
        out[name] = {
            "stage": state.stage if state.stage != "not generated" else "generated",
            "migration_weight": state.weight,
            "weights": list(state.weights),
            "shadow": trigger.shadow if trigger.shadow is not None else state.shadow,
            "paused": trigger.paused,
            "pending": [e.action for e in state.pending],
            # over every weight; `owlmigrate report` splits them per weight step
            "success_rates": {
                "agent": stats.agent.success_rate,
                "fallback": stats.fallback.success_rate,
            },
        }
    return out
