"""Render a scan plan into a generated app directory (pure: returns file contents).

Layout choices (documented in docs/workflow.md):

- **One app module per host**, ``owlclaw_app.py``: a host's jobs share one cron daemon, one time
  zone and one ledger, so they share one ``OwlClawApp``; ``owlmigrate run --app DIR`` then runs
  the whole host.
- **Periodic directories become one trigger per directory**, namely the trigger of the crontab
  line that runs ``run-parts`` on it (Debian's ``/etc/crontab`` lines, Fedora's
  ``/etc/cron.d/0hourly``). That trigger runs the same ``run-parts`` command at the same
  expression, so its equivalence is exactly that line's, and cutover disables exactly that line.
  The scripts inside are listed as covered by it. A directory driven by anacron stays in place.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import jinja2
import yaml

from owlmigrate.atomic import sha256_bytes
from owlmigrate.codegen.app_name import default_app_name
from owlmigrate.codegen.host import HostLines, RealLine
from owlmigrate.codegen.literals import (
    Code,
    md_fence,
    md_text,
    py_comment,
    py_kwarg,
    py_literal,
    slug,
)
from owlmigrate.errors import FindingError

MODULE_NAME = "owlclaw_app.py"
MANIFEST_NAME = "owlmigrate.json"
README_NAME = "README.md"
FORMAT_VERSION = 1


class PlanRenderError(FindingError):
    """The plan cannot be rendered (missing keys, duplicate job ids)."""


@dataclass(frozen=True)
class JobView:
    """What generate needs from one plan job, read tolerantly from the plan's JSON."""

    raw: Mapping[str, Any]
    index: int

    def get(self, key: str, default: Any = None) -> Any:
        value = self.raw.get(key, default)
        return default if value is None else value

    @property
    def id(self) -> str:
        return str(self.raw["id"])


@dataclass(frozen=True)
class Trigger:
    """One ``@app.cron`` rendered from a plan job."""

    job_id: str
    func: str
    const: str
    skill_dir: str
    expression: str
    source: str | None
    line: int | None
    span: list[int] | None
    source_sha256: str | None
    focus: list[str]
    cron: list[Code]
    legacy: list[Code]
    comment: Code
    job: Mapping[str, Any]
    covers: list[str] = field(default_factory=list)
    mail: Any = None  # the CronMail passed to LegacyCommand


@dataclass(frozen=True)
class NotMigrated:
    """A plan job left in place, with the reason."""

    job_id: str
    source: str | None
    line: int | None
    reason: str
    job: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass
class Rendering:
    """Every generated file (path relative to the app directory → bytes) and what went where."""

    files: dict[str, bytes]
    triggers: list[Trigger]
    not_migrated: list[NotMigrated]
    manifest: dict[str, Any]


def templates_dir() -> Path:
    """``templates/`` in a source tree, or ``owlmigrate/_templates`` in an installed wheel."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "_templates", here.parent / "templates"):
        if (candidate / "app.py.j2").is_file():
            return candidate
    raise FileNotFoundError("owlmigrate templates not found (templates/ or owlmigrate/_templates)")


def _finalize(value: object) -> object:
    # Structural guarantee: a template can print only text a safe renderer produced.
    if isinstance(value, Code):
        return value
    raise TypeError(f"template tried to print unrendered {type(value).__name__}: {value!r:.60}")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_finalize,
    )
    env.filters["py"] = py_literal
    env.filters["comment"] = py_comment
    env.filters["md"] = md_text
    env.filters["fence"] = md_fence
    return env


# ---------------------------------------------------------------------------------------------
# What can become a trigger


_FLOCK = re.compile(r"(?:^|[\s;&|(])(?:/usr/bin/)?flock\s+(?P<opts>(?:-\S+\s+)*)")
_RUN_ONE = re.compile(r"(?:^|[\s;&|(])(?:/usr/bin/)?run-one\s")


def runtime_dialects() -> tuple[str, ...]:
    """The dialects the runtime's ``CronTriggerConfig`` accepts."""
    from owlclaw_runtime.triggers.models import Dialect

    return tuple(get_args(Dialect))


def _schedule_problem(job: JobView) -> str | None:
    from owlclaw_runtime.schedule import parse

    expression = str(job.get("schedule", ""))
    dialect = str(job.get("dialect", "debian"))
    try:
        parse(expression, dialect=dialect)
    except Exception as exc:  # CronSyntaxError and friends: the daemon rejects the line
        return f"the daemon rejects this schedule: {exc}"
    return None


def why_not(job: JobView, sources: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The reason a plan job cannot become a trigger, or None when it can."""
    kind = job.get("kind", "cron")
    if kind == "reboot":
        return "@reboot runs when the daemon starts, not at a time (cron-semantics 6.4.6)"
    if kind == "anacron":
        return "anacron jobs run from timestamps and uptime, not the clock (cron-semantics 6.4.6)"
    if not job.get("enabled", True):
        return "commented out in its source: nothing runs today, so nothing is migrated"
    if not str(job.get("command", "")).strip():
        return "the line has no command to run"
    source = sources.get(str(job.get("source", "")))
    if source is not None and source.get("runs") is False:
        return f"the daemon ignores its source ({source.get('reason') or 'not loaded'})"
    env = job.get("env", {}) or {}
    if job.get("random_delay") or (
        isinstance(env, Mapping)
        and "RANDOM_DELAY" in env
        and str(job.get("dialect")).startswith("cronie")
    ):
        return "cronie RANDOM_DELAY picks random instants per daemon start (cron-semantics 6.4.5)"
    if "~" in str(job.get("schedule", "")):
        return "random '~' ranges are re-drawn on every reload (cron-semantics 6.4.5)"
    dialect = str(job.get("dialect", "debian"))
    if dialect not in runtime_dialects():
        return f"dialect {dialect!r} is not one the runtime's triggers accept {runtime_dialects()}"
    return _schedule_problem(job)


def overlap_settings(command: str) -> dict[str, Any]:
    """Concurrency from the job's own overlap guard. ``flock -n`` and ``run-one`` give up at once
    while a run holds the lock, so the trigger skips (``max_concurrency=1``, ``"skip"``); a
    blocking ``flock`` waits, so it queues. ``flock -w N`` waits N seconds and then gives up,
    which neither policy reproduces, so its own ``flock`` (still in the command) decides and the
    trigger lets runs overlap, as cron does for every job without a guard."""
    match = _FLOCK.search(command)
    if match:
        options = match.group("opts").split()
        if any(o == "--nonblock" or re.fullmatch(r"-[a-zA-Z]*n[a-zA-Z]*", o) for o in options):
            return {"max_concurrency": 1, "overlap_policy": "skip"}
        if any(o in ("--wait", "--timeout") or re.fullmatch(r"-[a-zA-Z]*w\d*", o) for o in options):
            return {"overlap_policy": "allow"}
        return {"max_concurrency": 1, "overlap_policy": "queue"}
    if _RUN_ONE.search(command):
        return {"max_concurrency": 1, "overlap_policy": "skip"}
    return {"overlap_policy": "allow"}


# Words that only wrap the real program (lock, priority, timeout, privilege, directory).
_WRAPPERS = frozenset(
    {
        "flock",
        "nice",
        "ionice",
        "timeout",
        "run-one",
        "sudo",
        "su",
        "env",
        "cd",
        "chronic",
        "setlock",
        "lockrun",
        "nohup",
        "exec",
        "test",
        "[",
        "true",
        "command",
    }
)


def _call_names(job: JobView, *, programs_only: bool = False) -> list[str]:
    names: list[str] = []
    for call in job.get("calls", []) or []:
        if isinstance(call, str):
            name = call
        elif isinstance(call, Mapping):
            if programs_only and call.get("kind") in ("guard", "wrapper", "builtin"):
                continue
            name = str(call.get("program") or call.get("name") or call.get("path") or "")
        else:
            continue
        if name:
            names.append(name)
    return names


def derive_focus(job: JobView) -> list[str]:
    """Focus tags for the agent: the programs the analysis found the job calling, else the
    command's first word; at most five, as slugs."""
    tags: list[str] = []
    for name in _call_names(job, programs_only=True):
        tag = slug(Path(name.split()[0] if name.split() else name).name)
        if tag not in tags:
            tags.append(tag)
    if not tags:
        try:
            words = shlex.split(str(job.get("command", "")))
        except ValueError:
            words = str(job.get("command", "")).split()
        skip_operand = False
        for word in words:
            base = Path(word).name
            if (
                word.startswith("-")
                or "=" in word
                or base in _WRAPPERS
                or not slug(base).strip("0123456789_")
            ):
                # flock and friends take a lock file (cd a directory) before the real command.
                skip_operand = skip_operand or base in ("flock", "setlock", "lockrun", "cd", "test")
                continue
            if word in ("&&", "||", ";", "(", ")", "|"):
                skip_operand = False
                continue
            if skip_operand:
                skip_operand = False
                continue
            tags.append(slug(base))
            break
    return tags[:5] or ["job"]


def _identifier(base: str, taken: set[str]) -> str:
    name = base
    counter = 2
    while name in taken:
        name = f"{base}_{counter}"
        counter += 1
    taken.add(name)
    return name


def _trigger(job: JobView, weight: float, shadow: bool, names: set[str]) -> Trigger:
    job_slug = slug(job.id)
    func = _identifier(f"job_{job_slug}", names)
    const = f"LEGACY_{func.upper()}"
    dialect = str(job.get("dialect", "debian"))
    semantics = str(job.get("semantics") or "daemon")
    command = str(job.get("command", ""))
    description = str(job.get("description") or f"Legacy cron job {job.id}")
    focus = derive_focus(job)
    cron_args: list[tuple[str, Any]] = [
        ("event_name", job.id),
        ("description", description),
        ("timezone", str(job.get("timezone", "UTC"))),
        ("dialect", dialect),
        ("semantics", semantics),
    ]
    if job.get("daemon_timezone") and job.get("daemon_timezone") != job.get("timezone", "UTC"):
        cron_args.append(("daemon_timezone", str(job.get("daemon_timezone"))))
    cron_args += [
        ("focus", focus),
        ("migration_weight", weight),
        ("fallback_strategy", "on_failure"),
        ("shadow", shadow),
        # Governance that can never throttle the legacy cadence: cron has no cost, daily or
        # cooldown limit, no timeout, no breaker (an open breaker skips runs; a failing agent
        # falls back instead), and never retries or catches up a missed minute. Every value is
        # explicit, so owlclaw.yaml trigger defaults cannot change it.
        ("max_daily_runs", None),
        ("max_daily_cost", None),
        ("max_cost_per_run", None),
        ("cooldown_seconds", 0),
        ("max_duration", None),
        ("breaker_window", 0),
        ("retry_on_failure", False),
        ("catch_up", False),
    ]
    cron_args += list(overlap_settings(command).items())
    # The fallback runs the real line (the plan's text is redacted); see codegen.host.
    real: RealLine | None = job.raw.get("_real")
    env = real.env if real is not None else job.get("env", {}) or {}
    stdin = real.stdin if real is not None else job.raw.get("stdin")
    run_command = real.command if real is not None else command
    env_text = {str(k): str(v) for k, v in dict(env).items()}
    legacy_args: list[tuple[str, Any]] = [
        ("stdin", stdin),
        ("env", env_text),
        ("user", job.raw.get("user")),
        ("dialect", dialect),
        ("timeout", None),
    ]
    expression = str(job.get("schedule", ""))
    cron = [Code(py_literal(expression, 4))] + [py_kwarg(k, v) for k, v in cron_args]
    legacy = [Code(py_literal(run_command, 4))] + [py_kwarg(k, v) for k, v in legacy_args]
    mail = job_mail(env_text, job.get("flags", []) or [])
    legacy += [mail_kwarg(mail), py_kwarg("syslog", True)]
    source = job.raw.get("source")
    line = job.raw.get("line")
    where = f"{source}:{line}" if source is not None else job.id
    span = [real.start, real.end] if real is not None else job.raw.get("span")
    source_sha256 = real.sha256 if real is not None else job.raw.get("source_sha256")
    return Trigger(
        job_id=job.id,
        func=Code(func),
        const=Code(const),
        skill_dir=func.removeprefix("job_"),
        expression=expression,
        source=None if source is None else str(source),
        line=None if line is None else int(line),
        span=None if span is None else [int(span[0]), int(span[1])],
        source_sha256=source_sha256,
        focus=focus,
        cron=cron,
        legacy=legacy,
        comment=py_comment(f"{where}: {expression}"),
        job=job.raw,
        covers=list(job.raw.get("_covers") or []),
        mail=mail,
    )


def job_mail(env: Mapping[str, str], flags: list[str]) -> Any:
    """The ``CronMail`` of a job: its crontab's ``MAILTO``/``MAILFROM`` (the last assignment
    before the line, as the daemon keeps it) and cronie's ``-n``. Whether and to whom a run is
    mailed is then decided as the dialect's daemon decides (``owlclaw_runtime.cronmail``)."""
    from owlclaw_runtime.cronmail import CronMail

    return CronMail(
        to=env.get("MAILTO"),
        sender=env.get("MAILFROM"),
        on_failure_only="mail_on_failure_only" in flags,
    )


def mail_kwarg(mail: Any) -> Code:
    """``mail={"to": ..., "sender": ...}``: a literal, like every generated argument (the
    runtime turns the mapping into a ``CronMail``)."""
    value: dict[str, Any] = {"to": mail.to, "sender": mail.sender}
    if mail.on_failure_only:
        value["on_failure_only"] = True
    return py_kwarg("mail", value)


def _runner_key(job: JobView) -> tuple[str, int] | None:
    runner = job.get("runner")
    if isinstance(runner, Mapping) and runner.get("source") and runner.get("line"):
        return str(runner["source"]), int(runner["line"])
    return None


def _directory_job(
    group: list[JobView], key: tuple[str, int], line: RealLine, taken: set[str]
) -> JobView:
    """The trigger job for one periodic directory: the ``run-parts`` line, as written."""
    first = group[0]
    runner = first.get("runner")
    directory = str(Path("/" + str(first.get("source", "")).lstrip("/")).parent)
    # a cut-over run-parts line keeps the trigger its verified marker names
    marked = runner.get("marker") if isinstance(runner, Mapping) else None
    base = str(marked) if marked and marked not in taken else "run_parts_" + slug(directory)
    job_id = base
    counter = 2
    while job_id in taken:
        job_id = f"{base}_{counter}"
        counter += 1
    taken.add(job_id)
    risks = [r for job in group for r in job.get("risks", []) or []]
    raw = {
        "id": job_id,
        "source": key[0],
        "line": key[1],
        "schedule": first.get("schedule"),
        "user": first.raw.get("user") or "root",
        "command": str(runner.get("command") or line.command),
        "stdin": None,
        "env": first.get("env", {}),
        "timezone": first.get("timezone", "UTC"),
        "daemon_timezone": first.get("daemon_timezone"),
        "dialect": first.get("dialect", "debian"),
        "semantics": first.get("semantics", "daemon"),
        "enabled": True,
        "kind": "cron",
        "description": f"run-parts {directory} ({len(group)} script(s))",
        "risks": risks,
        "calls": [{"kind": "script", "name": str(job.get("source"))} for job in group],
        "source_sha256": line.sha256,
        "span": [line.start, line.end],
        "_real": line,
    }
    return JobView(raw, first.index)


# ---------------------------------------------------------------------------------------------


def render(
    plan: Mapping[str, Any],
    *,
    plan_path: str | None = None,
    weights: Mapping[str, float] | None = None,
    shadows: Mapping[str, bool] | None = None,
    host_lines: HostLines | None = None,
    agent_code: str | None = None,
    app_name: str | None = None,
    ledger_id: str | None = None,
) -> Rendering:
    """Render every file of the app directory for ``plan``.

    ``weights`` and ``shadows`` carry the journal's current state per job so that regenerating
    after a cutover or step reproduces the module the codemods left (rerunning is a no-op).
    ``host_lines`` (:func:`~owlmigrate.codegen.host.read_host_lines`) holds the real, unredacted
    text of each job line and of the ``run-parts`` lines; without it the plan's text is used.
    ``agent_code`` is the ``agent=`` expression an operator added to the existing module's
    ``OwlClawApp(...)``: it is kept (it is the operator's own code, not crontab text).
    ``app_name`` (default: the host name on the live host, else the host tree's directory name)
    names the app; ``ledger_id`` is the id of the app's ledger, recorded in the manifest.
    """
    weights = weights or {}
    shadows = shadows or {}
    raw_jobs = plan.get("jobs")
    if not isinstance(raw_jobs, list):
        raise PlanRenderError("the plan has no 'jobs' list", path=plan_path)
    jobs: list[JobView] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_jobs):
        if (
            not isinstance(raw, Mapping)
            or not isinstance(raw.get("id"), str)
            or not raw["id"].strip()
        ):
            raise PlanRenderError(f"job #{index + 1} has no 'id'", path=plan_path)
        if raw["id"] != raw["id"].strip():
            raise PlanRenderError(f"job id {raw['id']!r} has surrounding blanks", path=plan_path)
        if raw["id"] in seen:
            raise PlanRenderError(f"duplicate job id {raw['id']!r}", path=plan_path)
        seen.add(raw["id"])
        jobs.append(JobView(raw, index))
    sources = {
        str(s.get("path")): s for s in plan.get("sources", []) or [] if isinstance(s, Mapping)
    }
    host = plan.get("host", {}) or {}
    app_name = app_name or default_app_name(host)  # one app per host, even on a shared ledger

    triggers: list[Trigger] = []
    not_migrated: list[NotMigrated] = []
    names: set[str] = set()
    periodic: list[JobView] = []
    for job in jobs:
        if job.get("kind", "cron") == "periodic":
            periodic.append(job)
            continue
        reason = why_not(job, sources)
        if reason is None and host_lines is not None:
            reason = host_lines.stale.get(job.id)
            if job.id in host_lines.jobs:
                job = JobView({**job.raw, "_real": host_lines.jobs[job.id]}, job.index)
        if reason is not None:
            not_migrated.append(
                NotMigrated(job.id, job.raw.get("source"), job.raw.get("line"), reason, job.raw)
            )
            continue
        weight = float(weights.get(job.id, 0.0))
        triggers.append(_trigger(job, weight, bool(shadows.get(job.id, True)), names))
    by_id = {t.job_id: t for t in triggers}
    by_line = {
        (str(j.get("source")), j.raw.get("line")): j.id
        for j in jobs
        if j.get("kind", "cron") == "cron"
    }
    groups: dict[tuple[str, int] | None, list[JobView]] = {}
    for job in periodic:
        groups.setdefault(_runner_key(job), []).append(job)
    for key, group in groups.items():
        reason = None
        driver = by_line.get(key) if key is not None else None
        if key is None:
            reason = "no crontab line runs its directory at a fixed time (anacron or none)"
        elif driver is not None and driver in by_id:
            by_id[driver].covers.extend(j.id for j in group)
            continue
        elif driver is not None:
            reason = f"its directory runs from {driver}, which stays in place"
        elif host_lines is None or key not in host_lines.runners:
            reason = f"the line that runs its directory ({key[0]}:{key[1]}) cannot be read"
        else:
            view = _directory_job(group, key, host_lines.runners[key], seen)
            reason = why_not(view, sources)
            if reason is None:
                trigger = _trigger(
                    view,
                    float(weights.get(view.id, 0.0)),
                    bool(shadows.get(view.id, True)),
                    names,
                )
                trigger.covers.extend(j.id for j in group)
                triggers.append(trigger)
                continue
        not_migrated.extend(
            NotMigrated(j.id, j.raw.get("source"), j.raw.get("line"), reason, j.raw) for j in group
        )

    env = _environment()
    files: dict[str, bytes] = {}
    module = env.get_template("app.py.j2").render(
        app_name=py_literal(app_name),
        app_extra=Code(f", agent={agent_code}" if agent_code else ""),
        triggers=triggers,
        header=py_comment(app_name),
    )
    files[MODULE_NAME] = module.encode("utf-8")
    for trigger in triggers:
        files[f"skills/{trigger.skill_dir}/SKILL.md"] = _skill(env, trigger).encode("utf-8")
    files[README_NAME] = (
        env.get_template("README.md.j2")
        .render(
            app_name=md_text(app_name),
            triggers=[_readme_row(t) for t in triggers],
            not_migrated=[
                {
                    "job": md_text(n.job_id),
                    "where": md_text(f"{n.source}:{n.line}" if n.source else "-"),
                    "reason": md_text(n.reason),
                }
                for n in not_migrated
            ],
            module=Code(MODULE_NAME),
        )
        .encode("utf-8")
    )
    manifest = {
        "format_version": FORMAT_VERSION,
        "module": MODULE_NAME,
        "attr": "app",
        "plan": plan_path,
        "root": host.get("root"),
        "host": app_name,
        "app_name": app_name,
        "ledger_id": ledger_id,
        "jobs": {
            t.job_id: {
                "job_id": t.job_id,
                "source": t.source,
                "line": t.line,
                "source_sha256": t.source_sha256,
                "span": t.span,
                "module": MODULE_NAME,
                "function": t.func,
                "user": t.job.get("user"),
                "covers": t.covers,
                "mail": _mail_view(t),
                # the job as planned (redacted text), so a rescan after cutover keeps it
                "plan_job": {
                    **{k: v for k, v in t.job.items() if not str(k).startswith("_")},
                    "span": t.span,
                    "source_sha256": t.source_sha256,
                },
                "fingerprint": _fingerprint(t),
            }
            for t in triggers
        },
        "not_migrated": [
            {
                "job_id": n.job_id,
                "source": n.source,
                "line": n.line,
                "reason": n.reason,
                # what scan matches a job by, so the id stays with this job (markers.app_record)
                "identity": {k: n.job.get(k) for k in ("schedule", "command", "user", "kind")},
            }
            for n in not_migrated
        ],
        "files": {name: sha256_bytes(data) for name, data in sorted(files.items())},
    }
    files[MANIFEST_NAME] = (json.dumps(manifest, indent=2, sort_keys=False) + "\n").encode("utf-8")
    return Rendering(files=files, triggers=triggers, not_migrated=not_migrated, manifest=manifest)


def _mail_view(trigger: Trigger) -> dict[str, Any]:
    from owlclaw_runtime.cronmail import describe

    dialect = str(trigger.job.get("dialect") or "debian")
    owner = trigger.job.get("user") or "root"
    return describe(trigger.mail, dialect, str(owner))


def _fingerprint(trigger: Trigger) -> str:
    # What generate owns in a trigger; weight and shadow belong to step and cutover.
    owned = [c for c in trigger.cron if not c.startswith(("migration_weight=", "shadow="))]
    return sha256_bytes("\n".join(owned + trigger.legacy).encode("utf-8"))


def _readme_row(trigger: Trigger) -> dict[str, Code]:
    where = f"{trigger.source}:{trigger.line}" if trigger.source else "-"
    return {
        "event": md_text(trigger.job_id),
        "schedule": md_text(trigger.expression),
        "where": md_text(where),
        "skill": md_text(f"skills/{trigger.skill_dir}/SKILL.md"),
    }


def _skill(env: jinja2.Environment, trigger: Trigger) -> str:
    job = trigger.job
    front = {
        "name": trigger.job_id,
        "description": str(job.get("description") or f"Legacy cron job {trigger.job_id}"),
        "focus": trigger.focus,
        "owlmigrate": {
            "event_name": trigger.job_id,
            "schedule": trigger.expression,
            "timezone": str(job.get("timezone") or "UTC"),
            "dialect": str(job.get("dialect") or "debian"),
            "source": trigger.source,
            "line": trigger.line,
            "user": job.get("user"),
        },
    }
    risks = []
    for risk in job.get("risks", []) or []:
        if isinstance(risk, Mapping):
            risks.append(md_text(f"{risk.get('code', 'risk')}: {risk.get('message', '')}"))
        else:
            risks.append(md_text(risk))
    calls = [md_text(name) for name in _call_names(JobView(job, 0))]
    stdin = job.get("stdin")
    return env.get_template("SKILL.md.j2").render(
        front=Code(yaml.safe_dump(front, sort_keys=False, allow_unicode=False, width=1000)),
        title=md_text(trigger.job_id),
        description=md_text(front["description"]),
        where=md_text(f"{trigger.source}:{trigger.line}" if trigger.source else "-"),
        schedule=md_text(trigger.expression),
        command=md_fence(str(job.get("command", "")), "sh"),
        stdin=None if stdin is None else md_fence(str(stdin)),
        calls=calls,
        risks=risks,
        covers=[md_text(c) for c in trigger.covers],
    )
