"""The migration verbs: ``generate``, ``cutover``, ``step``, ``rollback``, ``history``, stages.

Plain functions over an app directory and its ledger; they return data and never print (the
click commands in ``owlmigrate.commands`` render it). Every change is journaled Alembic-style:
a ``pending`` row is appended before any file changes and marked ``done`` after the last one, and
:func:`recover` (run first by every verb) inspects the files for each pending row left by a
killed process and completes or undoes it:

=================  ==========================================  ================================
row                complete when                                otherwise undo
=================  ==========================================  ================================
cutover            the crontab line carries the trigger marker  trigger back to shadow
step / soft back   the module holds the new weight              ledger weight back to the old
rollback legacy    the crontab line no longer carries a marker  ledger state back (re-run it)
generate           the manifest records the new module          (re-run generate)
=================  ==========================================  ================================

Order inside cutover is crontab, then module, then ledger override: a kill in between leaves the
job disabled on both sides (nothing runs twice) until the next command completes the switch.
"""

from __future__ import annotations

import base64
import contextlib
import getpass
import json
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from owlclaw_runtime.ledger import (
    JournalEntry,
    LedgerStore,
    ManagementEvent,
    TriggerState,
    open_store,
)

from owlmigrate.atomic import atomic_write, backup_file, crash_point, find_backup, sha256_bytes
from owlmigrate.codegen.host import read_host_lines
from owlmigrate.codegen.render import MANIFEST_NAME, render
from owlmigrate.codegen.writer import plan_files, read_manifest, unified_diff, write_files
from owlmigrate.errors import FindingError, UsageError
from owlmigrate.journal import (
    Evidence,
    GuardrailPolicy,
    JobState,
    replay,
    resolve_rollback_target,
    resolve_step_target,
    state_of,
    step_refusals,
)
from owlmigrate.rewrite.codemods import (
    CodemodError,
    read_cron_keyword,
    read_cron_keywords,
    set_cron_keyword,
    set_cron_keywords,
    weight_code,
)
from owlmigrate.rewrite.crontab_edit import (
    LineEdit,
    disable_lines,
    is_disabled,
    marker,
    restore_lines,
    strip_markers,
)

WINDOW_ENV = "OWLMIGRATE_SWITCH_WINDOW"
CRONTAB_CMD_ENV = "OWLMIGRATE_CRONTAB_CMD"
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
            raise UsageError(
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
    return open_store(url, app_dir=app_dir)


@contextlib.contextmanager
def _session(
    app_dir: str | Path, url: str | None
) -> Iterator[tuple[AppDir, LedgerStore, list[str]]]:
    app = AppDir.load(app_dir)
    store = open_ledger(app.path, url)
    try:
        notes = recover(app, store)
        yield app, store, notes
    finally:
        store.close()


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


def _write_crontab(app: AppDir, name: str, path: Path, data: bytes) -> None:
    """Atomic replace; a live user spool goes through ``crontab -u USER FILE`` so the daemon
    notices (Debian's cron only rereads a spool when crontab(1) touches the spool directory)."""
    if not app.is_live_spool(name):
        atomic_write(path, data, point="crontab")
        return
    user = app.job(name).get("user") or path.name
    fd, tmp = tempfile.mkstemp(prefix="owlmigrate-crontab-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        command = [os.environ.get(CRONTAB_CMD_ENV, "crontab"), "-u", str(user), tmp]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise FindingError(
                f"crontab refused the new file: {done.stderr.strip() or done.returncode}", path=path
            )
    finally:
        Path(tmp).unlink(missing_ok=True)


def _original_bytes(app: AppDir, path: Path, names_in_file: list[str]) -> tuple[bytes, bytes]:
    """(current bytes, bytes with every owlmigrate marker of this app removed)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FindingError("the crontab file is gone", path=path) from None
    return data, strip_markers(data, names_in_file)


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
    directory: Path, url: str | None, *, create: bool
) -> tuple[LedgerStore | None, dict[str, JobState]]:
    default_file = directory / "owlclaw-ledger.db"
    if (
        not create
        and not url
        and not os.environ.get("OWLCLAW_LEDGER_URL")
        and not default_file.exists()
    ):
        return None, {}
    directory.mkdir(parents=True, exist_ok=True)
    store = open_ledger(directory, url)
    return store, replay(store.journal())


def generate(
    plan_path: str | Path,
    out_dir: str | Path,
    *,
    dry_run: bool = False,
    force: bool = False,
    ledger_url: str | None = None,
) -> GenerateResult:
    """Render the plan into ``out_dir``: app module, skills, README and ``owlmigrate.json``.

    Rerunning is a no-op; a file edited by hand is refused (exit 1) unless ``force``, which backs
    it up first. The journal's state (cutover, weights) is rendered back in, so regenerating
    after a cutover or step changes nothing. Dropping a job that is cut over is refused.
    """
    from owlmigrate.plan import Plan

    plan = Plan.load(plan_path)
    directory = Path(out_dir).resolve()
    store, states = _journal_states(directory, ledger_url, create=not dry_run)
    try:
        if store is not None and not dry_run and (directory / MANIFEST_NAME).is_file():
            recover(AppDir.load(directory), store)
            states = replay(store.journal())
        data = plan.model_dump(mode="json")
        rendering = render(
            data,
            plan_path=str(Path(plan_path).resolve()),
            weights={j: s.weight for j, s in states.items()},
            shadows={j: s.shadow for j, s in states.items()},
            host_lines=read_host_lines(data),
        )
        rendered_jobs = {t.job_id for t in rendering.triggers}
        orphaned = sorted(j for j, s in states.items() if s.cut_over and j not in rendered_jobs)
        if orphaned:
            raise FindingError(
                "the new plan drops jobs that are cut over (their legacy lines are disabled): "
                + ", ".join(orphaned)
                + "; run `owlmigrate rollback --to-legacy` for them first",
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
        ids = [store.journal_append(e) for e in pending]
        crash_point("generate.journaled")
        result.backups = write_files(
            directory, rendering.files, files, directory / ".owlmigrate" / "backups"
        )
        crash_point("generate.written")
        for entry_id in ids:
            store.journal_update_status(entry_id, "done")
        return result
    finally:
        if store is not None:
            store.close()


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
            live = [n for n in by_file[path] if is_disabled(data, n)] + chosen
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
                            "line_b64": base64.b64encode(original_line).decode(),
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


# ---------------------------------------------------------------------------------------------
# step and soft rollback


@dataclass
class WeightResult:
    """Per job: ``{"from": w0, "to": w1, "status": ...}``; refusals are raised, not returned."""

    jobs: dict[str, dict[str, Any]]
    forced: bool = False
    recovered: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _agent_configured(app: AppDir) -> tuple[bool, str | None]:
    from owlclaw_runtime.errors import OwlClawError
    from owlclaw_runtime.loader import load_app

    try:
        loaded = load_app(app.path)
        return loaded.agent is not None, None
    except OwlClawError as exc:
        return False, f"the app's agent cannot be loaded: {exc}"


def evidence_for(
    store: LedgerStore,
    name: str,
    weight: float,
    *,
    tenant_id: str = "default",
    policy: GuardrailPolicy | None = None,
) -> Evidence:
    """The report's guardrail figures at ``weight`` (the fallback baseline at 0, the agent above
    it; skipped rows never count) and the breaker state."""
    from owlmigrate.report import Thresholds, guardrail_figures

    policy = policy or GuardrailPolicy()
    thresholds = Thresholds(
        min_executions=policy.min_executions, max_failure_rate=policy.max_failure_rate
    )
    figures = guardrail_figures(store, name, weight, tenant_id=tenant_id, thresholds=thresholds)
    breaker = store.get_breaker(name, tenant_id=tenant_id).state
    return Evidence(
        executions=figures.guardrail_executions,
        failures=figures.guardrail_failures,
        breaker=breaker,
    )


def _apply_weights(
    app: AppDir,
    store: LedgerStore,
    action: str,
    plan: dict[str, tuple[float, float, str | None]],
    *,
    tenant_id: str,
    forced: bool,
    reason: str | None,
    extra: dict[str, dict[str, Any]],
) -> dict[str, int]:
    """Journal, rewrite the module, override the ledger weight, mark done (crash points between)."""
    module = app.read_module()
    current = read_cron_keywords(module, "migration_weight", path=str(app.module_path))
    rows: dict[str, int] = {}
    for name, (old, new, literal) in plan.items():
        if name not in current:
            raise CodemodError(
                f"no single @app.cron decorator with event_name={name!r}", path=app.module_path
            )
        old_literal = current[name]
        rows[name] = store.journal_append(
            _entry(
                name,
                action,
                {"migration_weight": old, "literal": old_literal},
                {
                    "migration_weight": new,
                    "literal": literal or weight_code(new),
                    **extra.get(name, {}),
                },
                reason=reason,
                forced=forced,
            )
        )
    module = set_cron_keywords(
        module,
        {(n, "migration_weight"): lit or weight_code(new) for n, (_, new, lit) in plan.items()},
        path=str(app.module_path),
    ).source
    crash_point(f"{action}.journaled")
    app.write_module(module)
    crash_point(f"{action}.module_written")
    for name, (_old, new, _literal) in plan.items():
        _save_state(store, name, tenant_id, migration_weight=new)
        _event(store, name, action, tenant_id, {"migration_weight": new, "forced": forced})
    crash_point(f"{action}.state_saved")
    for entry_id in rows.values():
        store.journal_update_status(entry_id, "done")
    return rows


def step(
    app_dir: str | Path,
    jobs: Iterable[str] = (),
    *,
    all_jobs: bool = False,
    to: float | None = None,
    by: float | None = None,
    force: bool = False,
    policy: GuardrailPolicy | None = None,
    ledger_url: str | None = None,
    tenant_id: str = "default",
    reason: str | None = None,
) -> WeightResult:
    """Move ``migration_weight`` to ``to`` (or by ``by``) when the ledger's evidence allows.

    All-or-nothing: when any job is refused nothing changes and :class:`FindingError` lists every
    reason. ``force`` overrides the guardrails (never the [0, 1] bounds) and is journaled.
    """
    policy = policy or GuardrailPolicy()
    with _session(app_dir, ledger_url) as (app, store, notes):
        names = _select(app, jobs, all_jobs)
        states = replay(store.journal())
        result = WeightResult(jobs={}, forced=force, recovered=notes)
        plan: dict[str, tuple[float, float, str | None]] = {}
        refusals: list[str] = []
        agent: tuple[bool, str | None] | None = None
        for name in names:
            state = state_of(states, name)
            target = resolve_step_target(state, to=to, by=by)
            if target == state.weight:
                result.jobs[name] = {"from": state.weight, "to": target, "status": "unchanged"}
                continue
            evidence = evidence_for(store, name, state.weight, tenant_id=tenant_id, policy=policy)
            going_up = target > state.weight
            if going_up and target > 0.0 and agent is None:
                agent = _agent_configured(app)
            configured, agent_problem = agent if agent is not None else (False, None)
            evidence = replace(evidence, agent_configured=configured)
            reasons = step_refusals(state, target, evidence, policy)
            if agent_problem and going_up and target > 0.0:
                reasons = [r for r in reasons if not r.startswith("no agent")] + [agent_problem]
            if reasons and not force:
                refusals.extend(f"{name}: {r}" for r in reasons)
            plan[name] = (state.weight, target, None)
            result.jobs[name] = {
                "from": state.weight,
                "to": target,
                "status": "stepped",
                "overridden": reasons if force else [],
                "evidence": {
                    "executions": evidence.executions,
                    "failures": evidence.failures,
                    "breaker": evidence.breaker,
                },
            }
        if refusals:
            raise FindingError(
                "step refused (use --force to override):\n  " + "\n  ".join(refusals)
            )
        if plan:
            _apply_weights(
                app,
                store,
                "step",
                plan,
                tenant_id=tenant_id,
                forced=force,
                reason=reason,
                extra={n: {"overridden": result.jobs[n]["overridden"]} for n in plan},
            )
        return result


def soft_rollback(
    app: AppDir,
    store: LedgerStore,
    names: list[str],
    *,
    tenant_id: str,
    reason: str | None,
) -> dict[str, dict[str, Any]]:
    """Weight back to the previous step (or 0), writing back the exact literal it had."""
    states = replay(store.journal())
    plan: dict[str, tuple[float, float, str | None]] = {}
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        state = state_of(states, name)
        target, literal = resolve_rollback_target(state)
        if target == state.weight and len(state.weights) == 1:
            out[name] = {"from": state.weight, "to": target, "status": "unchanged"}
            continue
        plan[name] = (state.weight, target, literal)
        out[name] = {"from": state.weight, "to": target, "status": "rolled back"}
    if plan:
        _apply_weights(
            app, store, "rollback", plan, tenant_id=tenant_id, forced=False, reason=reason, extra={}
        )
    return out


# ---------------------------------------------------------------------------------------------
# rollback


def _last_done(store: LedgerStore, name: str, action: str) -> JournalEntry | None:
    rows = [e for e in store.journal(name) if e.action == action and e.status == "done"]
    return rows[-1] if rows else None


def _restored_bytes(app: AppDir, store: LedgerStore, name: str, path: Path) -> bytes:
    """The crontab with ``name``'s marker removed; a missing file comes back from its backup."""
    cut = _last_done(store, name, "cutover")
    original_line = base64.b64decode(cut.to_state["line_b64"]) if cut else None
    if not path.exists():
        digest = cut.to_state.get("backup_sha256") if cut else None
        backup = find_backup(app.backups, digest) if digest else None
        if backup is None:
            raise FindingError("the crontab file is gone and no backup of it is kept", path=path)
        return restore_lines(backup.read_bytes(), name, original_line, path=str(path))
    return restore_lines(path.read_bytes(), name, original_line, path=str(path))


def rollback(
    app_dir: str | Path,
    jobs: Iterable[str] = (),
    *,
    all_jobs: bool = False,
    to_legacy: bool = False,
    ledger_url: str | None = None,
    tenant_id: str = "default",
    reason: str | None = None,
) -> WeightResult:
    """Soft: the weight goes back one step (or to 0). ``to_legacy``: pause the triggers, restore
    the legacy lines byte for byte, and put the module back to shadow at weight 0. Idempotent."""
    with _session(app_dir, ledger_url) as (app, store, notes):
        names = _select(app, jobs, all_jobs)
        if not to_legacy:
            out = soft_rollback(app, store, names, tenant_id=tenant_id, reason=reason)
            return WeightResult(jobs=out, recovered=notes)
        return WeightResult(jobs=_to_legacy(app, store, names, tenant_id, reason), recovered=notes)


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
                base64.b64decode(cut.to_state["line_b64"]) if cut else None,
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


# ---------------------------------------------------------------------------------------------
# recovery of rows left pending by a killed process


def recover(app: AppDir, store: LedgerStore, *, tenant_id: str = "default") -> list[str]:
    """Complete or undo every ``pending`` journal row by inspecting the files. Returns notes."""
    notes: list[str] = []
    for entry in store.journal():
        if entry.status != "pending" or entry.id is None:
            continue
        status = _resolve(app, store, entry, tenant_id)
        store.journal_update_status(entry.id, status)
        verb = "completed" if status == "done" else "undid"
        notes.append(f"{verb} interrupted {entry.action} of {entry.job} (journal row {entry.id})")
    return notes


def _resolve(app: AppDir, store: LedgerStore, entry: JournalEntry, tenant_id: str) -> str:
    name = entry.job
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
            app.write_module(set_cron_keyword(module, name, "shadow", "False", path=mpath).source)
            _save_state(store, name, tenant_id, shadow=False, paused=False)
            return "done"
        literal = entry.from_state.get("shadow_literal") or "True"
        app.write_module(set_cron_keyword(module, name, "shadow", literal, path=mpath).source)
        _save_state(
            store, name, tenant_id, shadow=True, paused=bool(entry.from_state.get("paused"))
        )
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
            app.write_module(module)
            _save_state(store, name, tenant_id, paused=True, shadow=True, migration_weight=0.0)
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


# ---------------------------------------------------------------------------------------------
# history and stages


def history(
    app_dir: str | Path, *, job: str | None = None, ledger_url: str | None = None
) -> list[dict[str, Any]]:
    """The journal, oldest first, as plain dicts (read-only: pending rows are shown, not fixed)."""
    app = AppDir.load(app_dir)
    store = open_ledger(app.path, ledger_url)
    try:
        rows = store.journal(job)
    finally:
        store.close()
    out = []
    for entry in rows:
        item = asdict(entry)
        item["at"] = entry.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for key in ("from_state", "to_state"):
            item[key] = {k: v for k, v in item[key].items() if k not in ("line_b64",)}
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
        out[name] = {
            "stage": state.stage if state.stage != "not generated" else "generated",
            "migration_weight": state.weight,
            "weights": list(state.weights),
            "shadow": trigger.shadow if trigger.shadow is not None else state.shadow,
            "paused": trigger.paused,
            "pending": [e.action for e in state.pending],
        }
    return out
