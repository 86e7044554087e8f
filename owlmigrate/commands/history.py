"""``owlmigrate history``: the migration journal, oldest first."""

from __future__ import annotations

import click

from owlmigrate.commands._workflow import app_option, echo_json, json_option, reports_errors


def _summary(row: dict) -> str:
    before, after = row["from_state"], row["to_state"]
    if row["action"] in ("step", "rollback") and "migration_weight" in after:
        if after.get("to_legacy"):
            return "legacy lines restored, trigger paused"
        return f"weight {before.get('migration_weight', 0):g} -> {after['migration_weight']:g}"
    if row["action"] == "cutover":
        return f"legacy line disabled in {after.get('source')}, trigger live"
    if row["action"] == "generate":
        if after.get("removed"):
            return "trigger removed (the job is no longer in the plan)"
        return "trigger written" if before.get("fingerprint") is None else "trigger changed"
    return ", ".join(f"{k}={v}" for k, v in after.items())


@click.command("history")
@click.argument("job", required=False)
@app_option
@json_option
@reports_errors
def command(job: str | None, app_dir: str, as_json: bool) -> None:
    """List the migration journal (every generate, cutover, step, rollback and stamp).

    Each row has its time, user, action, from and to states, reason, whether it was forced and
    its status (pending rows are what a killed command left; the next command resolves them).

    \b
    Example:
      owlmigrate history --app app
      owlmigrate history backup_db --app app --json
    """
    from owlmigrate.migration import history

    rows = history(app_dir, job=job)
    if as_json:
        echo_json({"journal": rows})
        return
    if not rows:
        click.echo("the journal is empty")
        return
    for row in rows:
        flags = " [forced]" if row["forced"] else ""
        status = "" if row["status"] == "done" else f" [{row['status']}]"
        reason = f" ({row['reason']})" if row["reason"] else ""
        click.echo(
            f"{row['id']:>4}  {row['at']}  {row['user']}  {row['action']:<8} {row['job']}: "
            f"{_summary(row)}{flags}{status}{reason}"
        )
