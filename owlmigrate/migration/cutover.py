"""``cutover``: disable the legacy lines and make the triggers live in one journaled operation."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

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
    _original_bytes,
    _save_state,
    _select,
    _session,
    _write_crontab,
    switch_window,
)
from owlmigrate.rewrite.codemods import (
    set_cron_keywords,
)
from owlmigrate.rewrite.crontab_edit import (
    LineEdit,
    disable_lines,
    is_disabled,
    marker,
    strip_markers,
)

# ---------------------------------------------------------------------------------------------
# cutover


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


def _check_file(app: AppDir, path: Path, names: list[str]) -> tuple[bytes, bytes]:
    """Refuse a crontab that changed since the scan in any way other than our own markers."""
    data, original = _original_bytes(app, path, names)
    expected = {app.jobs[n].get("source_sha256") for n in names} - {None}
    if expected and sha256_bytes(original) not in expected:
        raise FindingError(
            "the file changed since the scan (hash differs); rescan and regenerate before "
            "cutting over",
            path=path,
        )
    cut = [n for n in names if is_disabled(data, n)]
    if disable_lines(original, _edits(app, original, cut, path), path=str(path)) != data:
        raise FindingError("owlmigrate markers in this file were edited by hand", path=path)
    return data, original


def _edits(app: AppDir, original: bytes, names: list[str], path: Path) -> list[LineEdit]:
    edits = []
    for name in names:
        span = app.jobs[name].get("span")
        if not span:
            raise FindingError(f"{name}: the manifest has no byte span for its line", path=path)
        start, end = int(span[0]), int(span[1])
        edits.append(LineEdit(name, start, end, original[start:end]))
    return edits


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
        new_bytes: dict[Path, tuple[bytes, bytes, list[str]]] = {}
        for path, chosen in todo.items():
            data, original = _check_file(app, path, by_file[path])
            live = [n for n in by_file[path] if is_disabled(data, n) and n not in chosen] + chosen
            after = disable_lines(original, _edits(app, original, live, path), path=str(path))
            new_bytes[path] = (data, after, chosen)
            result.files.append(str(path))
        module = app.read_module()
        batch = set_cron_keywords(
            module,
            {(n, "shadow"): "False" for _, _, chosen in new_bytes.values() for n in chosen},
            path=str(app.module_path),
        )
        new_module = batch.source
        shadow_literals = {event: code for (event, _), code in batch.old_code.items()}
        if dry_run:
            diff = "".join(
                _file_diff(p, d, a, str(app.jobs[c[0]].get("source")).lstrip("/"))
                for p, (d, a, c) in new_bytes.items()
            )
            diff += _file_diff(
                app.module_path, module.encode(), new_module.encode(), app.module_path.name
            )
            result.diff = diff
            for _, _, chosen in new_bytes.values():
                result.jobs.update({n: "would cut over" for n in chosen})
            return result
        if not new_bytes:
            return result
        result.waited_seconds = switch_window() if wait else 0.0
        rows: dict[str, int] = {}
        for path, (data, _after, chosen) in new_bytes.items():
            backup = backup_file(
                path, app.backups, label=str(app.jobs[chosen[0]].get("source")).replace("/", "__")
            )
            result.backups.append(str(backup))
            for name in chosen:
                start, end = app.jobs[name]["span"]
                original_line = strip_markers(data, by_file[path])[start:end]
                state = store.get_trigger_state(name, tenant_id=tenant_id)
                rows[name] = store.journal_append(
                    _entry(
                        name,
                        "cutover",
                        {
                            "shadow": True,
                            "paused": state.paused,
                            "shadow_literal": shadow_literals[name],
                            "source_sha256": sha256_bytes(data),
                        },
                        {
                            "shadow": False,
                            "source": str(path),
                            "marker": marker(name).decode(),
                            # a hash, not the line: the journal may live in a shared
                            # database and the line may hold secrets (the backup has it)
                            "line_sha256": sha256_bytes(original_line),
                            "backup": str(backup),
                            "backup_sha256": sha256_bytes(data),
                        },
                        reason=reason,
                    )
                )
        crash_point("cutover.journaled")
        for path, (_data, after, chosen) in new_bytes.items():
            _write_crontab(app, chosen[0], path, after)
            crash_point("cutover.crontab_written")
        app.write_module(new_module)
        crash_point("cutover.module_written")
        for name in rows:
            _save_state(store, name, tenant_id, shadow=False, paused=False)
            _event(store, name, "cutover", tenant_id, {"journal_id": rows[name]})
        crash_point("cutover.state_saved")
        for name, entry_id in rows.items():
            store.journal_update_status(entry_id, "done")
            result.jobs[name] = "cut over"
        return result
