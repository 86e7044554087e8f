"""``scan``: the inventory verb. Finds every crontab source, parses it as the host's daemon
would, analyses what each job calls, flags risks, and returns a :class:`~owlmigrate.plan.Plan`.

It never prints and never raises for a bad source: problems are recorded on the source.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from owlclaw_runtime.redact import redact, redact_env
from owlclaw_runtime.schedule import CronSyntaxError, describe
from owlclaw_runtime.schedule import parse as parse_schedule

from owlmigrate.analyze.calls import Resolver, build_calls
from owlmigrate.analyze.ids import KnownIds, assign_ids, identity, naming_words
from owlmigrate.analyze.risks import JobContext, job_risks, migration_risk
from owlmigrate.analyze.shell import ShellAnalysis, analyze_command
from owlmigrate.crontab import CrontabFile, CrontabLine, LineKind, parse_anacrontab, parse_crontab
from owlmigrate.crontab.header import content_sha256, install_header
from owlmigrate.errors import UsageError
from owlmigrate.markers import (
    AppRecord,
    FoundMarker,
    find_markers,
    restore_command,
    verdict,
    without,
)
from owlmigrate.plan import (
    Host,
    Job,
    JobMigration,
    MarkerLine,
    Plan,
    PlanRisk,
    RetiredJob,
    Risk,
    Runner,
    Source,
    SourceError,
)
from owlmigrate.rewrite.crontab_edit import MARKER_LEAD
from owlmigrate.sources import (
    Candidate,
    HostFacts,
    detect_format,
    detect_host,
    discover,
    periodic_scripts,
    read_source,
)

Progress = Callable[[int, int, str], None]
FORMATS = ("auto", "user", "system", "anacrontab")
# Directories that run-parts lines usually run; listed even when nothing runs them.
PERIODIC_DIRS = (
    "etc/cron.hourly",
    "etc/cron.daily",
    "etc/cron.weekly",
    "etc/cron.monthly",
    "etc/periodic/15min",
    "etc/periodic/hourly",
    "etc/periodic/daily",
    "etc/periodic/weekly",
    "etc/periodic/monthly",
)


@dataclass(slots=True)
class _Draft:
    job: Job
    naming: list[str]
    order: tuple[int, int]
    fixed: str | None = None  # the id our verified cutover marker names


@dataclass(slots=True)
class _State:
    host: HostFacts
    sources: list[Source] = field(default_factory=list)
    drafts: list[_Draft] = field(default_factory=list)
    runners: list[tuple[str, list[str], _Draft | None, Job]] = field(default_factory=list)
    script_cache: dict[str, dict[str, Any]] = field(default_factory=dict)
    markers: list[MarkerLine] = field(default_factory=list)
    risks: list[PlanRisk] = field(default_factory=list)
    marker_names: set[str] = field(default_factory=set)


def clean_text(text: str) -> str:
    """Text safe for JSON: bytes that are not UTF-8 become ``\\xNN`` escapes."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _spec(line: CrontabLine, dialect: str) -> Any:
    if line.spec is not None:
        return line.spec
    if line.schedule is None:
        return None
    try:
        return parse_schedule(line.schedule, dialect=dialect)
    except CronSyntaxError:
        return None


def _describe(schedule: str, dialect: str) -> str | None:
    try:
        return describe(schedule, dialect=dialect)
    except (CronSyntaxError, ValueError):
        return None


def _source_errors(f: CrontabFile, notes: Sequence[str]) -> list[SourceError]:
    errors = [SourceError(line=None, message=n) for n in notes]
    if b"\0" in f.data:
        errors.append(SourceError(line=None, message="binary content (NUL bytes)"))
    for ln in f.lines:
        if ln.kind is LineKind.INVALID and ln.error:
            errors.append(SourceError(line=ln.number, message=clean_text(redact(ln.error))))
        try:
            ln.raw.decode("utf-8")
        except UnicodeDecodeError:
            errors.append(
                SourceError(
                    line=ln.number,
                    message="not valid UTF-8: kept byte for byte (shown as \\x escapes)",
                )
            )
    return errors


def _counts(f: CrontabFile) -> dict[str, int]:
    out: dict[str, int] = {}
    for ln in f.lines:
        out[ln.kind.value] = out.get(ln.kind.value, 0) + 1
    return out


def _semantics(host: HostFacts, env: dict[str, str]) -> tuple[str, str]:
    if host.dialect == "busybox":
        return host.timezone, "wallclock"
    tz = env.get("CRON_TZ")
    if host.dialect.startswith("cronie") and tz:
        # An unknown CRON_TZ makes glibc fall back to UTC (cron-semantics 2.3).
        return (tz if _valid_zone(tz) else "UTC"), "wallclock"
    return host.timezone, "daemon"


def _valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _random_delay(host: HostFacts, env: dict[str, str]) -> int | None:
    if not host.dialect.startswith("cronie"):
        return None
    try:
        value = int(env.get("RANDOM_DELAY", "0").strip() or 0)
    except ValueError:
        return None
    return value or None


class _Scanner:
    def __init__(
        self, host: HostFacts, progress: Progress | None, app: AppRecord | None = None
    ) -> None:
        self.s = _State(host)
        self.progress = progress
        self.order = 0
        self.app = app

    def crontab_source(
        self,
        rel: str,
        data: bytes,
        *,
        kind: str,
        user: str | None,
        system: bool,
        runs: bool,
        reason: str | None,
        notes: Sequence[str],
        dialect: str,
    ) -> None:
        host = self.s.host
        users = set(host.users) if host.users else None
        f = parse_crontab(data, path=rel, dialect=dialect, system=system, user=user, users=users)
        src_runs = runs and f.runs
        src = Source(
            path=rel,
            kind=kind,
            user=user,
            runs=src_runs,  # type: ignore[arg-type]
            reason=reason if not runs else f.reason,
            errors=_source_errors(f, notes),
            dialect=dialect,
            sha256=f.sha256,
            size=len(data),
            lines=len(f.lines),
            counts=_counts(f),
            system_format=system,
        )
        self.s.sources.append(src)
        cut = self._markers(f, src, kind=kind, user=user, system=system, dialect=dialect)
        for ln in f.lines:
            if ln.number in cut:
                found, freed_line = cut[ln.number]
                migration = JobMigration(
                    state="cut_over", marker=found.name, line_sha256=found.freed_sha256
                )
                self._job_from_line(
                    f,
                    freed_line,
                    src,
                    user if not system else freed_line.user,
                    migration=migration,
                    span=(found.start - f.header_len, found.end - f.header_len),
                )
                continue
            if not ln.is_job or ln.raw.startswith(MARKER_LEAD):
                # a marker-shaped comment that is not ours stays a comment, never a job
                continue
            self._job_from_line(f, ln, src, user if not system else ln.user)

    def _markers(
        self,
        f: CrontabFile,
        src: Source,
        *,
        kind: str,
        user: str | None,
        system: bool,
        dialect: str,
    ) -> dict[int, tuple[FoundMarker, CrontabLine]]:
        """List the file's marker lines; return ours (by line number) with the original line
        parsed where it stood, so it keeps its environment and line number."""
        found = find_markers(f.data)
        if not found:
            return {}
        counts: dict[bytes, int] = {}
        for fm in found:
            counts[fm.prefix] = counts.get(fm.prefix, 0) + 1
        statuses = {
            fm.start: verdict(fm, src.path, self.app, groups=counts[fm.prefix]) for fm in found
        }
        chosen = [fm for fm in found if statuses[fm.start] == "cut_over"]
        out: dict[int, tuple[FoundMarker, CrontabLine]] = {}
        if chosen:
            host = self.s.host
            users = set(host.users) if host.users else None
            g = parse_crontab(
                without(f.data, [fm.name for fm in chosen]),
                path=src.path,
                dialect=dialect,
                system=system,
                user=user,
                users=users,
            )
            for fm in chosen:
                try:
                    ln = g.line(fm.number)
                except KeyError:
                    ln = None
                if (
                    ln is None
                    or ln.kind is not LineKind.JOB
                    or (ln.number, ln.end_number) != (fm.number, fm.end_number)
                ):
                    # cutover only ever marks whole job lines
                    statuses[fm.start] = "not_ours"
                    continue
                out[fm.number] = (fm, ln)
        host_path = "/" + src.path if self.s.host.root is not None else src.path
        for fm in found:
            status = statuses[fm.start]
            self.s.marker_names.add(fm.name)
            app_dir = self.app.directory if self.app is not None else None
            knows = self.app is not None and fm.name in self.app.triggers
            restore = restore_command(
                fm.prefix,
                trigger=fm.name,
                source=src.path,
                kind=kind,
                user=user,
                host_path=host_path,
                app_dir=app_dir if status == "cut_over" and knows else None,
            )
            self.s.markers.append(
                MarkerLine(
                    source=src.path,
                    line=fm.number,
                    end_line=fm.end_number if fm.end_number != fm.number else None,
                    trigger=fm.name,
                    status=status,  # type: ignore[arg-type]
                    job=fm.name if status == "cut_over" else None,
                    restore=restore,
                )
            )
            where = f"{src.path}:{fm.number}"
            if status == "cut_over":
                assert self.app is not None
                if fm.name not in self.app.cut_over:
                    self._plan_risk(
                        "marker_trigger_not_live",
                        where,
                        fm,
                        src,
                        restore,
                        why="stamped or rolled back since",
                    )
                continue
            code = {
                "unverified": "marker_unverified",
                "no_trigger": "marker_without_trigger",
            }.get(status, "marker_not_ours")
            why = ""
            if code == "marker_not_ours":
                why = _not_ours_reason(fm, src.path, self.app, counts[fm.prefix])
            self._plan_risk(code, where, fm, src, restore, why=why)
        return out

    def _plan_risk(
        self,
        code: str,
        where: str,
        fm: FoundMarker,
        src: Source,
        restore: str | None,
        *,
        why: str = "",
    ) -> None:
        risk = migration_risk(code, where=where, trigger=fm.name, why=why)
        self.s.risks.append(
            PlanRisk(
                code=risk.code,
                message=risk.message,
                source=src.path,
                line=fm.number,
                trigger=fm.name,
                restore=restore,
            )
        )

    def _job_from_line(
        self,
        f: CrontabFile,
        ln: CrontabLine,
        src: Source,
        user: str | None,
        *,
        migration: JobMigration | None = None,
        span: tuple[int, int] | None = None,
    ) -> None:
        host = self.s.host
        env = dict(ln.env)
        tz, semantics = _semantics(host, env)
        spec = _spec(ln, f.dialect)
        command = ln.command or ""
        sh = analyze_command(clean_text(command))
        home = host.users[user].home if user and user in host.users else None
        resolver = Resolver(host.root, host.dialect, home, env, self.s.script_cache)
        calls, relative, scripts = build_calls(sh, resolver)
        enabled = ln.kind is LineKind.JOB and src.runs
        kind = "reboot" if spec is not None and spec.reboot else "cron"
        job = Job(
            id="",
            source=src.path,
            line=ln.number,
            end_line=ln.end_number if ln.end_number != ln.number else None,
            schedule=clean_text(ln.schedule or ""),
            user=user,
            command=clean_text(redact(command)),
            stdin=clean_text(redact(ln.stdin)) if ln.stdin is not None else None,
            env={k: clean_text(v) for k, v in redact_env(env).items()},
            timezone=tz,
            daemon_timezone=host.timezone,
            dialect=f.dialect,
            semantics=semantics,  # type: ignore[arg-type]
            enabled=enabled,
            kind=kind,  # type: ignore[arg-type]
            description=_describe(ln.schedule, f.dialect) if ln.schedule and spec else None,
            calls=calls,
            shell=env.get("SHELL", "/bin/sh"),
            source_sha256=f.sha256,
            # spans count from the end of crontab(1)'s install header (crontab/header.py)
            span=span or (ln.start - f.header_len, ln.end - f.header_len),
            random_delay=_random_delay(host, env),
            flags=list(ln.flags),
            variables=list(sh.variables),
            migration=migration,
        )
        ctx = JobContext(
            dialect=f.dialect,
            kind=kind,
            schedule=job.schedule,
            spec=spec,
            command=command,
            command_raw=ln.command_raw or command,
            stdin=ln.stdin,
            env=env,
            user=user,
            users=set(host.users),
            timezone=tz,
            semantics=semantics,
            host_systemd=host.systemd,
            shell=sh,
            warnings=ln.warnings,
            source_runs=src.runs,
            source_reason=src.reason,
            script_details=scripts,
            relative=relative,
            random_delay=job.random_delay,
        )
        if ln.kind is LineKind.DISABLED_JOB:
            ctx.source_runs = True  # a commented-out job is reported as disabled, not ignored
        job.risks = job_risks(ctx)
        self.order += 1
        draft = _Draft(
            job,
            naming_words(sh, command),
            (len(self.s.sources), self.order),
            fixed=migration.marker if migration is not None else None,
        )
        if (
            sh.run_parts
            and ln.kind is LineKind.JOB
            and self._only_run_parts(sh)
            and host.root is not None
        ):
            # The line's work is the scripts of the directory: they become the jobs.
            self.s.runners.append((src.path, sh.run_parts, None, job))
            return
        self.s.drafts.append(draft)

    @staticmethod
    def _only_run_parts(sh: ShellAnalysis) -> bool:
        return all(c.base == "run-parts" for c in sh.main)

    def anacrontab(self, rel: str, data: bytes, notes: Sequence[str]) -> None:
        host = self.s.host
        f = parse_anacrontab(data, path=rel)
        src = Source(
            path=rel,
            kind="anacrontab",
            user="root",
            runs=True,
            errors=_source_errors(f, notes),
            dialect="anacron",
            sha256=f.sha256,
            size=len(data),
            lines=len(f.lines),
            counts=_counts(f),
        )
        self.s.sources.append(src)
        for ln in f.jobs:
            assert ln.anacron is not None
            env = dict(ln.env)
            command = ln.command or ""
            sh = analyze_command(clean_text(command))
            resolver = Resolver(host.root, host.dialect, "/root", env, self.s.script_cache)
            calls, relative, scripts = build_calls(sh, resolver)
            try:
                extra = int(env.get("RANDOM_DELAY", "0") or 0)
            except ValueError:
                extra = 0
            a = ln.anacron
            job = Job(
                id="",
                source=rel,
                line=ln.number,
                schedule=a.period,
                user="root",
                command=clean_text(redact(command)),
                env=redact_env(env),
                timezone=host.timezone,
                daemon_timezone=host.timezone,
                dialect="anacron",
                semantics="daemon",
                enabled=True,
                kind="anacron",
                description=_anacron_description(a.period, a.delay, env),
                calls=calls,
                shell=env.get("SHELL", "/bin/sh"),
                source_sha256=f.sha256,
                span=(ln.start - f.header_len, ln.end - f.header_len),
                random_delay=(a.delay + extra) or None,
                anacron={
                    "period": a.period,
                    "delay": a.delay,
                    "job_id": a.job_id,
                    "start_hours_range": env.get("START_HOURS_RANGE"),
                },
            )
            ctx = JobContext(
                dialect="anacron",
                kind="anacron",
                schedule=a.period,
                spec=None,
                command=command,
                command_raw=command,
                stdin=None,
                env=env,
                user="root",
                users=set(host.users),
                timezone=host.timezone,
                semantics="daemon",
                host_systemd=host.systemd,
                shell=sh,
                script_details=scripts,
                relative=relative,
                random_delay=job.random_delay,
            )
            job.risks = job_risks(ctx)
            self.order += 1
            if sh.run_parts and self._only_run_parts(sh) and host.root is not None:
                self.s.runners.append((rel, sh.run_parts, None, job))
                continue
            self.s.drafts.append(
                _Draft(job, naming_words(sh, command), (len(self.s.sources), self.order))
            )

    def expand_periodic(self) -> None:
        host = self.s.host
        if host.root is None:
            return
        anacron_installed = (host.root / "usr/sbin/anacron").exists()
        covered: set[str] = set()
        for src_path, dirs, _d, runner in self.s.runners:
            guarded = runner.has_risk("anacron") and runner.kind != "anacron"
            for directory in dirs:
                rel_dir = directory.lstrip("/").rstrip("/")
                if guarded and anacron_installed:
                    self.s.sources.append(
                        Source(
                            path=rel_dir,
                            kind="periodic",
                            user=runner.user,
                            runs=False,
                            reason=f"{src_path}:{runner.line} skips it because anacron is "
                            "installed (test -x /usr/sbin/anacron); anacron runs it instead",
                        )
                    )
                    continue
                covered.add(rel_dir)
                if not (host.root / rel_dir).is_dir():
                    self.s.sources.append(
                        Source(
                            path=rel_dir,
                            kind="periodic",
                            user=runner.user,
                            runs=False,
                            reason=f"{src_path}:{runner.line} runs it, but it is not in the tree",
                            errors=[SourceError(line=None, message="directory not found")],
                        )
                    )
                    continue
                for rel, runs, reason in periodic_scripts(host, rel_dir):
                    self._periodic_job(rel, runs, reason, runner, src_path)
        for rel_dir in PERIODIC_DIRS:
            if rel_dir in covered or not (host.root / rel_dir).is_dir():
                continue
            if any(s.path == rel_dir for s in self.s.sources):
                continue
            entries = [e for e in periodic_scripts(host, rel_dir) if e[1]]
            if entries:
                self.s.sources.append(
                    Source(
                        path=rel_dir,
                        kind="periodic",
                        runs=False,
                        reason="no crontab or anacrontab line runs this directory",
                    )
                )

    def _periodic_job(
        self, rel: str, runs: bool, reason: str | None, runner: Job, src_path: str
    ) -> None:
        host = self.s.host
        assert host.root is not None
        data, error = read_source(host.root / rel) if runs else (None, None)
        sha = hashlib.sha256(data).hexdigest() if data is not None else None
        src = Source(
            path=rel,
            kind="periodic",
            user=runner.user,
            runs=runs and data is not None,
            reason=reason or error,
            sha256=sha,
            size=len(data) if data is not None else None,
        )
        if error:
            src.errors.append(SourceError(line=None, message=error))
        self.s.sources.append(src)
        if not src.runs or data is None:
            return
        resolver = Resolver(host.root, host.dialect, "/root", dict(runner.env), self.s.script_cache)
        details = resolver.details("/" + rel) or {}
        command = "/" + rel
        sh = analyze_command(clean_text(command))
        calls, relative, scripts = build_calls(sh, resolver)
        kind = "anacron" if runner.kind == "anacron" else "periodic"
        job = runner.model_copy(
            update={
                "id": "",
                "source": rel,
                "line": None,
                "end_line": None,
                "command": command,
                "stdin": None,
                "kind": kind,
                "calls": calls,
                "source_sha256": sha or "",
                "span": None,
                "runner": Runner(
                    source=src_path,
                    line=runner.line,
                    command=runner.command,
                    marker=runner.migration.marker if runner.migration is not None else None,
                ),
                "risks": [],
                "migration": None,
            }
        )
        ctx = JobContext(
            dialect=runner.dialect,
            kind=kind,
            schedule=runner.schedule,
            spec=None if kind == "anacron" else _spec_of(runner),
            command=command,
            command_raw=command,
            stdin=None,
            env=dict(runner.env),
            user=runner.user,
            users=set(host.users),
            timezone=runner.timezone,
            semantics=runner.semantics,
            host_systemd=host.systemd,
            shell=sh,
            script_details=scripts or [details],
            relative=relative,
            random_delay=runner.random_delay,
            via_anacron=kind == "anacron",
        )
        job.risks = job_risks(ctx)
        self.order += 1
        name = posixpath.basename(rel)
        self.s.drafts.append(_Draft(job, [name], (len(self.s.sources), self.order)))


def _not_ours_reason(fm: FoundMarker, source: str, app: AppRecord | None, groups: int) -> str:
    if app is None:
        return "no app to vouch for it"
    if not fm.canonical:
        return "not a marker cutover writes"
    if groups != 1:
        return "the same marker disables more than one place"
    if app.triggers.get(fm.name) != source:
        return f"trigger {fm.name!r} lives in {app.triggers.get(fm.name)}"
    if fm.name not in app.cutover_hashes:
        return "the journal has no cutover of it"
    if fm.freed_sha256 not in app.cutover_hashes[fm.name]:
        return "the line differs from the one cutover disabled"
    return "it does not disable a whole job line"


def _spec_of(job: Job) -> Any:
    try:
        return parse_schedule(job.schedule, dialect=job.dialect)
    except CronSyntaxError:
        return None


def _anacron_description(period: str, delay: int, env: dict[str, str]) -> str:
    days = {
        "@daily": "every day",
        "@weekly": "every 7 days",
        "@monthly": "once a month",
        "@yearly": "once a year",
        "@annually": "once a year",
    }.get(period)
    if days is None:
        days = "every day" if period == "1" else f"every {period} days"
    text = f"anacron: {days}, {delay} min after anacron starts"
    if env.get("START_HOURS_RANGE"):
        text += f", only between hours {env['START_HOURS_RANGE']}"
    return text


def _expand_paths(paths: Sequence[str]) -> list[tuple[str, Path | None]]:
    out: list[tuple[str, Path | None]] = []
    for p in paths:
        if p == "-":
            out.append(("-", None))
            continue
        path = Path(p)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() or child.is_symlink():
                    out.append((str(child), child))
        else:
            out.append((p, path))
    return out


def scan(
    paths: Sequence[str] = (),
    *,
    root: str | Path | None = None,
    dialect: str | None = None,
    timezone: str | None = None,
    systemd: bool | None = None,
    file_format: str = "auto",
    enforce_modes: bool | None = None,
    stdin_data: bytes | None = None,
    progress: Progress | None = None,
    previous: Plan | None = None,
    app: str | Path | AppRecord | None = None,
    ledger_url: str | None = None,
) -> Plan:
    """Scan a host tree (``root``) and/or crontab files (``paths``; ``-`` is ``stdin_data``).

    With neither, the live host (``/``) is scanned. ``previous`` (an earlier plan of the same
    host) keeps the ids of jobs that are still there, and never gives the id of a job that is
    gone to another one. ``app`` (a generated app directory, its ledger at ``ledger_url`` or the
    usual place) lets the scan recognise our cutover markers: a job whose line carries a marker
    the app's journal vouches for stays in the plan as cut over, under its trigger's id; every
    id the app's triggers or journal hold is kept from other jobs. Raises :class:`UsageError`
    for a root that is not a directory, an unknown format or an ``app`` that is not a generated
    app; everything else is reported in the plan.
    """
    if file_format not in FORMATS:
        raise UsageError(f"unknown format {file_format!r}; expected one of {', '.join(FORMATS)}")
    if not paths and root is None:
        root = "/"
    root_path = Path(root) if root is not None else None
    if root_path is not None and not root_path.is_dir():
        raise UsageError(f"--root {root}: not a directory")
    host = detect_host(root_path, dialect=dialect, timezone=timezone, systemd=systemd)
    record = read_app_record(app, ledger_url) if isinstance(app, (str, Path)) else app
    scanner = _Scanner(host, progress, record)
    candidates: list[Candidate] = discover(host, enforce_modes=enforce_modes) if root_path else []
    files = _expand_paths(paths)
    total = len(candidates) + len(files)
    done = 0
    for c in candidates:
        done += 1
        if progress:
            progress(done, total, c.rel)
        data, error = read_source(c.abspath) if c.runs or c.reason else (None, None)
        if data is None:
            scanner.s.sources.append(
                Source(
                    path=c.rel,
                    kind=c.kind,
                    user=c.user,  # type: ignore[arg-type]
                    runs=False,
                    reason=c.reason or error,
                    errors=[SourceError(line=None, message=error or c.reason or "unreadable")],
                )
            )
            continue
        if c.kind == "anacrontab":
            scanner.anacrontab(c.rel, data, c.notes)
            continue
        scanner.crontab_source(
            c.rel,
            data,
            kind=c.kind,
            user=c.user,
            system=c.system_format,
            runs=c.runs,
            reason=c.reason,
            notes=c.notes,
            dialect=host.dialect,
        )
    for shown, path in files:
        done += 1
        if progress:
            progress(done, total, shown)
        if path is None:
            data, error = stdin_data, None if stdin_data is not None else "no data on stdin"
        else:
            data, error = read_source(path)
        if data is None:
            scanner.s.sources.append(
                Source(
                    path=shown,
                    kind="file",
                    runs=False,
                    reason=error,
                    errors=[SourceError(line=None, message=error or "unreadable")],
                )
            )
            continue
        if file_format == "anacrontab" or (
            file_format == "auto" and posixpath.basename(shown).endswith("anacrontab")
        ):
            scanner.anacrontab(shown, data, [])
            continue
        if file_format == "auto":
            system, why = detect_format(data, host.dialect, sorted(host.users))
            notes = [f"format detected: {'system' if system else 'user'} ({why})"]
        else:
            system, notes = file_format == "system", []
        scanner.crontab_source(
            shown,
            data,
            kind="file",
            user=None,
            system=system,
            runs=True,
            reason=None,
            notes=notes,
            dialect=host.dialect,
        )
    scanner.expand_periodic()
    known = KnownIds.from_plan(previous)
    if record is not None:
        for name, ident in record.identities.items():
            known.add(ident, name, priority=0, line=record.lines.get(name))
        known.reserved |= set(record.names)
    reserved_here = scanner.s.marker_names - known.reserved
    known.reserved |= scanner.s.marker_names
    assign_ids(scanner.s.drafts, known=known)
    drafts = sorted(scanner.s.drafts, key=lambda d: d.order)
    jobs = [d.job for d in drafts]
    ids = {j.id for j in jobs}
    for m in scanner.s.markers:
        if m.job is not None and m.job not in ids:
            m.job = None  # a run-parts line: its directory's scripts name it in runner.marker
    if record is not None:
        _cut_over_checks(scanner, record, jobs)
    return Plan(
        host=Host(
            root=str(root_path.resolve()) if root_path is not None else None,
            dialect=host.dialect,
            timezone=host.timezone,
            systemd=host.systemd,
            users=sorted(host.users),
            os_id=host.os_id,
            os_name=host.os_name,
            detected=host.detected,
        ),
        sources=scanner.s.sources,
        jobs=jobs,
        app=record.directory if record is not None else None,
        markers=scanner.s.markers,
        risks=scanner.s.risks,
        retired=_retired(known, jobs, reserved_here),
    )


def read_app_record(app_dir: str | Path, ledger_url: str | None = None) -> AppRecord:
    """What a generated app knows (manifest and journal), for ``scan --app DIR``. The ledger is
    only opened when it exists: scanning never creates one."""
    from owlmigrate.codegen.writer import read_manifest
    from owlmigrate.markers import app_record

    directory = Path(app_dir)
    manifest = read_manifest(directory)
    if manifest is None:
        raise UsageError(
            f"--app {app_dir}: no readable owlmigrate.json (not a generated app directory)"
        )
    entries: list[Any] = []
    if (
        ledger_url
        or os.environ.get("OWLCLAW_LEDGER_URL")
        or (directory / "owlclaw-ledger.db").exists()
    ):
        from owlmigrate.migration._base import open_ledger

        store = open_ledger(directory.resolve(), ledger_url)
        try:
            entries = store.journal()
        finally:
            store.close()
    return app_record(manifest, entries, directory=str(directory.resolve()))


def _cut_over_checks(scanner: _Scanner, record: AppRecord, jobs: list[Job]) -> None:
    """A trigger the journal says is cut over must find its verified marker in its file: when
    the line is gone, rolling back cannot bring it back; when it is active again, the job runs
    twice."""
    scanned = {s.path: s for s in scanner.s.sources}
    ours = {m.trigger for m in scanner.s.markers if m.status == "cut_over"}
    by_identity = {identity(j): j for j in jobs if j.enabled and not j.cut_over}
    app_dir = record.directory or "."
    for name in sorted(record.cut_over):
        source = record.triggers.get(name)
        if source is None or source not in scanned or name in ours:
            continue
        src = scanned[source]
        line = record.lines.get(name)
        where = f"{source}:{line}" if line else source
        rollback = restore_command(
            b"",
            trigger=name,
            source=source,
            kind=src.kind,
            user=src.user,
            host_path="",
            app_dir=app_dir,
        )
        active = by_identity.get(record.identities.get(name))  # type: ignore[arg-type]
        if active is not None:
            risk = migration_risk(
                "cut_over_line_active", where=f"{active.source}:{active.line}", trigger=name
            )
            active.risks.append(risk)
            restore = rollback
        else:
            edited = any(m.trigger == name for m in scanner.s.markers)
            why = "its marker was edited" if edited else "the line is gone"
            risk = migration_risk("cut_over_marker_missing", where=where, trigger=name, why=why)
            restore = _readd_command(rollback, record.backups.get(name), line, src, scanner)
        scanner.s.risks.append(
            PlanRisk(
                code=risk.code,
                message=risk.message,
                source=source,
                line=line,
                trigger=name,
                restore=restore,
            )
        )


def _readd_command(
    rollback: str, backup: str | None, line: int | None, src: Source, scanner: _Scanner
) -> str:
    """Put the line back from the cutover's backup, which holds the file as it was just before
    the cutover (line numbers unchanged by markers), then hand the job to it (rollback pauses
    the trigger once the line is active): the trigger runs the job until then."""
    if backup is None or line is None:
        return rollback
    take = f"sed -n {shlex.quote(f'{line}p')} {shlex.quote(backup)}"
    if src.kind == "user" and src.user:
        u = shlex.quote(src.user)
        return f"{{ crontab -u {u} -l; {take}; }} | crontab -u {u} - && {rollback}"
    host_path = "/" + src.path if scanner.s.host.root is not None else src.path
    return f"{take} >> {shlex.quote(host_path)} && {rollback}"


def _retired(known: KnownIds, jobs: list[Job], transient: set[str]) -> list[RetiredJob]:
    """Every id known before this scan that no job of it holds (never to be given again)."""
    used = {j.id for j in jobs} | {
        j.runner.marker for j in jobs if j.runner is not None and j.runner.marker
    }
    out: dict[str, RetiredJob] = {}
    for _priority, line, ident, job_id in sorted(known.entries, key=lambda e: e[0]):
        if job_id in used or job_id in out:
            continue
        source, schedule, command, user, kind = ident
        out[job_id] = RetiredJob(
            id=job_id,
            source=source,
            line=line or None,
            schedule=schedule,
            command=command,
            user=user,
            kind=kind,
        )
    for job_id in known.reserved - used - set(out) - transient:
        out[job_id] = RetiredJob(id=job_id)
    return [out[k] for k in sorted(out)]


@dataclass(frozen=True, slots=True)
class LegacyLine:
    """A job's command, stdin and environment exactly as written (no redaction)."""

    command: str
    stdin: str | None
    env: dict[str, str]
    user: str | None


def legacy_line(plan: Plan, job: Job, root: str | Path | None = None) -> LegacyLine:
    """Re-read ``job``'s line from its source and return the unredacted command, stdin and
    environment (the plan only holds redacted text). The source must be unchanged since the
    scan (``source_sha256``), else :class:`~owlmigrate.plan.PlanError`."""
    from owlmigrate.plan import PlanError

    base = (
        Path(root)
        if root is not None
        else (Path(plan.host.root) if plan.host.root is not None else None)
    )
    path = base / job.source if base is not None else Path(job.source)
    data, error = read_source(path)
    if data is None:
        raise PlanError(f"cannot read the job's source: {error}", path=path)
    if content_sha256(data) != job.source_sha256:
        raise PlanError("the source changed since the scan; rescan first", path=path)
    if job.line is None:
        return LegacyLine(job.command, job.stdin, dict(job.env), job.user)
    src = next((s for s in plan.sources if s.path == job.source), None)
    header = len(install_header(data))
    marked = job.span
    if job.migration is not None:
        # cut over: the line is the marked one minus our prefix (checked against its hash)
        line = data[header + job.span[0] : header + job.span[1]] if job.span else b""
        if not line.startswith(MARKER_LEAD):
            raise PlanError("the cut-over job's line has no marker", path=path, line=job.line)
        freed = without(line, [job.migration.marker])
        if hashlib.sha256(freed).hexdigest() != job.migration.line_sha256:
            raise PlanError("the cut-over job's line was edited", path=path, line=job.line)
        data = without(data, [job.migration.marker])
        marked = None
    if job.dialect == "anacron":
        f = parse_anacrontab(data, path=job.source)
    else:
        system = (
            bool(src.system_format)
            if src is not None and src.system_format is not None
            else (src is not None and src.kind == "system")
        )
        f = parse_crontab(data, path=job.source, dialect=job.dialect, system=system)
    ln = f.line(job.line)
    if marked is not None and (ln.start - f.header_len, ln.end - f.header_len) != tuple(marked):
        raise PlanError("the job's span does not match its line", path=path, line=job.line)
    return LegacyLine(ln.command or "", ln.stdin, dict(ln.env), job.user)


def job_risk_codes(job: Job) -> list[str]:
    """The risk codes of a job (helper for renderers and tests)."""
    return [r.code for r in job.risks]


__all__ = [
    "FORMATS",
    "LegacyLine",
    "Risk",
    "clean_text",
    "detect_format",
    "job_risk_codes",
    "legacy_line",
    "scan",
]
