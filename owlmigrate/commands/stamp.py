"""``owlmigrate stamp``: record in the journal where a job stands, touching no file."""

from __future__ import annotations

import click

from owlmigrate.commands._workflow import app_option, echo_json, json_option, reports_errors


@click.command(
    "stamp", short_help="Record a job's stage and weight in the journal, touching no file."
)
@click.argument("jobs", nargs=-1)
@click.option("--all", "all_jobs", is_flag=True, help="Every trigger of the app.")
@click.option(
    "--cut-over/--not-cut-over",
    "cut_over",
    default=None,
    help="Record the job as cut over (or not).",
)
@click.option("--weight", type=float, help="Record this migration_weight.")
@click.option("--reason", help="Recorded in the journal (say why the files changed by hand).")
@app_option
@json_option
@reports_errors
def command(
    jobs: tuple[str, ...],
    all_jobs: bool,
    cut_over: bool | None,
    weight: float | None,
    reason: str | None,
    app_dir: str,
    as_json: bool,
) -> None:
    """Tell the journal JOB ... (or --all) is cut over / at a weight, without touching files.

    Like Alembic's stamp: for a crontab or module changed by hand, so that later cutover, step
    and rollback start from the right place. Nothing else changes; the row is in history.

    \b
    Example:
      owlmigrate stamp backup_db --cut-over --weight 0.1 --reason "switched by hand" --app app
    """
    from owlmigrate.migration import stamp

    result = stamp(
        app_dir, jobs, all_jobs=all_jobs, cut_over=cut_over, weight=weight, reason=reason
    )
    if as_json:
        echo_json(result)
        return
    for name, item in result.items():
        before, after = item["from"], item["to"]
        click.echo(
            f"{name}: {before['stage']} at {before['migration_weight']:g} -> "
            f"{after['stage']} at {after['migration_weight']:g} (stamped)"
        )
