"""``cutover``: disable the legacy lines and make the triggers live in one journaled operation."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from owlclaw_runtime.ledger import LedgerStore

from owlmigrate.atomic import backup_file, crash_point, sha256_bytes
from owlmigrate.errors import FindingError
from owlmigrate.journal import (
    replay,
    state_of,
)
from owlmigrate.migration._base import (
    AppDir,
    _entry,
    _event,
    _names_by_file,
    _save_state,
    _select,
    _session,
    _write_crontab,
    switch_window,
)
from owlmigrate.migration.crontabs import CrontabText, locked, read_crontab
from owlmigrate.migration.handshake import refusals
from owlmigrate.migration.packages import package_warning
from owlmigrate.rewrite.codemods import (
    set_cron_keywords,
)
from owlmigrate.rewrite.crontab_edit import (
    LineEdit,
    add_markers,
    marked_line_indices,
    marker,
    span_line_indices,
    strip_all_markers,
    strip_markers,
)

# ---------------------------------------------------------------------------------------------
# cutover

#: ``off`` skips the worker handshake for every cutover (copied host trees that no worker
#: serves, tests); ``--force`` does it for one command
WORKER_CHECK_ENV = "OWLMIGRATE_WORKER_CHECK"


@dataclass
class CutoverResult:
    """Per job: ``cut over``, ``already cut over`` or (dry run) ``would cut over``."""

    jobs: dict[str, str]
    files: list[str]
    backups: list[str] = field(default_factory=list)
    diff: str = ""
    dry_run: bool = False
    recovered: list[str] = field(default_factory=list)
    waited_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _file_diff(path: Path, before: bytes, after: bytes, label: str) -> str:
    import difflib

    lines = difflib.unified_diff(
        before.decode("utf-8", "replace").splitlines(keepends=True),
        after.decode("utf-8", "replace").splitlines(keepends=True),
        fromfile=f"a/{label}",
        tofile=f"b/{label}",
    )
    text = "".join(lines)
    return text if not text or text.endswith("\n") else text + "\n"


def _check_file(
    app: AppDir, path: Path, names: list[str], ours: set[str]
) -> tuple[CrontabText, bytes]:
    """The file as it is now and its content as generate saw it, without markers; refuses a
    crontab that changed since the scan in any way other than markers, and markers of ours that
    are not exactly on their jobs' lines.

    The content matches the scan when taking off this app's own markers (those its journal says
    it wrote: ``ours``) gives the scanned bytes, or, when other app directories cut over lines of
    the file since, taking off every marker does. A comment merely shaped like a marker of ours
    is never taken off on its own account (it could hide an assignment like ``PATH=...``)."""
    text = read_crontab(path)
    expected = {app.jobs[n].get("source_sha256") for n in names} - {None}
    candidates = [strip_markers(text.content, sorted(ours & set(names)))]
    candidates.append(strip_all_markers(text.content))
    original = next((c for c in candidates if sha256_bytes(c) in expected), None)
    if expected and original is None:
        raise FindingError(
            "the file changed since the scan (hash differs); rescan and regenerate before "
            "cutting over",
            path=path,
        )
    original = original if original is not None else candidates[-1]
    for name in names:
        marked = marked_line_indices(text.content, name)
        if marked and name in ours and marked != _job_lines(app, original, name, path):
            raise FindingError(
                f"the owlmigrate marker of {name!r} in this file was edited by hand", path=path
            )
    return text, original


def _job_lines(app: AppDir, original: bytes, name: str, path: Path) -> list[int]:
    edit = _edits(app, original, [name], path)[0]
    return span_line_indices(original, edit.start, edit.end)


def _edits(app: AppDir, original: bytes, names: list[str], path: Path) -> list[LineEdit]:
    edits = []
    for name in names:
        span = app.jobs[name].get("span")
        if not span:
            raise FindingError(f"{name}: the manifest has no byte span for its line", path=path)
        start, end = int(span[0]), int(span[1])
        edits.append(LineEdit(name, start, end, original[start:end]))
    return edits


@dataclass(frozen=True)
class _FileEdit:
    text: CrontabText
    original: bytes  # the content without any marker: what the spans point into
    after: bytes  # the whole file with the chosen jobs' markers added
    chosen: list[str]


def _plan_files(
    app: AppDir, store: LedgerStore, todo: dict[Path, list[str]], by_file: dict[Path, list[str]]
) -> dict[Path, _FileEdit]:
    ours = {e.job for e in store.journal() if e.action == "cutover" and e.status == "done"}
    out = {}
    for path, chosen in todo.items():
        text, original = _check_file(app, path, by_file[path], ours)
        content = add_markers(
            text.content,
            original,
            _edits(app, original, chosen, path),
            path=str(path),
            ours=ours,
        )
        out[path] = _FileEdit(text, original, text.header + content, chosen)
    return out


def cutover(
    app_dir: str | Path,
    jobs: Iterable[str] = (),
    *,
    all_jobs: bool = False,
    dry_run: bool = False,
    ledger_url: str | None = None,
    tenant_id: str = "default",
    wait: bool = True,
    reason: str | None = None,
    force: bool = False,
) -> CutoverResult:
    """Disable the jobs' legacy lines and make their triggers live, in one journaled operation.

    Per crontab file: refuse when it changed since the scan; back it up; write it atomically
    with the jobs' lines commented by their markers (every other byte untouched). Then the module
    gets ``shadow=False`` (LibCST) and the ledger a ``shadow=False`` override, which running
    workers pick up without a restart.
    """
    with _session(app_dir, ledger_url) as (app, store, notes):
        names = _select(app, jobs, all_jobs)
        states = replay(store.journal())
        by_file = _names_by_file(app)
        result = CutoverResult(jobs={}, files=[], dry_run=dry_run, recovered=notes)
        todo: dict[Path, list[str]] = {}
        for name in names:
            if state_of(states, name).cut_over:
                result.jobs[name] = "already cut over"
                continue
            todo.setdefault(app.crontab_path(name), []).append(name)
        planned = _plan_files(app, store, todo, by_file)
        result.files.extend(str(p) for p in planned)
        for edit in planned.values():
            source = str(app.jobs[edit.chosen[0]].get("source") or "")
            warning = package_warning(source, app.manifest.get("root"))
            if warning:
                result.warnings.append(warning)
        module = app.read_module()
        batch = set_cron_keywords(
            module,
            {(n, "shadow"): "False" for edit in planned.values() for n in edit.chosen},
            path=str(app.module_path),
        )
        new_module = batch.source
        shadow_literals = {event: code for (event, _), code in batch.old_code.items()}
        if dry_run:
            diff = "".join(
                _file_diff(
                    p, e.text.data, e.after, str(app.jobs[e.chosen[0]].get("source")).lstrip("/")
                )
                for p, e in planned.items()
            )
            diff += _file_diff(
                app.module_path, module.encode(), new_module.encode(), app.module_path.name
            )
            result.diff = diff
            for edit in planned.values():
                result.jobs.update({n: "would cut over" for n in edit.chosen})
            return result
        if not planned:
            return result
        chosen = [n for edit in planned.values() for n in edit.chosen]
        forced = _handshake(app, store, chosen, tenant_id, force, result)
        with locked(planned):
            result.waited_seconds = switch_window() if wait else 0.0
            # Again after the wait: the worker must still be there when the line goes.
            forced = _handshake(app, store, chosen, tenant_id, force, result) or forced
            # Read again under the files' locks: another app directory may have cut over a
            # job of the same crontab while this one waited; its markers are kept.
            planned = _plan_files(app, store, todo, by_file)
            _switch(
                app, store, planned, new_module, shadow_literals, tenant_id, reason, result, forced
            )
        return result


def _handshake(
    app: AppDir,
    store: LedgerStore,
    names: list[str],
    tenant_id: str,
    force: bool,
    result: CutoverResult,
) -> bool:
    """Refuse the cutover unless a running worker will fire the triggers (docs/workflow.md,
    "The handshake"); with ``force`` go on and say what that risks. Returns whether forced."""
    if os.environ.get(WORKER_CHECK_ENV, "").lower() in ("0", "off", "no", "false"):
        return False
    refused = refusals(app, store, names, tenant_id=tenant_id)
    if not refused:
        return False
    reasons = "; ".join(f"{name}: {why}" for name, why in refused.items())
    if not force:
        raise FindingError(
            "no running worker would fire the trigger(s), so their runs would be lost once "
            f"the crontab lines are disabled: {reasons} (--force cuts over anyway)",
            path=app.path,
        )
    warning = (
        f"forced past the worker handshake ({reasons}): until a worker serves these "
        "triggers their runs are lost"
    )
    if warning not in result.warnings:
        result.warnings.append(warning)
    return True


def _switch(
    app: AppDir,
    store: LedgerStore,
    planned: dict[Path, _FileEdit],
    new_module: str,
    shadow_literals: dict[str, str],
    tenant_id: str,
    reason: str | None,
    result: CutoverResult,
    forced: bool = False,
) -> None:
    """Journal, then crontab, ledger override and module, in that order (docs/workflow.md, "One
    owner at every instant"): until the ledger override is saved the job is disabled on both
    sides, and the running worker settles a row left pending there before the next instant."""
    rows: dict[str, int] = {}
    for path, edit in planned.items():
        backup = backup_file(
            path, app.backups, label=str(app.jobs[edit.chosen[0]].get("source")).replace("/", "__")
        )
        result.backups.append(str(backup))
        for name in edit.chosen:
            start, end = app.jobs[name]["span"]
            original_line = edit.original[start:end]
            state = store.get_trigger_state(name, tenant_id=tenant_id)
            rows[name] = store.journal_append(
                _entry(
                    name,
                    "cutover",
                    {
                        "shadow": True,
                        "paused": state.paused,
                        "shadow_literal": shadow_literals[name],
                        "source_sha256": sha256_bytes(edit.text.data),
                    },
                    {
                        "shadow": False,
                        "source": str(path),
                        "marker": marker(name).decode(),
                        # a hash, not the line: the journal may live in a shared
                        # database and the line may hold secrets (the backup has it)
                        "line_sha256": sha256_bytes(original_line),
                        "backup": str(backup),
                        "backup_sha256": sha256_bytes(edit.text.data),
                    },
                    reason=reason,
                    forced=forced,
                )
            )
    crash_point("cutover.journaled")
    for path, edit in planned.items():
        _write_crontab(app, edit.chosen[0], path, edit.after, purpose="cutover")
        crash_point("cutover.crontab_written")
    # The ledger override before the module: a running worker takes its trigger state from the
    # ledger, so from here on the job has its one owner even if the module cannot be written.
    for name in rows:
        _save_state(store, name, tenant_id, shadow=False, paused=False)
        _event(store, name, "cutover", tenant_id, {"journal_id": rows[name]})
    crash_point("cutover.state_saved")
    app.write_module(new_module)
    crash_point("cutover.module_written")
    for name, entry_id in rows.items():
        store.journal_update_status(entry_id, "done")
        result.jobs[name] = "cut over"
