"""``rollback``: soft (one step back) or ``--to-legacy`` (crontab lines restored byte for byte)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from owlclaw_runtime.ledger import (
    LedgerStore,
)

from owlmigrate.atomic import backup_file, crash_point, find_backup, sha256_bytes
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
from owlmigrate.migration.crontabs import locked
from owlmigrate.migration.weights import WeightResult, soft_rollback
from owlmigrate.rewrite.codemods import (
    read_cron_keywords,
    set_cron_keywords,
    weight_code,
)
from owlmigrate.rewrite.crontab_edit import (
    MARKER_LEAD,
    is_disabled,
    restore_lines,
)


def _marked_file(app: AppDir, store: LedgerStore, name: str) -> Path | None:
    """The crontab that carries ``name``'s marker: the manifest's file, else the one its last
    cutover wrote (a rescan may have moved the job's source)."""
    cut = _last_done(store, name, "cutover")
    if cut is None:
        # Never cut over by this app: a marker of that name was written by another app
        # directory, and removing it would make the job run twice.
        return None
    candidates = [app.crontab_path(name)]
    if cut.to_state.get("source"):
        candidates.append(Path(str(cut.to_state["source"])))
    for path in dict.fromkeys(candidates):
        with contextlib.suppress(OSError):
            if is_disabled(path.read_bytes(), name):
                return path
    return None


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
    """Soft: the weight goes back one step (or to 0). ``to_legacy``: restore the legacy lines
    byte for byte, then pause the triggers, and put the module back to shadow at weight 0.
    Idempotent.

    Handing live jobs back to the daemon happens inside the same mid-minute window as cutover
    (:func:`~owlmigrate.migration._base.switch_window`), so no instant is run twice or lost.
    The crontab is written first: when that fails (crontab(1) refuses, the disk is full) the
    trigger stays live and the line disabled, so the job keeps exactly one owner."""
    with _session(app_dir, ledger_url) as (app, store, notes):
        names = _select(app, jobs, all_jobs)
        if not to_legacy:
            out = soft_rollback(app, store, names, tenant_id=tenant_id, reason=reason)
            return WeightResult(jobs=out, recovered=notes)
        paths = {app.crontab_path(n) for n in names}
        paths |= {p for n in names if (p := _marked_file(app, store, n)) is not None}
        with locked(paths):
            states = replay(store.journal())
            waited = 0.0
            if wait and any(state_of(states, n).cut_over for n in names):
                waited = switch_window()
            out = _to_legacy(app, store, names, tenant_id, reason)
        return WeightResult(jobs=out, recovered=notes, waited_seconds=waited)


@dataclass
class _Restore:
    """One job handed back: the file that carries its marker and the journal row."""

    name: str
    path: Path
    row: int
    restores_line: bool


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
    todo: list[_Restore] = []
    new_files: dict[Path, bytes] = {}
    weights_now = read_cron_keywords(module, "migration_weight", path=str(app.module_path))
    for name in names:
        state = state_of(states, name)
        marked = _marked_file(app, store, name)
        path = marked or app.crontab_path(name)
        trigger = store.get_trigger_state(name, tenant_id=tenant_id)
        target_weight = state.literals[1] if len(state.literals) > 1 else weight_code(0.0)
        if marked is None and path.exists():
            if not state.cut_over and trigger.paused and weights_now.get(name) == target_weight:
                out[name] = {"from": state.weight, "to": 0.0, "status": "already legacy"}
                continue
            if state.cut_over and not _line_active(path, _line_sha(store, name)):
                # Pausing now would leave the job to nobody, and "restored" would be false.
                cut = _last_done(store, name, "cutover")
                backup = cut.to_state.get("backup") if cut else None
                raise FindingError(
                    f"{name} is cut over but no line carries its marker "
                    f"({MARKER_LEAD.decode()}{name}:) and its line is not in the file either, so "
                    "there is nothing to restore; its trigger stays live and runs the job. Put "
                    "the line back (the cutover's backup has it"
                    + (f": {backup}" if backup else "")
                    + "), then rollback again; `owlmigrate stamp "
                    f"{name} --not-cut-over --reason ...` if the job was retired on purpose",
                    path=path,
                )
        if marked is not None or not path.exists():
            current = new_files.get(path)
            new_files[path] = (
                _restored_bytes(app, store, name, path)
                if current is None
                else restore_lines(
                    current,
                    name,
                    original_sha256=_line_sha(store, name),
                    path=str(path),
                )
            )
        row = store.journal_append(
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
        restores = path in new_files
        todo.append(_Restore(name, path, row, restores_line=restores))
        if restores:
            status = "restored to legacy"
        elif state.cut_over:
            status = "its line was active again; trigger paused"
        else:
            status = "paused (its line was never disabled)"
        out[name] = {"from": state.weight, "to": 0.0, "status": status}
    if not todo:
        return out
    crash_point("rollback.journaled")
    # The crontab first: until the trigger is paused below both would run the next instant,
    # which the switch window keeps far away; a write that fails leaves the trigger live.
    refused: dict[Path, FindingError] = {}
    for path, data in new_files.items():
        owner = next(r.name for r in todo if r.path == path)
        try:
            if not path.exists() or path.read_bytes() != data:
                if path.exists():
                    backup_file(path, app.backups, label=_label(app, owner))
                _write_crontab(app, owner, path, data, purpose="rollback")
        except FindingError as exc:
            refused[path] = exc
        crash_point("rollback.crontab_written")
    done = [r for r in todo if r.path not in refused]
    for r in todo:
        if r.path in refused:
            store.journal_update_status(r.row, "undone")
            out[r.name] = {**out[r.name], "status": "still cut over (crontab not restored)"}
    for r in done:
        _save_state(store, r.name, tenant_id, paused=True, shadow=True, migration_weight=0.0)
    crash_point("rollback.state_saved")
    changes: dict[tuple[str, str], str | None] = {}
    for r in done:
        state = state_of(states, r.name)
        changes[(r.name, "migration_weight")] = (
            state.literals[1] if len(state.literals) > 1 else weight_code(0.0)
        )
        changes[(r.name, "shadow")] = _shadow_literal(store, r.name)
    if changes:
        app.write_module(set_cron_keywords(module, changes, path=str(app.module_path)).source)
    crash_point("rollback.module_written")
    for r in done:
        _event(store, r.name, "rollback", tenant_id, {"to_legacy": True, "journal_id": r.row})
        store.journal_update_status(r.row, "done")
    if refused:
        first = next(iter(refused.values()))
        kept = ", ".join(r.name for r in todo if r.path in refused)
        raise FindingError(
            f"{first.message}; {kept} stay cut over (their triggers live, their lines disabled)"
            + (f"; restored: {', '.join(r.name for r in done)}" if done else ""),
            path=first.path,
        )
    return out


def _line_active(path: Path, line_sha256: str | None) -> bool:
    """Whether a line of ``path`` is the job's original line, enabled (put back by hand)."""
    if line_sha256 is None:
        return False
    try:
        lines = path.read_bytes().splitlines(keepends=True)
    except OSError:
        return False
    return any(sha256_bytes(line) == line_sha256 for line in lines)


def _label(app: AppDir, name: str) -> str:
    return str(app.jobs[name].get("source")).replace("/", "__")


def _line_sha(store: LedgerStore, name: str) -> str | None:
    cut = _last_done(store, name, "cutover")
    return cut.to_state.get("line_sha256") if cut else None


def _shadow_literal(store: LedgerStore, name: str) -> str:
    cut = _last_done(store, name, "cutover")
    return (cut.from_state.get("shadow_literal") if cut else None) or "True"
