"""``owlmigrate run``: fire the app's triggers (embedded scheduler or Hatchet worker) until
SIGTERM/SIGINT, optionally serving ``/metrics`` and ``/healthz``.

The worker keeps a heartbeat in the ledger (``cutover`` checks it) and, for a generated app
directory, settles switches a killed owlmigrate command left pending before it fires
(``owlmigrate.migration.handshake.Settler``)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from owlclaw_runtime.schedulers.housekeeping import DEFAULT_INTERVAL_SECONDS

from owlmigrate.commands.status import app_option, reports_errors

HEARTBEAT_ENV = "OWLMIGRATE_HEARTBEAT_SECONDS"


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


def _settlers(app: Any) -> list[Any]:
    """For a generated app directory: the hook that settles interrupted switches."""
    from owlclaw_runtime.loader import MANIFEST

    from owlmigrate.migration.handshake import Settler

    if app.app_dir is None or not (Path(app.app_dir) / MANIFEST).is_file():
        return []
    return [Settler(Path(app.app_dir), app.ledger, tenant_id=app.tenant_id)]


@click.command("run")
@app_option
@click.option(
    "--backend",
    type=click.Choice(["local", "hatchet"]),
    default=None,
    help="local: the embedded scheduler; hatchet: a worker of the engine named by "
    "HATCHET_CLIENT_TOKEN and friends. Default: the configuration (OWLCLAW_BACKEND, "
    "owlclaw.yaml), else local.",
)
@click.option(
    "--http-port",
    type=click.IntRange(0, 65535),
    help="Serve /metrics, /healthz and /readyz (0: a free port). Default: metrics.http_port.",
)
@click.option("--http-host", default=None, help="Address for --http-port (default 127.0.0.1).")
@click.option(
    "--max-runtime",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Stop gracefully after this long (demos, tests).",
)
@click.option("--until", "until", metavar="ISO", help="Stop gracefully at this instant (UTC).")
@click.option(
    "--heartbeat-seconds",
    type=click.FloatRange(min=0.1),
    default=DEFAULT_INTERVAL_SECONDS,
    show_default=True,
    envvar=HEARTBEAT_ENV,
    help="How often the worker writes its heartbeat to the ledger and checks for switches "
    f"left pending by a killed command (also {HEARTBEAT_ENV}).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON on stdout.")
@reports_errors
def command(
    app_target: str,
    backend: str | None,
    http_port: int | None,
    http_host: str | None,
    max_runtime: float | None,
    until: str | None,
    heartbeat_seconds: float,
    as_json: bool,
) -> None:
    """Run the app's triggers until SIGTERM or SIGINT, then stop gracefully (runs in flight
    finish and are recorded first).

    The worker's configuration (owlclaw.yaml, OWLCLAW_* variables: ledger URL, tenant, trigger
    defaults, logging, metrics, notifications) is applied first; options given here win.
    With --backend hatchet the connection comes from hatchet-sdk's environment
    (HATCHET_CLIENT_TOKEN, HATCHET_CLIENT_HOST_PORT, HATCHET_CLIENT_SERVER_URL,
    HATCHET_CLIENT_TLS_STRATEGY); see docs/backends.md.

    The worker writes a heartbeat to the ledger every --heartbeat-seconds (cutover refuses
    while no worker serves the app) and, for a generated app directory, completes or undoes a
    switch a killed owlmigrate command left pending before the next instant fires.

    \b
    Example:
      owlmigrate run --app ./generated --http-port 9464
      owlmigrate run --app ./generated --backend hatchet
    """
    from owlclaw_runtime.config import apply_settings, load_settings
    from owlclaw_runtime.loader import load_app
    from owlclaw_runtime.observability.setup import install_observability
    from owlclaw_runtime.schedulers import create_backend
    from owlclaw_runtime.schedulers.runner import serve_app

    from owlmigrate.migration.ledger_identity import check_app

    limit = max_runtime
    if until is not None:
        left = _seconds_until(until)
        limit = left if limit is None else min(limit, left)
    overrides: dict[str, Any] = {}
    if backend is not None:
        overrides["backend"] = backend
    metrics = {
        key: value
        for key, value in (("http_port", http_port), ("http_host", http_host))
        if value is not None
    }
    if metrics:
        overrides["metrics"] = metrics
    settings = load_settings(**overrides)

    def notify(event: str, details: dict[str, Any]) -> None:
        if event == "started":
            line = f"owlmigrate: running {details['triggers']} trigger(s) on {details['backend']}"
            if details["http_url"]:
                line += f"; /metrics and /healthz on {details['http_url']}"
            click.echo(line, err=True)
        elif event == "stopping":
            click.echo(f"owlmigrate: stopping ({details['reason']})", err=True)
        elif event == "settled":
            for note in details["notes"]:
                click.echo(f"owlmigrate: {note}", err=True)

    app = load_app(app_target)
    try:
        apply_settings(app, settings)
        check_app(app)
        observability = install_observability(app, settings)
        try:
            instance = create_backend(settings.backend, app, **settings.backend_options())
            serve_port = settings.metrics.http_port if settings.metrics.enabled else None
            summary = asyncio.run(
                serve_app(
                    app,
                    instance,
                    http_port=serve_port,
                    http_host=settings.metrics.http_host,
                    max_runtime=limit,
                    notify=notify,
                    heartbeat_seconds=heartbeat_seconds,
                    housekeeping=_settlers(app),
                )
            )
        finally:
            observability.close()
    finally:
        app.close()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "backend": summary.backend,
                    "triggers": summary.triggers,
                    "stopped_by": summary.stopped_by,
                    "runtime_seconds": summary.runtime_seconds,
                    "http_url": summary.http_url,
                    "worker_id": summary.worker.get("worker_id"),
                    "settled": [item["note"] for item in summary.worker.get("settled", [])],
                },
                sort_keys=True,
            )
        )
    else:
        click.echo(f"owlmigrate: stopped after {summary.runtime_seconds:.1f}s", err=True)
