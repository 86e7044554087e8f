"""``owlmigrate rollback``: weight back one step, or the legacy crontab lines restored."""

from __future__ import annotations

import click

from owlmigrate.commands._workflow import (
    app_option,
    echo_json,
    echo_notes,
    json_option,
    reports_errors,
)


@click.command("rollback", short_help="Step the weight back, or restore the legacy crontab lines.")
@click.argument("jobs", nargs=-1)
@click.option("--all", "all_jobs", is_flag=True, help="Every trigger of the app.")
@click.option(
    "--to-legacy",
    is_flag=True,
    help="Restore the original crontab lines byte for byte and pause the triggers.",
)
@app_option
@click.option("--reason", help="Recorded in the journal.")
@json_option
@reports_errors
def command(
    jobs: tuple[str, ...],
    all_jobs: bool,
    to_legacy: bool,
    app_dir: str,
    reason: str | None,
    as_json: bool,
) -> None:
    """Roll JOB ... (or --all) back.

    Without options the weight returns to the previous step (or 0), writing back the exact
    source text it had. With --to-legacy the triggers are paused, the disabled crontab lines are
    restored byte for byte (from the journal and backups) and the module returns to shadow at
    weight 0: the job is back where scan found it. Rerunning is a no-op.

    \b
    Example:
      owlmigrate rollback backup_db --app app
      owlmigrate rollback --all --to-legacy --app app
    """
    from owlmigrate.migration import rollback

    result = rollback(app_dir, jobs, all_jobs=all_jobs, to_legacy=to_legacy, reason=reason)
    echo_notes(result.recovered)
    if as_json:
        echo_json(result.to_dict())
        return
    for name, item in result.jobs.items():
        status = item["status"]
        if status == "unchanged":
            click.echo(f"{name}: migration_weight already {item['to']:g}")
        elif status == "rolled back":
            click.echo(f"{name}: migration_weight {item['from']:g} -> {item['to']:g}")
        else:
            click.echo(f"{name}: {status}")
