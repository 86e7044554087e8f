"""Shared pieces of the migration verbs: the app directory, the ledger session, journal rows,
crontab writes and the switch window."""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from owlclaw_runtime.ledger import (
    JournalEntry,
    LeaderLock,
    LedgerStore,
    ManagementEvent,
    TriggerState,
    open_store,
)

from owlmigrate.atomic import atomic_write, sha256_bytes
from owlmigrate.codegen.render import MANIFEST_NAME
from owlmigrate.codegen.writer import read_manifest
from owlmigrate.crontab.header import split_header
from owlmigrate.errors import FindingError, UsageError
from owlmigrate.migration.crontabs import install_with_crontab, write_file
from owlmigrate.migration.ledger_identity import app_name_for, check_ledger

WINDOW_ENV = "OWLMIGRATE_SWITCH_WINDOW"
_SPOOL = re.compile(r"^/?var/spool/cron/(?:crontabs/)?[^/]+$")


def _now() -> datetime:
    return datetime.now(UTC)


def current_user() -> str:
    """Who ran the command (journal ``user``)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER") or str(os.getuid())


# ---------------------------------------------------------------------------------------------
# The app directory


@dataclass
class AppDir:
    """A generated app directory: its manifest, module and backups."""

    path: Path
    manifest: dict[str, Any]

    @classmethod
    def load(cls, path: str | Path) -> AppDir:
        directory = Path(path)
        manifest = read_manifest(directory)
        if manifest is None:
            # exit 1 like every command that takes --app (status, trigger, run)
            raise FindingError(
                f"{MANIFEST_NAME} is missing or unreadable (not a generated app directory; "
                "run `owlmigrate generate PLAN -o DIR` first)",
                path=directory,
            )
        return cls(directory.resolve(), manifest)

    @property
    def jobs(self) -> dict[str, dict[str, Any]]:
        return dict(self.manifest.get("jobs", {}))

    @property
    def module_path(self) -> Path:
        return self.path / str(self.manifest.get("module", "owlclaw_app.py"))

    @property
    def backups(self) -> Path:
        return self.path / ".owlmigrate" / "backups"

    def job(self, name: str) -> dict[str, Any]:
        try:
            return self.jobs[name]
        except KeyError:
            raise UsageError(f"no trigger {name!r} in this app ({', '.join(self.jobs)})") from None

    def crontab_path(self, name: str) -> Path:
        source = self.job(name).get("source")
        if not source:
            raise FindingError(f"{name}: the manifest names no source file")
        root = self.manifest.get("root")
        return Path(root) / source if root else Path(source)

    def is_live_spool(self, name: str) -> bool:
        """A user crontab on the live host: cron must hear of the change via ``crontab``."""
        root = self.manifest.get("root")
        source = str(self.job(name).get("source") or "")
        return root in (None, "/") and bool(_SPOOL.match(source))

    def read_module(self) -> str:
        return self.module_path.read_text(encoding="utf-8")

    def write_module(self, source: str) -> None:
        """Write the module and record its new hash, so generate does not call it hand-edited."""
        data = source.encode("utf-8")
        if self.module_path.read_bytes() != data:
            atomic_write(self.module_path, data, point="module")
        files = dict(self.manifest.get("files", {}))
        name = str(self.manifest.get("module", "owlclaw_app.py"))
        if files.get(name) != sha256_bytes(data):
            files[name] = sha256_bytes(data)
            self.manifest["files"] = files
            atomic_write(
                self.path / MANIFEST_NAME,
                (json.dumps(self.manifest, indent=2) + "\n").encode("utf-8"),
                point="manifest",
            )


def open_ledger(app_dir: Path, url: str | None = None) -> LedgerStore:
    """The app's ledger: ``url``, ``OWLCLAW_LEDGER_URL`` or ``owlclaw-ledger.db`` in the app dir."""
    return open_store(url, app_dir=app_dir, app_name=app_name_for(app_dir))


@contextlib.contextmanager
def _session(
    app_dir: str | Path, url: str | None
) -> Iterator[tuple[AppDir, LedgerStore, list[str]]]:
    from owlmigrate.migration.recovery import recover

    app = AppDir.load(app_dir)
    store = open_ledger(app.path, url)
    try:
        with exclusive(store):
            check_ledger(app.manifest, store, app.path)
            notes = recover(app, store)
            try:
                yield app, store, notes
            except OSError as exc:
                # A file could not be written (permissions, disk full): settle the rows this
                # command left pending right away, from what did reach the disk.
                recover(app, store)
                raise FindingError(
                    f"cannot write: {exc.strerror or exc}", path=exc.filename or app.path
                ) from exc
    finally:
        store.close()


MIGRATION_LOCK = "owlmigrate-migration"


def migration_lock(store: LedgerStore) -> LeaderLock:
    """The lock of the app ``store`` is bound to that every mutating command holds, and that a
    worker takes (without waiting) before it settles rows a killed command left pending."""
    return store.leader_lock(f"{MIGRATION_LOCK}:{store.app_name}")


@contextlib.contextmanager
def exclusive(store: LedgerStore) -> Iterator[None]:
    """One mutating owlmigrate command per app at a time (a file lock beside a SQLite ledger,
    an advisory lock on PostgreSQL): two cutovers interleaving their journal rows and file
    writes could otherwise each see the other's half-done work as a crash to undo."""
    with migration_lock(store) as held:
        if not held:
            raise FindingError(
                "another owlmigrate command is changing this app right now; try again"
            )
        yield


def _select(app: AppDir, jobs: Iterable[str], all_jobs: bool) -> list[str]:
    names = list(jobs)
    if all_jobs and names:
        raise UsageError("give job names or --all, not both")
    if all_jobs:
        return list(app.jobs)
    if not names:
        raise UsageError("name at least one job, or give --all")
    for name in names:
        app.job(name)
    return list(dict.fromkeys(names))


def _entry(
    job: str,
    action: str,
    from_state: dict[str, Any],
    to_state: dict[str, Any],
    *,
    reason: str | None = None,
    forced: bool = False,
    status: str = "pending",
) -> JournalEntry:
    return JournalEntry(
        job=job,
        action=action,
        at=_now(),
        user=current_user(),
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        forced=forced,
        status=status,
    )


def _save_state(store: LedgerStore, name: str, tenant: str, **changes: Any) -> TriggerState:
    state = replace(store.get_trigger_state(name, tenant_id=tenant), **changes, updated_at=_now())
    store.save_trigger_state(state)
    return state


def _event(
    store: LedgerStore, name: str, action: str, tenant: str, details: dict[str, Any]
) -> None:
    store.record_event(
        ManagementEvent(
            event_name=name,
            action=action,
            at=_now(),
            tenant_id=tenant,
            actor=current_user(),
            details=details,
        )
    )


# ---------------------------------------------------------------------------------------------
# Crontab files


def _write_crontab(
    app: AppDir, name: str, path: Path, data: bytes, *, purpose: str = "cutover"
) -> None:
    """Put ``data`` in place: a live user spool through ``crontab -u USER FILE`` (the daemon is
    told; crontab(1) writes its own install header, so the one in ``data`` is left out), any
    other file by an atomic replace that keeps its mode and owner."""
    source = str(app.job(name).get("source") or "")
    if not app.is_live_spool(name):
        root = app.manifest.get("root")
        write_file(path, data, spool=bool(_SPOOL.match(source)), root=Path(root) if root else None)
        return
    _header, content = split_header(data)
    install_with_crontab(path.name, content, purpose=purpose)


def _names_by_file(app: AppDir) -> dict[Path, list[str]]:
    grouped: dict[Path, list[str]] = {}
    for name in app.jobs:
        if app.jobs[name].get("source"):
            grouped.setdefault(app.crontab_path(name), []).append(name)
    return grouped


def switch_window(
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    earliest: float = 5.0,
    latest: float = 45.0,
) -> float:
    """Wait until the second within the minute lies in ``[earliest, latest]`` and return the
    seconds waited. Vixie cron and cronie wake at second 0, reload changed crontabs, then run
    the minute's jobs; the runtime fires at second 0 and rereads trigger state every couple of
    seconds. Switching well inside a minute therefore gives every instant exactly one owner:
    this minute's to legacy (already run) and the next minute's to the trigger."""
    if os.environ.get(WINDOW_ENV, "").lower() in ("0", "off", "no", "false"):
        return 0.0
    second = clock() % 60
    if earliest <= second <= latest:
        return 0.0
    wait = (earliest - second) % 60
    sleep(wait)
    return wait


def _last_done(store: LedgerStore, name: str, action: str) -> JournalEntry | None:
    rows = [e for e in store.journal(name) if e.action == action and e.status == "done"]
    return rows[-1] if rows else None
