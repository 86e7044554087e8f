"""Which app and which ledger an app directory belongs to, checked before any command acts.

An app directory's ``owlmigrate.json`` names its app (``app_name``; older manifests only
``host``, the same value) and, from the first ``generate`` on schema version 3, the id of its
ledger (``ledger_id``). Every command that acts on the app opens the ledger bound to that app
and calls :func:`check_ledger` first, which refuses (exit 1):

- a ledger whose id is not the manifest's: ``OWLCLAW_LEDGER_URL`` (or the default file) now
  names another database, whose journal knows nothing of this app's cutovers;
- an empty or new ledger (no journal row for this app) while the app has cut-over jobs (their
  triggers say ``shadow=False``): regenerating against it would put every cut-over job back
  into shadow while its crontab line stays disabled, and nobody would run it.

It also hands the app its rows: a manifest without ``ledger_id`` was written before schema
version 3, when rows had no app, so the app's jobs' rows are taken from the ``"default"`` app
(where version 3 put them); and an app whose name changed (``generate --app-name``, or the live
host's ``localhost`` becoming its host name) takes its jobs' rows from its old name.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from owlclaw_runtime.ledger import DEFAULT_APP, LedgerStore

from owlmigrate.codegen.writer import read_manifest
from owlmigrate.errors import FindingError
from owlmigrate.rewrite.codemods import CodemodError, read_cron_keywords

if TYPE_CHECKING:
    from owlclaw_runtime import OwlClawApp


def manifest_app_name(manifest: dict[str, Any] | None) -> str:
    """The app a manifest belongs to (``"default"`` without a manifest)."""
    manifest = manifest or {}
    return str(manifest.get("app_name") or manifest.get("host") or DEFAULT_APP)


def app_name_for(app_dir: str | Path) -> str:
    """The app of the app directory ``app_dir`` (its manifest's), for binding its ledger."""
    return manifest_app_name(read_manifest(Path(app_dir)))


def cut_over_jobs(app_manifest: dict[str, Any], app_dir: Path) -> list[str]:
    """The app's triggers rendered with ``shadow=False`` (cut over: their legacy lines are
    disabled), read from the module, which cutover and rollback keep up to date."""
    module = Path(app_dir) / str(app_manifest.get("module") or "owlclaw_app.py")
    try:
        source = module.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    try:
        shadows = read_cron_keywords(source, "shadow", path=str(module))
    except CodemodError:
        return []
    jobs = set(app_manifest.get("jobs") or {})
    return sorted(name for name, value in shadows.items() if value == "False" and name in jobs)


def _url(store: LedgerStore) -> str:
    return str(getattr(store, "display_url", store))


def check_ledger(app_manifest: dict[str, Any], store: LedgerStore, app_dir: Path) -> None:
    """Refuse a ledger that is not this app's (see the module docstring), after handing the
    app its rows from before schema version 3 or from its old name.

    Raises :class:`FindingError` naming both ledger ids, or the URL and the cut-over jobs.
    """
    recorded = app_manifest.get("ledger_id")
    if recorded and store.ledger_id != recorded:
        raise FindingError(
            f"the ledger at {_url(store)} is not this app's: its id is {store.ledger_id}, "
            f"owlmigrate.json records {recorded} (point OWLCLAW_LEDGER_URL at the app's ledger)",
            path=app_dir,
        )
    jobs = list(app_manifest.get("jobs") or {})
    previous = manifest_app_name(app_manifest)
    if jobs and previous != store.app_name:
        store.adopt_rows(jobs, from_app=previous)
    if jobs and not recorded:
        store.adopt_rows(jobs, from_app=DEFAULT_APP)
    cut_over = cut_over_jobs(app_manifest, app_dir)
    if cut_over and not store.journal(limit=1):
        raise FindingError(
            f"the ledger at {_url(store)} holds no journal for app {store.app_name!r}, but "
            f"{len(cut_over)} of its jobs are cut over ({', '.join(cut_over)}): an empty or new "
            "ledger would put them back into shadow while their crontab lines stay disabled "
            "(point OWLCLAW_LEDGER_URL at the app's ledger)",
            path=app_dir,
        )


def check_app(app: OwlClawApp) -> None:
    """:func:`check_ledger` for a loaded ``OwlClawApp`` of a generated app directory (``run``,
    ``status``); a plain Python app (no ``owlmigrate.json``) has nothing to check. Its module
    must name the app its manifest names, or the worker and the toolkit would keep separate
    rows."""
    where = getattr(app, "app_dir", None)
    if where is None:
        return
    app_dir = Path(where)
    manifest = read_manifest(app_dir)
    if manifest is None:
        return
    expected = manifest_app_name(manifest)
    if app.name != expected and (manifest.get("app_name") or manifest.get("host")):
        raise FindingError(
            f"the module names its app {app.name!r} but owlmigrate.json names it {expected!r}; "
            "the worker and owlmigrate would keep separate ledger rows (regenerate the app)",
            path=app_dir,
        )
    store = app.ledger
    # the store the app uses decides which rows are its own: never rename anything here
    check_ledger({**manifest, "app_name": store.app_name}, store, app_dir)
