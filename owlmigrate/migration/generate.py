"""``generate``: render the plan into the app directory, journaled."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from owlclaw_runtime.ledger import (
    LedgerStore,
    open_store,
)

from owlmigrate.atomic import crash_point
from owlmigrate.codegen.app_name import default_app_name
from owlmigrate.codegen.host import read_host_lines
from owlmigrate.codegen.render import MANIFEST_NAME, MODULE_NAME, Rendering, render
from owlmigrate.codegen.writer import plan_files, read_manifest, unified_diff, write_files
from owlmigrate.errors import FindingError
from owlmigrate.journal import (
    JobState,
    replay,
)
from owlmigrate.markers import AppRecord, app_record
from owlmigrate.migration._base import AppDir, _entry, exclusive
from owlmigrate.migration.ledger_identity import check_ledger, cut_over_jobs
from owlmigrate.migration.recovery import recover
from owlmigrate.rewrite.codemods import CodemodError, read_app_keyword

if TYPE_CHECKING:
    from owlmigrate.plan import Plan

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


def _identity(raw: Mapping[str, Any]) -> tuple[Any, ...]:
    """What makes a job the same job (docs/scanning.md, "Identity"); not its line number."""
    return (
        *(raw.get(k) for k in ("source", "schedule", "command", "user")),
        raw.get("kind") or "cron",
    )


def _describe(raw: Mapping[str, Any]) -> str:
    where = f"{raw.get('source')}:{raw.get('line')}" if raw.get("line") else raw.get("source")
    return f"{where} `{raw.get('command')}` ({raw.get('schedule')}, user {raw.get('user')})"


def _same_triggers(rendering: Rendering, old: Mapping[str, Any], plan_path: Path) -> None:
    """Refuse to point an existing trigger at a different job: its ledger history, journal,
    shadow and weight belong to the job it was generated for (and a cut-over trigger whose
    line was disabled would silently run another job)."""
    old_jobs = old.get("jobs") or {}
    clashes = []
    for trigger in rendering.triggers:
        before = (old_jobs.get(trigger.job_id) or {}).get("plan_job")
        if not before or _identity(before) == _identity(trigger.job):
            continue
        if (trigger.job.get("migration") or {}).get("marker") == trigger.job_id:
            # the scan verified this line's marker against the trigger's own cutover row: the
            # trigger was cut over for exactly this line, whatever the manifest says since
            continue
        clashes.append(
            f"trigger {trigger.job_id!r} runs {_describe(before)}, the plan gives that id to "
            f"{_describe(trigger.job)}"
        )
    if clashes:
        raise FindingError(
            "the plan points existing triggers at different jobs: "
            + "; ".join(clashes)
            + " (rescan with `owlmigrate scan -o PLAN --app DIR`, which keeps every id with its "
            "job)",
            path=plan_path,
        )


def _cut_over_agrees(
    plan: Plan,
    rendered: set[str],
    states: Mapping[str, JobState],
    record: AppRecord,
    plan_path: Path,
) -> None:
    """A plan job the scan found cut over must be this app's cutover, and a plan scanned with
    ``--app`` must find every live trigger's line still disabled."""
    problems = []
    for job in plan.jobs:
        if job.migration is not None and job.migration.marker not in record.cutover_hashes:
            problems.append(
                f"{job.id} ({job.source}:{job.line}) is cut over to trigger "
                f"{job.migration.marker!r}, which this app never cut over (generate into the app "
                "the plan was scanned with)"
            )
    if plan.app is not None:
        marked = {j.migration.marker for j in plan.jobs if j.migration is not None} | {
            j.runner.marker for j in plan.jobs if j.runner is not None and j.runner.marker
        }
        for name in sorted(rendered):
            if states.get(name) is not None and states[name].cut_over and name not in marked:
                problems.append(
                    f"trigger {name!r} is cut over and live, but the scan found its line "
                    "without our marker (it would run twice, or is gone): see the plan's risks "
                    f"(`owlmigrate rollback {name} --to-legacy --app DIR`)"
                )
    if problems:
        raise FindingError("; ".join(problems), path=plan_path)


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
            manifest = read_manifest(directory) or {}
            record = app_record(
                manifest, store.journal() if store is not None else [], str(directory)
            )
            rendering = render(
                data,
                plan_path=str(Path(plan_path).resolve()),
                weights={j: s.weight for j, s in states.items()},
                shadows={j: s.shadow for j, s in states.items()},
                host_lines=read_host_lines(data, app=record),
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
                    + "; rescan with `owlmigrate scan -o PLAN --app DIR` (it keeps cut-over jobs "
                    "in the plan), or run `owlmigrate rollback --to-legacy` for them first (or "
                    "`owlmigrate stamp JOB --not-cut-over` when their lines were restored by hand)",
                    path=plan_path,
                )
            _same_triggers(rendering, manifest, Path(plan_path))
            _cut_over_agrees(plan, rendered_jobs, states, record, Path(plan_path))
            files = plan_files(directory, rendering.files)
            result = GenerateResult(
                app_dir=str(directory),
                triggers=sorted(rendered_jobs),
                not_migrated=[
                    {"job_id": n.job_id, "source": n.source, "line": n.line, "reason": n.reason}
                    for n in rendering.not_migrated
                ],
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
