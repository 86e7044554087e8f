"""``owlmigrate scan``: inventory every crontab source as the host's cron daemon reads it."""

from __future__ import annotations

import sys
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from owlmigrate.crontab import DIALECTS
from owlmigrate.errors import OwlMigrateError
from owlmigrate.plan import Plan
from owlmigrate.render import table, to_json
from owlmigrate.scan import FORMATS, scan


def render_plan(plan: Plan, *, max_width: int | None = None) -> str:
    """The human inventory: host facts, sources, then jobs with their risk codes."""
    h = plan.host
    out = [
        f"host: {h.root or '(files)'}  dialect={h.dialect}  timezone={h.timezone}  "
        f"systemd={'yes' if h.systemd else 'no'}  os={h.os_name or 'unknown'}",
        "",
    ]
    src_rows = []
    for s in plan.sources:
        status = "runs" if s.runs else "ignored"
        note = s.reason or ""
        if s.errors:
            first = s.errors[0]
            where = f"line {first.line}: " if first.line else ""
            more = f" (+{len(s.errors) - 1} more)" if len(s.errors) > 1 else ""
            note = (note + "; " if note else "") + where + first.message + more
        jobs = sum(1 for j in plan.jobs if j.source == s.path)
        src_rows.append([s.path, s.kind, status, jobs, note])
    out.append(
        table(
            ["SOURCE", "KIND", "STATUS", "JOBS", "NOTE"],
            src_rows,
            max_width=max_width,
            flexible=["NOTE", "SOURCE"],
        )
    )
    out.append("")
    job_rows = []
    for j in plan.jobs:
        where = f"{j.source}:{j.line}" if j.line else j.source
        runner_cut = j.runner is not None and bool(j.runner.marker)
        state = "cut over" if j.cut_over or runner_cut else ("on" if j.enabled else "off")
        job_rows.append(
            [
                j.id,
                j.schedule,
                j.user or "",
                state,
                j.kind,
                where,
                ",".join(r.code for r in j.risks),
                j.command,
            ]
        )
    out.append(
        table(
            ["ID", "SCHEDULE", "USER", "ON", "KIND", "SOURCE", "RISKS", "COMMAND"],
            job_rows,
            max_width=max_width,
            flexible=["COMMAND", "SOURCE", "RISKS", "ID"],
        )
    )
    if plan.markers:
        out.append("")
        out.append(
            table(
                ["MARKER", "TRIGGER", "STATUS", "JOB"],
                [
                    [f"{m.source}:{m.line}", m.trigger, m.status.replace("_", " "), m.job or ""]
                    for m in plan.markers
                ],
                max_width=max_width,
                flexible=["MARKER", "TRIGGER"],
            )
        )
    for risk in plan.risks:
        out.append("")
        out.append(f"risk {risk.code}: {risk.message}")
        if risk.restore:
            out.append(f"  restore: {risk.restore}")
    enabled = sum(1 for j in plan.jobs if j.enabled)
    risky = sum(1 for j in plan.jobs if j.risks)
    cut = sum(1 for j in plan.jobs if j.cut_over)
    out.append("")
    out.append(
        f"{len(plan.jobs)} jobs ({enabled} enabled, {len(plan.jobs) - enabled} disabled or "
        f"ignored{f', {cut} cut over' if cut else ''}) in {len(plan.sources)} sources; "
        f"{risky} jobs with risks" + (f"; {len(plan.risks)} migration risks" if plan.risks else "")
    )
    return "\n".join(out)


class _StderrProgress:
    def __init__(self) -> None:
        self.shown = False

    def __call__(self, done: int, total: int, path: str) -> None:
        self.shown = True
        click.echo(f"\rscanning {done}/{total} {path[:60]:<60}", err=True, nl=False)

    def close(self) -> None:
        if self.shown:
            click.echo("\r" + " " * 80 + "\r", err=True, nl=False)


@click.command("scan")
@click.argument("paths", nargs=-1, type=click.Path(allow_dash=True))
@click.option(
    "--root",
    type=click.Path(),
    metavar="DIR",
    help="Scan a host tree under DIR ('/' for this host).",
)
@click.option("--dialect", type=click.Choice(DIALECTS), help="Cron daemon (default: detected).")
@click.option("--timezone", "tz", metavar="ZONE", help="Daemon time zone (default: detected).")
@click.option("--systemd/--no-systemd", default=None, help="Whether the host runs systemd.")
@click.option(
    "--format",
    "file_format",
    type=click.Choice(FORMATS),
    default="auto",
    show_default=True,
    help="Format of PATH files: user crontab, system crontab (user column) or anacrontab.",
)
@click.option(
    "--strict-modes",
    is_flag=True,
    default=None,
    help="Apply the daemons' owner/mode rules (default only on the live host).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON on stdout.")
@click.option(
    "--app",
    "app_dir",
    type=click.Path(file_okay=False),
    metavar="DIR",
    help="The generated app (its owlmigrate.json and journal): cut-over jobs stay in the plan "
    "under their trigger ids, and no id the app holds is given to another job.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Write the plan file (rescanning into it keeps the job ids, and never gives the id of "
    "a job that is gone to another one).",
)
def command(
    paths: tuple[str, ...],
    root: str | None,
    dialect: str | None,
    tz: str | None,
    systemd: bool | None,
    file_format: str,
    strict_modes: bool | None,
    as_json: bool,
    app_dir: str | None,
    output: str | None,
) -> None:
    """Find every crontab source, parse it as the host's cron daemon would, analyse what each
    job calls and flag migration risks.

    PATH may be crontab files, directories or '-' (stdin). Without PATH or --root the live host
    ('/') is scanned. Exit status 0 when the scan completed (findings are in the output),
    2 on usage errors.

    \b
    Example:
      owlmigrate scan --root examples/legacy_crontabs/debian-web
      owlmigrate scan --root / --json -o plan.json
      owlmigrate scan --root / -o plan.json --app app     # after a cutover
      crontab -l | owlmigrate scan - --format user --dialect cronie
    """
    if tz is not None:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise click.BadParameter(f"unknown time zone {tz!r}", param_hint="--timezone") from None
    stdin_data = sys.stdin.buffer.read() if "-" in paths else None
    previous = None
    if output and Path(output).is_file():
        # Rescanning into an existing plan keeps the ids of the jobs that are still there.
        try:
            previous = Plan.load(output)
        except OwlMigrateError as exc:
            raise click.UsageError(f"-o {output}: {exc.message}") from None
    progress = _StderrProgress() if sys.stderr.isatty() else None
    try:
        plan = scan(
            paths,
            root=root,
            dialect=dialect,
            timezone=tz,
            systemd=systemd,
            file_format=file_format,
            enforce_modes=strict_modes,
            stdin_data=stdin_data,
            progress=progress,
            previous=previous,
            app=app_dir,
        )
    except OwlMigrateError as exc:
        if exc.exit_code == 2:
            raise click.UsageError(str(exc)) from None
        click.echo(f"owlmigrate: {exc}", err=True)
        raise click.exceptions.Exit(exc.exit_code) from None
    finally:
        if progress is not None:
            progress.close()
    if output:
        plan.dump(output)
        click.echo(f"owlmigrate: wrote {len(plan.jobs)} jobs to {output}", err=True)
    if as_json:
        click.echo(to_json(plan))
    else:
        click.echo(render_plan(plan))
