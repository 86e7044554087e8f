"""``rollback``: soft (one step back) or ``--to-legacy`` (crontab lines restored byte for byte)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from owlclaw_runtime.ledger import (
    LedgerStore,
)

from owlmigrate.atomic import backup_file, crash_point, find_backup
from owlmigrate.errors import FindingError
from owlmigrate.journal import (
    replay,
    state_of,
)
from owlmigrate.migration._base import (
    AppDir,
    _entry,
    _event,
    _last_done,
    _save_state,
    _select,
    _session,
    _write_crontab,
    switch_window,
)
from owlmigrate.migration.weights import WeightResult, soft_rollback
from owlmigrate.rewrite.codemods import (
    read_cron_keywords,
    set_cron_keywords,
    weight_code,
)
from owlmigrate.rewrite.crontab_edit import (
    is_disabled,
    restore_lines,
)


def _restored_bytes(app: AppDir, store: LedgerStore, name: str, path: Path) -> bytes:
    """The crontab with ``name``'s marker removed; a missing file comes back from its backup."""
    cut = _last_done(store, name, "cutover")
    line_sha = cut.to_state.get("line_sha256") if cut else None
    source: Path | None = path
    if not path.exists():
        digest = cut.to_state.get("backup_sha256") if cut else None
        source = find_backup(app.backups, digest) if digest else None
        if source is None:
            raise FindingError("the crontab file is gone and no backup of it is kept", path=path)
    return restore_lines(source.read_bytes(), name, original_sha256=line_sha, path=str(path))


def rollback(
    app_dir: str | Path,
    jobs: Iterable[str] = (),
    *,
    all_jobs: bool = False,
    to_legacy: bool = False,
    ledger_url: str | None = None,
    tenant_id: str = "default",
    reason: str | None = None,
    wait: bool = True,
) -> WeightResult:
    """Soft: the weight goes back one step (or to 0). ``to_legacy``: pause the triggers, restore
    the legacy lines byte for byte, and put the module back to shadow at weight 0. Idempotent.

    Handing live jobs back to the daemon happens inside the same mid-minute window as cutover
    (:func:`~owlmigrate.migration._base.switch_window`), so no instant is run twice or lost."""
    with _session(app_dir, ledger_url) as (app, store, notes):
        names = _select(app, jobs, all_jobs)
        if not to_legacy:
            out = soft_rollback(app, store, names, tenant_id=tenant_id, reason=reason)
            return WeightResult(jobs=out, recovered=notes)
        states = replay(store.journal())
        waited = 0.0
        if wait and any(state_of(states, n).cut_over for n in names):
            waited = switch_window()
        out = _to_legacy(app, store, names, tenant_id, reason)
        return WeightResult(jobs=out, recovered=notes, waited_seconds=waited)


def _to_legacy(
    app: AppDir,
    store: LedgerStore,
    names: list[str],
    tenant_id: str,
    reason: str | None,
) -> dict[str, dict[str, Any]]:
    states = replay(store.journal())
    module = app.read_module()
    out: dict[str, dict[str, Any]] = {}
    rows: dict[str, int] = {}
    new_files: dict[Path, bytes] = {}
    weights_now = read_cron_keywords(module, "migration_weight", path=str(app.module_path))
    changes: dict[tuple[str, str], str | None] = {}
    for name in names:
        state = state_of(states, name)
        path = app.crontab_path(name)
        current = new_files.get(path)
        if current is None:
            current = path.read_bytes() if path.exists() else b""
        trigger = store.get_trigger_state(name, tenant_id=tenant_id)
        weight_literal = state.literals[1] if len(state.literals) > 1 else None
        weight_now = weights_now.get(name)
        cut = _last_done(store, name, "cutover")
        shadow_literal = (cut.from_state.get("shadow_literal") if cut else None) or "True"
        target_weight = weight_literal or weight_code(0.0)
        already = (
            not state.cut_over
            and path.exists()
            and not is_disabled(current, name)
            and trigger.paused
            and weight_now == target_weight
        )
        if already:
            out[name] = {"from": state.weight, "to": 0.0, "status": "already legacy"}
            continue
        new_files[path] = (
            _restored_bytes(app, store, name, path)
            if not path.exists()
            else restore_lines(
                current,
                name,
                original_sha256=cut.to_state.get("line_sha256") if cut else None,
                path=str(path),
            )
        )
        changes[(name, "migration_weight")] = target_weight
        changes[(name, "shadow")] = shadow_literal
        rows[name] = store.journal_append(
            _entry(
                name,
                "rollback",
                {
                    "migration_weight": state.weight,
                    "shadow": trigger.shadow,
                    "paused": trigger.paused,
                    "cut_over": state.cut_over,
                },
                {
                    "to_legacy": True,
                    "migration_weight": 0.0,
                    "shadow": True,
                    "paused": True,
                    "source": str(path),
                },
                reason=reason,
            )
        )
        out[name] = {"from": state.weight, "to": 0.0, "status": "restored to legacy"}
    if not rows:
        return out
    module = set_cron_keywords(module, changes, path=str(app.module_path)).source
    crash_point("rollback.journaled")
    # Pause first: a kill before the crontab write leaves nothing running twice.
    for name in rows:
        _save_state(store, name, tenant_id, paused=True, shadow=True, migration_weight=0.0)
    crash_point("rollback.state_saved")
    for path, data in new_files.items():
        owner = next(n for n in rows if app.crontab_path(n) == path)
        if not path.exists() or path.read_bytes() != data:
            if path.exists():
                backup_file(
                    path, app.backups, label=str(app.jobs[owner].get("source")).replace("/", "__")
                )
            _write_crontab(app, owner, path, data)
        crash_point("rollback.crontab_written")
    app.write_module(module)
    crash_point("rollback.module_written")
    for name, entry_id in rows.items():
        _event(store, name, "rollback", tenant_id, {"to_legacy": True, "journal_id": entry_id})
        store.journal_update_status(entry_id, "done")
    return out
