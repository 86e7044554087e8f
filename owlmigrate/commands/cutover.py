"""``owlmigrate cutover``: disable the legacy crontab lines as the triggers go live."""

from __future__ import annotations

import click

from owlmigrate.commands._workflow import (
    app_option,
    echo_json,
    echo_notes,
    json_option,
    reports_errors,
)


@click.command("cutover", short_help="Disable the legacy crontab lines and make the triggers live.")
@click.argument("jobs", nargs=-1)
@click.option("--all", "all_jobs", is_flag=True, help="Every trigger of the app.")
@app_option
@click.option("--dry-run", is_flag=True, help="Print the crontab and module diffs; change nothing.")
@click.option("--reason", help="Recorded in the journal.")
@click.option(
    "--force",
    is_flag=True,
    help="Cut over even when no running worker serves the triggers from the current module "
    "(their runs are lost until one does); recorded as forced in the journal.",
)
@json_option
@reports_errors
def command(
    jobs: tuple[str, ...],
    all_jobs: bool,
    app_dir: str,
    dry_run: bool,
    reason: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Cut JOB ... (or --all) over from the legacy crontab to its trigger.

    Comments each migrated line with a marker naming its trigger (every other byte untouched,
    written atomically, backed up; refused when the file changed since the scan), flips the
    trigger from shadow to live in the module and in the ledger (running workers switch without
    a restart), and journals it. The switch happens well inside a minute, so each instant has
    exactly one owner (set OWLMIGRATE_SWITCH_WINDOW=off to skip that wait). Refused unless a
    running worker (`owlmigrate run --app DIR`) serves the triggers from the module on disk.

    \b
    Example:
      owlmigrate cutover --all --app app --dry-run
      owlmigrate cutover backup_db --app app
    """
    from owlmigrate.migration import cutover

    result = cutover(app_dir, jobs, all_jobs=all_jobs, dry_run=dry_run, reason=reason, force=force)
    echo_notes(result.recovered)
    echo_notes([f"warning: {w}" for w in result.warnings])
    if as_json:
        echo_json(result.to_dict())
        return
    if dry_run:
        click.echo(result.diff, nl=False)
        return
    for name, status in result.jobs.items():
        click.echo(f"{name}: {status}")
