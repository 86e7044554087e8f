"""``owlmigrate verify``: prove each trigger fires exactly when the legacy daemon would."""

from __future__ import annotations

import json
import sys
import time

import click
from owlclaw_runtime.errors import OwlClawError

from owlmigrate.commands.explain import parse_instant
from owlmigrate.verify import JobVerdict, VerifyReport, verify_app, verify_plan

_LABEL = {
    "equivalent": "equivalent",
    "not_equivalent": "NOT EQUIVALENT",
    "inexpressible": "inexpressible",
    "skipped": "skipped",
    "error": "ERROR",
}


class _Progress:
    """Progress on stderr for long runs (every 100 jobs, or every 5 seconds)."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def __call__(self, index: int, total: int, name: str) -> None:
        now = time.monotonic()
        if total >= 100 and (index % 100 == 0 or now - self.last > 5):
            self.last = now
            click.echo(f"verify: {index}/{total} {name}", err=True)


def _line(v: JobVerdict) -> str:
    where = f"{v.source}:{v.line}" if v.source else "-"
    head = f"{_LABEL[v.status]:<15} {v.job_id}  ({where})"
    if v.status == "equivalent" and v.trigger is not None:
        t = v.trigger
        waste = f", waste {v.waste_ratio:.2f}" if v.waste_ratio is not None else ""
        return (
            f"{head}\n    {t['expression']}  {t['timezone']} {t['semantics']}: {v.fires} runs, "
            f"{v.windows} windows; UTC superset: {'; '.join(v.superset) or '(none)'}{waste}"
        )
    lines = [head]
    if v.reason:
        lines.append(f"    {v.reason}")
    lines.extend(f"    {m}" for m in v.mismatches)
    return "\n".join(lines)


def render_text(report: VerifyReport, years: int) -> str:
    """The human report: one block per job, then the totals."""
    out = [
        f"window {report.to_dict()['window']['start']} .. {report.to_dict()['window']['end']}"
        f" ({years} years)"
    ]
    out.extend(_line(v) for v in report.jobs)
    counts = report.counts()
    out.append(
        ", ".join(
            f"{counts.get(k, 0)} {label}"
            for k, label in (
                ("equivalent", "equivalent"),
                ("not_equivalent", "not equivalent"),
                ("inexpressible", "inexpressible"),
                ("skipped", "skipped"),
                ("error", "errors"),
            )
        )
    )
    return "\n".join(out)


@click.command("verify")
@click.argument("plan", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--app",
    "app_dir",
    default=None,
    type=click.Path(file_okay=False),
    help="A generated app directory (default: the current directory when no PLAN).",
)
@click.option(
    "--years",
    type=click.IntRange(min=1, max=400),
    default=10,
    show_default=True,
    help="Length of the window to prove, from --from.",
)
@click.option("--from", "from_", default=None, help="Start of the window (ISO; default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
def command(
    plan: str | None, app_dir: str | None, years: int, from_: str | None, as_json: bool
) -> None:
    """Prove each trigger fires at exactly the legacy daemon's instants (DST included).

    The legacy instants are rebuilt from the raw crontab lines (dialect, CRON_TZ, host zone);
    the trigger's from what the generated app declares (--app) or generate would declare
    (PLAN). Every offset change in the window is checked minute by minute, and the UTC
    superset and gate are checked to reproduce the runs. Exit 1 when any job is not
    equivalent or cannot be checked; @reboot, anacron and random-delay jobs are listed as
    inexpressible.

    \b
    Example:
      owlmigrate verify plan.json --years 10
      owlmigrate verify --app ./debian-web-app --json
    """
    if plan is not None and app_dir is not None:
        raise click.UsageError("give either PLAN or --app, not both")
    start = parse_instant(from_, "--from")
    progress = _Progress()
    try:
        if plan is not None:
            report = verify_plan(plan, years=years, start=start, progress=progress)
        else:
            report = verify_app(app_dir or ".", years=years, start=start, progress=progress)
    except OwlClawError as exc:
        click.echo(f"owlmigrate: {exc}", err=True)
        raise click.exceptions.Exit(getattr(exc, "exit_code", 1)) from None
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, sort_keys=True))
    else:
        click.echo(render_text(report, years))
    sys.stdout.flush()
    if not report.ok:
        raise click.exceptions.Exit(1)
