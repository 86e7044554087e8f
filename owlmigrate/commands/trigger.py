"""``owlmigrate trigger JOB``: run a trigger now, through the full pipeline, as a manual run."""

from __future__ import annotations

import asyncio
import contextlib
import sys

import click
from owlclaw_runtime.triggers.registry import execution_to_dict

from owlmigrate.commands._workflow import echo_json, json_option
from owlmigrate.commands.status import app_option, opened_app, reports_errors


def _parse_context(values: tuple[str, ...]) -> dict[str, str]:
    context: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--context")
        context[key.strip()] = value
    return context


@click.command("trigger")
@click.argument("job")
@app_option
@click.option(
    "--context",
    "contexts",
    multiple=True,
    metavar="KEY=VALUE",
    help="Extra context passed to the agent or fallback (repeatable).",
)
@json_option
@reports_errors
def command(job: str, app_target: str, contexts: tuple[str, ...], as_json: bool) -> None:
    """Run JOB now as a manual run (governance, ledger and retries included) and wait for it.

    Exit 0 when the run succeeded or the fallback did the job, 1 when it failed or was
    skipped (paused, breaker open, overlap).

    \b
    Example:
      owlmigrate trigger backup_db --app ./generated --context reason=hotfix
    """
    context = _parse_context(contexts)
    with opened_app(app_target) as app:
        # stdout carries this command's result only; what the job itself prints goes to stderr
        with contextlib.redirect_stdout(sys.stderr):
            execution_id = asyncio.run(app.cron_registry.trigger_now(job, **context))
        execution = app.ledger.get_execution(execution_id, tenant_id=app.tenant_id)
    if execution is None:  # the ledger commits before trigger_now returns
        raise click.ClickException(f"execution {execution_id} is missing from the ledger")
    data = execution_to_dict(execution)
    if as_json:
        echo_json(data)
    else:
        duration = data["duration_seconds"] or 0.0
        line = f"{job}: {data['status']} ({data['decision_mode']}, execution {execution_id}, "
        line += f"{duration:.2f}s)"
        if data["skip_reason"]:
            line += f": {data['skip_reason']}"
        elif data["error_message"]:
            line += f": {data['error_message']}"
        click.echo(line)
    if not execution.status.is_success:
        raise click.exceptions.Exit(1)
