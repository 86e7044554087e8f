"""Recovery: complete or undo the journal rows a killed command left ``pending``."""

from __future__ import annotations

from pathlib import Path

from owlclaw_runtime.ledger import (
    JournalEntry,
    LedgerStore,
)

from owlmigrate.journal import (
    replay,
)
from owlmigrate.migration._base import AppDir, _last_done, _save_state
from owlmigrate.rewrite.codemods import (
    read_cron_keyword,
    set_cron_keyword,
    weight_code,
)
from owlmigrate.rewrite.crontab_edit import (
    is_disabled,
)

# ---------------------------------------------------------------------------------------------
# recovery of rows left pending by a killed process


def recover(app: AppDir, store: LedgerStore, *, tenant_id: str = "default") -> list[str]:
    """Complete or undo every ``pending`` journal row by inspecting the files. Returns notes."""
    notes: list[str] = []
    for entry in store.journal():
        if entry.status != "pending" or entry.id is None:
            continue
        try:
            status = _resolve(app, store, entry, tenant_id)
        except OSError as exc:
            # A file still cannot be written (disk full, read-only): the row stays pending and
            # the next command, or the running worker, tries again.
            notes.append(
                f"could not settle interrupted {entry.action} of {entry.job} (journal row "
                f"{entry.id}) yet: {exc.strerror or exc}"
            )
            continue
        store.journal_update_status(entry.id, status)
        verb = "completed" if status == "done" else "undid"
        notes.append(f"{verb} interrupted {entry.action} of {entry.job} (journal row {entry.id})")
    return notes


def _resolve(app: AppDir, store: LedgerStore, entry: JournalEntry, tenant_id: str) -> str:
    name = entry.job
    if entry.action == "generate" and entry.to_state.get("removed"):
        return "done" if name not in app.jobs else "undone"
    if name not in app.jobs:
        return "undone"
    module = app.read_module()
    mpath = str(app.module_path)
    if entry.action == "generate":
        recorded = app.jobs[name].get("fingerprint")
        return "done" if recorded == entry.to_state.get("fingerprint") else "undone"
    if entry.action == "cutover":
        path = Path(entry.to_state.get("source") or app.crontab_path(name))
        if path.exists() and is_disabled(path.read_bytes(), name):
            # the ledger first: it is what a running worker obeys
            _save_state(store, name, tenant_id, shadow=False, paused=False)
            app.write_module(set_cron_keyword(module, name, "shadow", "False", path=mpath).source)
            return "done"
        literal = entry.from_state.get("shadow_literal") or "True"
        _save_state(
            store, name, tenant_id, shadow=True, paused=bool(entry.from_state.get("paused"))
        )
        app.write_module(set_cron_keyword(module, name, "shadow", literal, path=mpath).source)
        return "undone"
    if entry.action in ("step", "rollback") and not entry.to_state.get("to_legacy"):
        new_literal = entry.to_state.get("literal") or weight_code(
            entry.to_state["migration_weight"]
        )
        if read_cron_keyword(module, name, "migration_weight", path=mpath) == new_literal:
            _save_state(
                store, name, tenant_id, migration_weight=float(entry.to_state["migration_weight"])
            )
            return "done"
        _save_state(
            store, name, tenant_id, migration_weight=float(entry.from_state["migration_weight"])
        )
        return "undone"
    if entry.action == "rollback":
        path = Path(entry.to_state.get("source") or app.crontab_path(name))
        if path.exists() and not is_disabled(path.read_bytes(), name):
            cut = _last_done(store, name, "cutover")
            shadow_literal = (cut.from_state.get("shadow_literal") if cut else None) or "True"
            module = set_cron_keyword(module, name, "shadow", shadow_literal, path=mpath).source
            weights = replay(store.journal(name)).get(name)
            literal = (
                weights.literals[1] if weights and len(weights.literals) > 1 else weight_code(0.0)
            )
            module = set_cron_keyword(module, name, "migration_weight", literal, path=mpath).source
            _save_state(store, name, tenant_id, paused=True, shadow=True, migration_weight=0.0)
            app.write_module(module)
            return "done"
        _save_state(
            store,
            name,
            tenant_id,
            paused=bool(entry.from_state.get("paused")),
            shadow=entry.from_state.get("shadow"),
            migration_weight=float(entry.from_state.get("migration_weight", 0.0)),
        )
        return "undone"
    return "undone"
