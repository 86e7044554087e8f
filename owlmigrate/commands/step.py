"""``owlmigrate step``: raise (or lower) migration_weight when the ledger says it is safe."""

from __future__ import annotations

import click

from owlmigrate.commands._workflow import (
    app_option,
    echo_json,
    echo_notes,
    json_option,
    reports_errors,
)


@click.command(
    "step", short_help="Raise or lower migration_weight when the ledger says it is safe."
)
@click.argument("jobs", nargs=-1)
@click.option("--all", "all_jobs", is_flag=True, help="Every trigger of the app.")
@click.option("--to", "to", type=float, help="The new weight, in [0, 1].")
@click.option("--by", "by", type=float, help="Add this to the current weight.")
@click.option("--force", is_flag=True, help="Override the guardrails (recorded in the journal).")
@app_option
@click.option(
    "--min-executions",
    type=int,
    default=5,
    show_default=True,
    help="Executions needed at the current weight before a step up.",
)
@click.option(
    "--max-failure-rate",
    type=float,
    default=0.2,
    show_default=True,
    help="A step up needs a failure rate under this at the current weight.",
)
@click.option("--reason", help="Recorded in the journal.")
@json_option
@reports_errors
def command(
    jobs: tuple[str, ...],
    all_jobs: bool,
    to: float | None,
    by: float | None,
    force: bool,
    app_dir: str,
    min_executions: int,
    max_failure_rate: float,
    reason: str | None,
    as_json: bool,
) -> None:
    """Set migration_weight of JOB ... (or --all) to W (--to) or by D (--by).

    Rewrites the keyword in the generated module (LibCST: formatting and comments kept), records
    the step in the journal and in the ledger, where running workers pick it up without a
    restart. A step up is refused unless the job is cut over, the ledger shows enough executions
    at the current weight with a failure rate under the threshold and a closed breaker, and an
    agent is configured; --force overrides (never the [0, 1] bounds).

    \b
    Example:
      owlmigrate step backup_db --to 0.1 --app app
      owlmigrate step --all --by 0.1 --app app
    """
    from owlmigrate.errors import UsageError
    from owlmigrate.journal import GuardrailPolicy
    from owlmigrate.migration import step

    if min_executions < 1 or not 0.0 < max_failure_rate <= 1.0:
        raise UsageError("--min-executions must be >= 1 and --max-failure-rate in (0, 1]")
    policy = GuardrailPolicy(min_executions=min_executions, max_failure_rate=max_failure_rate)
    result = step(
        app_dir, jobs, all_jobs=all_jobs, to=to, by=by, force=force, policy=policy, reason=reason
    )
    echo_notes(result.recovered)
    if as_json:
        echo_json(result.to_dict())
        return
    for name, item in result.jobs.items():
        if item["status"] == "unchanged":
            click.echo(f"{name}: migration_weight already {item['to']:g}")
        else:
            forced = (
                " (forced: " + "; ".join(item["overridden"]) + ")" if item["overridden"] else ""
            )
            click.echo(f"{name}: migration_weight {item['from']:g} -> {item['to']:g}{forced}")
