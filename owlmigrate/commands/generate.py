"""``owlmigrate generate PLAN -o DIR``: render the plan into an OwlClaw app directory."""

from __future__ import annotations

import click

from owlmigrate.commands._workflow import echo_json, json_option, reports_errors


@click.command("generate")
@click.argument("plan", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="The app directory to write (created when missing).",
)
@click.option("--dry-run", is_flag=True, help="Print a unified diff; write nothing.")
@click.option("--force", is_flag=True, help="Overwrite files edited by hand (backed up first).")
@click.option(
    "--app-name",
    metavar="NAME",
    help="Name the app (its rows in a shared ledger are keyed by it). Default: what the last "
    "generate named it, else the host name for a plan of the live host (--root /), else the "
    "host tree's directory name.",
)
@json_option
@reports_errors
def command(
    plan: str, out_dir: str, dry_run: bool, force: bool, app_name: str | None, as_json: bool
) -> None:
    """Render PLAN into DIR: one @app.cron trigger per job, the legacy job as the fallback.

    Writes owlclaw_app.py (one module per host), skills/<job>/SKILL.md, README.md and
    owlmigrate.json. Triggers start in shadow with migration_weight=0.0. Rerunning is a no-op;
    a generated file edited by hand is reported and only overwritten with --force.

    \b
    Example:
      owlmigrate scan --root examples/legacy_crontabs/debian-web -o plan.json
      owlmigrate generate plan.json -o app
      owlmigrate generate plan.json -o app --dry-run
      owlmigrate generate plan.json -o app --app-name web-3
    """
    from owlmigrate.migration import generate

    if app_name is not None and not app_name.strip():
        raise click.BadParameter("must not be empty", param_hint="--app-name")
    result = generate(plan, out_dir, dry_run=dry_run, force=force, app_name=app_name)
    if as_json:
        echo_json(result.to_dict())
        return
    if dry_run:
        click.echo(result.diff, nl=False)
        return
    n = len(result.triggers)
    left = len(result.not_migrated)
    click.echo(
        f"{result.app_dir}: {n} trigger{'s' * (n != 1)}, "
        f"{left} job{'s' * (left != 1)} left in place"
    )
    for label, names in (
        ("created", result.created),
        ("updated", result.updated),
        ("overwrote (hand-edited, backed up)", result.hand_edited),
        ("removed", result.removed),
    ):
        for name in names:
            click.echo(f"  {label} {name}")
    if not (result.created or result.updated or result.hand_edited or result.removed):
        click.echo("  nothing to do: every file is up to date")
    for item in result.not_migrated:
        where = f"{item['source']}:{item['line']}" if item["source"] else "-"
        click.echo(f"  left in place: {item['job_id']} ({where}): {item['reason']}")
