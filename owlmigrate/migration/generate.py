"""``generate``: render the plan into the app directory, journaled."""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from owlclaw_runtime.ledger import (
    LedgerStore,
    open_store,
)

from owlmigrate.atomic import crash_point
from owlmigrate.codegen.app_name import default_app_name
from owlmigrate.codegen.host import read_host_lines
from owlmigrate.codegen.render import MANIFEST_NAME, MODULE_NAME, render
from owlmigrate.codegen.writer import plan_files, read_manifest, unified_diff, write_files
from owlmigrate.errors import FindingError
from owlmigrate.journal import (
    JobState,
    replay,
)
from owlmigrate.migration._base import AppDir, _entry, exclusive
from owlmigrate.migration.ledger_identity import check_ledger, cut_over_jobs
from owlmigrate.migration.recovery import recover
from owlmigrate.rewrite.codemods import CodemodError, read_app_keyword
from owlmigrate.rewrite.crontab_edit import is_disabled

# ---------------------------------------------------------------------------------------------
# generate


@dataclass
class GenerateResult:
    """What generate wrote (or would write, with ``dry_run``)."""

    app_dir: str
    triggers: list[str]
    not_migrated: list[dict[str, Any]]
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    hand_edited: list[str]
    removed: list[str]
    backups: list[str] = field(default_factory=list)
    diff: str = ""
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _journal_states(
    directory: Path, url: str | None, *, create: bool, app_name: str, old: dict[str, Any]
) -> tuple[LedgerStore | None, dict[str, JobState]]:
    """The app's ledger (bound to ``app_name``) and its jobs' journal states, after
    :func:`check_ledger` has refused a ledger that is not the app's (and handed the app its rows
    from before schema version 3 or from its old name). Without ``create`` (a dry run) a missing
    ledger is not made: nothing is then known of the journal, which only an app with no cut-over
    job can afford."""
    default_file = directory / "owlclaw-ledger.db"
    if (
        not create
        and not url
        and not os.environ.get("OWLCLAW_LEDGER_URL")
        and not default_file.exists()
    ):
        cut_over = cut_over_jobs(old, directory) if old else []
        if cut_over:
            raise FindingError(
                f"the app's ledger {default_file} is missing, but jobs are cut over: "
                + ", ".join(cut_over),
                path=directory,
            )
        return None, {}
    directory.mkdir(parents=True, exist_ok=True)
    store = open_store(url, app_dir=directory, app_name=app_name)
    try:
        if old:
            check_ledger(old, store, directory)
    except BaseException:
        store.close()
        raise
    return store, replay(store.journal())


def _existing_agent(directory: Path) -> str | None:
    """The ``agent=`` the operator gave the existing module's ``OwlClawApp(...)``, if any: the
    one edit the workflow asks for by hand, so regenerating keeps it."""
    manifest = read_manifest(directory) or {}
    module = directory / str(manifest.get("module") or MODULE_NAME)
    try:
        return read_app_keyword(module.read_text(encoding="utf-8"), "agent", path=str(module))
    except (OSError, UnicodeDecodeError, CodemodError):
        return None


def _carry_cut_over_jobs(
    data: dict[str, Any], old: dict[str, Any], states: dict[str, JobState]
) -> None:
    """Keep the triggers of cut-over jobs when the plan was scanned after the cutover.

    A rescan sees a cut-over line as a plain comment (``#owlmigrate:...``), so the job, or the
    ``run-parts`` line of a periodic directory, is missing from the new plan. When the line still
    carries the trigger's marker, the job as the manifest recorded it goes back into the plan
    (line numbers and the marker-free hash are unchanged by markers), with the scripts it covered.
    """
    root = (data.get("host") or {}).get("root") or old.get("root")
    jobs: list[dict[str, Any]] = list(data.get("jobs") or [])
    known = {j.get("id"): j for j in jobs}
    for name, entry in (old.get("jobs") or {}).items():
        saved = entry.get("plan_job")
        state = states.get(name)
        if not saved or state is None or not state.cut_over:
            continue
        current = known.get(name)
        if current is not None and current.get("enabled", True) and current.get("kind") == "cron":
            continue
        source = entry.get("source")
        path = Path(root) / source if root else Path(str(source))
        try:
            marked = is_disabled(path.read_bytes(), name)
        except OSError:
            marked = False
        if not marked:
            continue
        covered = set(entry.get("covers") or [])
        jobs = [j for j in jobs if j.get("id") != name and j.get("id") not in covered]
        jobs.insert(_position(jobs, list(old["jobs"]), name), {**saved, "_covers": sorted(covered)})
    data["jobs"] = jobs


def _position(jobs: list[dict[str, Any]], order: list[str], name: str) -> int:
    """Where ``name`` goes back: after the trigger that preceded it last time (same module)."""
    ids = [j.get("id") for j in jobs]
    for before in reversed(order[: order.index(name)]):
        if before in ids:
            return ids.index(before) + 1
    for after in order[order.index(name) + 1 :]:
        if after in ids:
            return ids.index(after)
    return len(jobs)


def generate(
    plan_path: str | Path,
    out_dir: str | Path,
    *,
    dry_run: bool = False,
    force: bool = False,
    ledger_url: str | None = None,
    app_name: str | None = None,
) -> GenerateResult:
    """Render the plan into ``out_dir``: app module, skills, README and ``owlmigrate.json``.

    The app is named ``app_name``, else what the last generate named it, else after its host
    (the host name on the live host, the tree's directory name for a copied host); its ledger's
    id goes into ``owlmigrate.json`` (see ``ledger_identity``).

    Rerunning is a no-op; a file edited by hand is refused (exit 1) unless ``force``, which backs
    it up first. The journal's state (cutover, weights) is rendered back in, so regenerating
    after a cutover or step changes nothing. Dropping a job that is cut over is refused.
    """
    from owlmigrate.plan import Plan

    plan = Plan.load(plan_path)
    directory = Path(out_dir).resolve()
    previous = read_manifest(directory) or {}
    name = app_name or previous.get("app_name") or default_app_name(plan.host.model_dump())
    store, states = _journal_states(
        directory, ledger_url, create=not dry_run, app_name=name, old=previous
    )
    try:
        # one mutating command per ledger at a time (see _base.exclusive)
        locked = store is not None and not dry_run
        with exclusive(store) if locked and store is not None else contextlib.nullcontext():
            if store is not None and not dry_run and (directory / MANIFEST_NAME).is_file():
                recover(AppDir.load(directory), store)
                states = replay(store.journal())
            data = plan.model_dump(mode="json")
            _carry_cut_over_jobs(data, read_manifest(directory) or {}, states)
            rendering = render(
                data,
                plan_path=str(Path(plan_path).resolve()),
                weights={j: s.weight for j, s in states.items()},
                shadows={j: s.shadow for j, s in states.items()},
                host_lines=read_host_lines(data),
                agent_code=_existing_agent(directory),
                app_name=name,
                ledger_id=store.ledger_id if store is not None else previous.get("ledger_id"),
            )
            rendered_jobs = {t.job_id for t in rendering.triggers}
            orphaned = sorted(j for j, s in states.items() if s.cut_over and j not in rendered_jobs)
            if orphaned:
                raise FindingError(
                    "the new plan drops jobs that are cut over (their legacy lines are disabled): "
                    + ", ".join(orphaned)
                    + "; run `owlmigrate rollback --to-legacy` for them first (or `owlmigrate stamp"
                    " JOB --not-cut-over` when their lines were restored by hand)",
                    path=plan_path,
                )
            files = plan_files(directory, rendering.files)
            result = GenerateResult(
                app_dir=str(directory),
                triggers=sorted(rendered_jobs),
                not_migrated=[asdict(n) for n in rendering.not_migrated],
                created=files.create,
                updated=files.update,
                unchanged=files.unchanged,
                hand_edited=files.hand_edited,
                removed=files.stale,
                dry_run=dry_run,
            )
            if dry_run:
                result.diff = unified_diff(directory, rendering.files, files.changes + files.stale)
                return result
            if files.hand_edited and not force:
                raise FindingError(
                    "edited by hand since generate (rerun with --force to overwrite; a backup is "
                    "kept): " + ", ".join(files.hand_edited),
                    path=directory,
                )
            if not files.changes and not files.stale:
                return result
            assert store is not None
            old = read_manifest(directory) or {}
            old_jobs = old.get("jobs", {}) or {}
            module_sha = rendering.manifest["files"][rendering.manifest["module"]]
            pending = []
            for trigger in rendering.triggers:
                before = old_jobs.get(trigger.job_id)
                fingerprint = rendering.manifest["jobs"][trigger.job_id]["fingerprint"]
                if before is None or before.get("fingerprint") != fingerprint:
                    pending.append(
                        _entry(
                            trigger.job_id,
                            "generate",
                            {"fingerprint": before.get("fingerprint") if before else None},
                            {"fingerprint": fingerprint, "module_sha256": module_sha},
                            reason="generated from " + str(Path(plan_path).name),
                        )
                    )
            for name in sorted(set(old_jobs) - rendered_jobs):
                pending.append(
                    _entry(
                        name,
                        "generate",
                        {"fingerprint": old_jobs[name].get("fingerprint")},
                        {"removed": True, "module_sha256": module_sha},
                        reason="not in " + str(Path(plan_path).name),
                    )
                )
            ids = [store.journal_append(e) for e in pending]
            crash_point("generate.journaled")
            try:
                result.backups = write_files(
                    directory, rendering.files, files, directory / ".owlmigrate" / "backups"
                )
            except OSError as exc:
                for entry_id in ids:
                    store.journal_update_status(entry_id, "undone")
                raise FindingError(
                    f"cannot write: {exc.strerror or exc}", path=exc.filename or directory
                ) from exc
            crash_point("generate.written")
            for entry_id in ids:
                store.journal_update_status(entry_id, "done")
            return result
    finally:
        if store is not None:
            store.close()
