"""``owlmigrate report``: agent and fallback figures per job and weight step (FR-9)."""

from __future__ import annotations

import json

import click
from owlclaw_runtime.errors import OwlClawError

from owlmigrate.report import Thresholds, build_report, render_text


@click.command(name="report")
@click.argument("job", required=False)
@click.option(
    "--app",
    "app_target",
    default=".",
    show_default=True,
    help="Generated app directory, or path/app.py[:attr].",
)
@click.option(
    "--min-executions",
    type=click.IntRange(min=1),
    default=Thresholds.min_executions,
    show_default=True,
    help="Executions needed at the current weight before stepping up.",
)
@click.option(
    "--max-failure-rate",
    type=click.FloatRange(min=0.0, max=1.0, min_open=True),
    default=Thresholds.max_failure_rate,
    show_default=True,
    help="A step up needs a failure rate under this; the agent at or above it is rolled back.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
def command(
    job: str | None,
    app_target: str,
    min_executions: int,
    max_failure_rate: float,
    as_json: bool,
) -> None:
    """Compare the agent with the fallback, per job and per migration_weight step.

    For every weight a job has run under: executions, success rate, average duration and cost
    of the agent and of the fallback side by side, the outcomes that differ (ok, rescued or
    failed; exit codes; errors), and a recommendation for the next step (hold, step up along
    0 -> 0.1 -> 0.5 -> 1.0, or roll back). A run where the agent failed and the fallback
    rescued it counts as an agent failure. `owlmigrate step` judges a step on the same
    figures. Exits 1 when a job is recommended to roll back.

    \b
    Example:
      owlmigrate report --app generated/
      owlmigrate report backup_db --app generated/ --json
    """
    from owlclaw_runtime.loader import load_app

    try:
        app = load_app(app_target)
    except OwlClawError as exc:
        raise click.UsageError(f"cannot load the app {app_target!r}: {exc}") from exc
    thresholds = Thresholds(min_executions=min_executions, max_failure_rate=max_failure_rate)
    try:
        names = [c.event_name for c in app.cron_registry.list_triggers()]
        if job is not None and job not in names:
            raise click.UsageError(
                f"unknown job {job!r}; the app has: {', '.join(sorted(names)) or 'no jobs'}"
            )
        report = build_report(app.ledger, app, job, thresholds=thresholds, tenant_id=app.tenant_id)
    except OwlClawError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        app.close()
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(render_text(report), nl=False)
    if any(j.recommendation.action == "rollback" for j in report.jobs):
        click.get_current_context().exit(1)
