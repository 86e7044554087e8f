"""``scan``: the inventory verb. Finds every crontab source, parses it as the host's daemon
would, analyses what each job calls, flags risks, and returns a :class:`~owlmigrate.plan.Plan`.

It never prints and never raises for a bad source: problems are recorded on the source.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from owlclaw_runtime.redact import redact, redact_env
from owlclaw_runtime.schedule import CronSyntaxError, describe
from owlclaw_runtime.schedule import parse as parse_schedule

from owlmigrate.analyze.calls import Resolver, build_calls
from owlmigrate.analyze.ids import assign_ids, naming_words
from owlmigrate.analyze.risks import JobContext, job_risks
from owlmigrate.analyze.shell import ShellAnalysis, analyze_command
from owlmigrate.crontab import CrontabFile, CrontabLine, LineKind, parse_anacrontab, parse_crontab
from owlmigrate.crontab.header import content_sha256
from owlmigrate.errors import UsageError
from owlmigrate.plan import Host, Job, Plan, Risk, Runner, Source, SourceError
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


@dataclass(slots=True)
class _State:
    host: HostFacts
    sources: list[Source] = field(default_factory=list)
    drafts: list[_Draft] = field(default_factory=list)
    runners: list[tuple[str, list[str], _Draft | None, Job]] = field(default_factory=list)
    script_cache: dict[str, dict[str, Any]] = field(default_factory=dict)


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
    def __init__(self, host: HostFacts, progress: Progress | None) -> None:
        self.s = _State(host)
        self.progress = progress
        self.order = 0

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
        for ln in f.lines:
            if not ln.is_job:
                continue
            self._job_from_line(f, ln, src, user if not system else ln.user)

    def _job_from_line(
        self, f: CrontabFile, ln: CrontabLine, src: Source, user: str | None
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
            span=(ln.start - f.header_len, ln.end - f.header_len),
            random_delay=_random_delay(host, env),
            flags=list(ln.flags),
            variables=list(sh.variables),
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
        draft = _Draft(job, naming_words(sh, command), (len(self.s.sources), self.order))
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
                "runner": Runner(source=src_path, line=runner.line, command=runner.command),
                "risks": [],
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
) -> Plan:
    """Scan a host tree (``root``) and/or crontab files (``paths``; ``-`` is ``stdin_data``).

    With neither, the live host (``/``) is scanned. ``previous`` (an earlier plan of the same
    host) keeps the ids of jobs that are still there. Raises :class:`UsageError` for a root that
    is not a directory or an unknown format; everything else is reported in the plan.
    """
    if file_format not in FORMATS:
        raise UsageError(f"unknown format {file_format!r}; expected one of {', '.join(FORMATS)}")
    if not paths and root is None:
        root = "/"
    root_path = Path(root) if root is not None else None
    if root_path is not None and not root_path.is_dir():
        raise UsageError(f"--root {root}: not a directory")
    host = detect_host(root_path, dialect=dialect, timezone=timezone, systemd=systemd)
    scanner = _Scanner(host, progress)
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
    assign_ids(scanner.s.drafts, previous)
    drafts = sorted(scanner.s.drafts, key=lambda d: d.order)
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
        jobs=[d.job for d in drafts],
    )


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
    if job.span is not None and (ln.start - f.header_len, ln.end - f.header_len) != tuple(job.span):
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
