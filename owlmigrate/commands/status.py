"""``owlmigrate status``: next runs, effective weight, success rate, breaker and last runs.

Also home of the ``--app`` option and app loading shared with ``owlmigrate trigger``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click
from owlclaw_runtime.app import OwlClawApp
from owlclaw_runtime.loader import AppNotFoundError
from owlclaw_runtime.triggers.registry import UnknownTriggerError

from owlmigrate.commands._workflow import echo_json, json_option
from owlmigrate.commands._workflow import reports_errors as workflow_reports_errors
from owlmigrate.status import build_status

F = TypeVar("F", bound=Callable[..., Any])

app_option = click.option(
    "--app",
    "app_target",
    default=".",
    show_default=True,
    metavar="APP",
    help="A generated app directory (with owlmigrate.json) or path/app.py[:attr].",
)


def reports_errors(fn: F) -> F:
    """Typed errors become one line on stderr: an unknown trigger or an ``--app`` that names
    nothing is a usage error (exit 2); anything else the app or ledger refuses (a broken app
    module, a bad trigger) is exit 1."""
    return workflow_reports_errors(fn, usage_errors=(UnknownTriggerError, AppNotFoundError))


@contextlib.contextmanager
def opened_app(target: str) -> Iterator[OwlClawApp]:
    """Load the app with the configuration a worker would apply (``owlclaw.yaml`` and
    ``OWLCLAW_*``: ledger URL, tenant, trigger defaults), and close its ledger afterwards."""
    from owlclaw_runtime.config import apply_settings, load_settings
    from owlclaw_runtime.loader import load_app

    from owlmigrate.migration.ledger_identity import check_app

    app = load_app(target)
    apply_settings(app, load_settings())
    try:
        check_app(app)
        yield app
    finally:
        app.close()


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _mail_text(mail: dict[str, Any]) -> str:
    if not mail.get("to"):
        return f"none ({mail.get('reason') or 'never'})"
    return f"to {mail['to']} from {mail.get('from')}, {mail.get('when')}"


def render_text(data: dict[str, Any]) -> str:
    """Human view of :func:`owlmigrate.status.build_status`."""
    lines: list[str] = []
    for t in data["triggers"]:
        state = "enabled" if t["enabled"] else "paused"
        lines.append(
            f"{t['event_name']}: {state}, {t['expression']} ({t['timezone']}), "
            f"weight {t['migration_weight']:g}, success {_pct(t['success_rate'])}, "
            f"breaker {t['breaker']}"
            + (f", stage {t['migration']['stage']}" if "migration" in t else "")
        )
        nxt = t["next_runs"][0] if t["next_runs"] else "never"
        lines.append(f"  next: {nxt}")
        if t.get("mail"):
            lines.append(f"  mail: {_mail_text(t['mail'])}")
        for run in t["last_runs"]:
            duration = run["duration_seconds"]
            took = "" if duration is None else f" {duration:.2f}s"
            error = f" {run['error_message']}" if run["error_message"] else ""
            lines.append(
                f"  {run['triggered_at']} {run['status']} ({run['decision_mode']}){took}{error}"
            )
    if not data["triggers"]:
        lines.append("no triggers")
    lines.extend(_worker_lines(data.get("workers")))
    lines.extend(f"pending: {note}" for note in data.get("pending", []))
    return "\n".join(lines)


def _worker_lines(workers: list[dict[str, Any]] | None) -> list[str]:
    if workers is None:
        return []
    alive = [w for w in workers if w["alive"]]
    if not alive:
        lines = ["workers: none running (start one: owlmigrate run --app DIR)"]
    else:
        lines = ["workers:"]
    for w in workers:
        if not w["alive"]:
            state = f"last seen {w['age_seconds']:.0f}s ago, presumed dead"
        else:
            state = f"seen {w['age_seconds']:.0f}s ago, module {w['module']}"
            if w["module"] == "stale":
                state += " (restart it to serve the module on disk)"
        served = ", ".join(w["triggers"]) or "none"
        lines.append(
            f"  {w['host']} pid {w['pid']} ({w['backend']}): {state}; "
            f"serves {len(w['triggers'])} trigger(s): {served}"
        )
    return lines


@click.command("status")
@click.argument("job", required=False)
@app_option
@json_option
@click.option(
    "--next",
    "next_count",
    default=5,
    show_default=True,
    type=click.IntRange(0, 100),
    help="How many next fire instants to list.",
)
@click.option(
    "--last",
    "last_count",
    default=5,
    show_default=True,
    type=click.IntRange(1, 100),
    help="How many recent runs to list.",
)
@reports_errors
def command(
    job: str | None, app_target: str, as_json: bool, next_count: int, last_count: int
) -> None:
    """Show each trigger's schedule, effective weight, next runs, success rate, breaker and
    last runs (from the ledger), the workers serving the app (host, pid, age of their
    heartbeat, module fresh or stale, triggers served) and interrupted switches.

    \b
    Example:
      owlmigrate status --app ./generated
      owlmigrate status backup_db --app app.py:app --json
    """
    with opened_app(app_target) as app:
        data = build_status(app, job, next_count=next_count, last_count=last_count)
    if as_json:
        echo_json(data)
    else:
        click.echo(render_text(data))
