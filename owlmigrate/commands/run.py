"""``owlmigrate run``: fire the app's triggers (embedded scheduler or Hatchet worker) until
SIGTERM/SIGINT, optionally serving ``/metrics`` and ``/healthz``."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import click

from owlmigrate.commands.status import app_option, opened_app, reports_errors


def _seconds_until(text: str) -> float:
    try:
        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"expected an ISO instant like 2026-05-01T10:00:00Z, got {text!r}", param_hint="--until"
        ) from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return max(0.0, (instant - datetime.now(UTC)).total_seconds())


@click.command("run")
@app_option
@click.option(
    "--backend",
    type=click.Choice(["local", "hatchet"]),
    default="local",
    show_default=True,
    help="local: the embedded scheduler; hatchet: a worker of the engine named by "
    "HATCHET_CLIENT_TOKEN and friends.",
)
@click.option("--http-port", type=click.IntRange(0, 65535), help="Serve /metrics and /healthz.")
@click.option(
    "--http-host", default="127.0.0.1", show_default=True, help="Address for --http-port."
)
@click.option(
    "--max-runtime",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Stop gracefully after this long (demos, tests).",
)
@click.option("--until", "until", metavar="ISO", help="Stop gracefully at this instant (UTC).")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON on stdout.")
@reports_errors
def command(
    app_target: str,
    backend: str,
    http_port: int | None,
    http_host: str,
    max_runtime: float | None,
    until: str | None,
    as_json: bool,
) -> None:
    """Run the app's triggers until SIGTERM or SIGINT, then stop gracefully (runs in flight
    finish and are recorded first).

    With --backend hatchet the connection comes from hatchet-sdk's environment
    (HATCHET_CLIENT_TOKEN, HATCHET_CLIENT_HOST_PORT, HATCHET_CLIENT_SERVER_URL,
    HATCHET_CLIENT_TLS_STRATEGY); see docs/backends.md.

    \b
    Example:
      owlmigrate run --app ./generated --http-port 9464
      owlmigrate run --app ./generated --backend hatchet
    """
    from owlclaw_runtime.schedulers.runner import serve_app

    limit = max_runtime
    if until is not None:
        left = _seconds_until(until)
        limit = left if limit is None else min(limit, left)

    def notify(event: str, details: dict[str, Any]) -> None:
        if event == "started":
            line = f"owlmigrate: running {details['triggers']} trigger(s) on {details['backend']}"
            if details["http_url"]:
                line += f"; /metrics and /healthz on {details['http_url']}"
            click.echo(line, err=True)
        elif event == "stopping":
            click.echo(f"owlmigrate: stopping ({details['reason']})", err=True)

    with opened_app(app_target) as app:
        summary = asyncio.run(
            serve_app(
                app,
                backend,
                http_port=http_port,
                http_host=http_host,
                max_runtime=limit,
                notify=notify,
            )
        )
    if as_json:
        click.echo(
            json.dumps(
                {
                    "backend": summary.backend,
                    "triggers": summary.triggers,
                    "stopped_by": summary.stopped_by,
                    "runtime_seconds": summary.runtime_seconds,
                    "http_url": summary.http_url,
                },
                sort_keys=True,
            )
        )
    else:
        click.echo(f"owlmigrate: stopped after {summary.runtime_seconds:.1f}s", err=True)
