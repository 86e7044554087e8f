"""``owlmigrate service install|uninstall``: the worker of an app directory as a systemd unit."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click

from owlmigrate.commands._workflow import echo_json, echo_notes, reports_errors


def _payload(result: Any, dry_run: bool) -> dict[str, Any]:
    data = dataclasses.asdict(result)
    data["unit_path"] = str(result.unit_path)
    data["env_path"] = str(result.env_path)
    data["dry_run"] = dry_run
    return data


_common = [
    click.option(
        "--app",
        "app_dir",
        default=".",
        show_default=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="The generated app directory the worker runs.",
    ),
    click.option("--name", default=None, help="Unit name suffix (default: the directory's name)."),
    click.option(
        "--root",
        default="/",
        show_default=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="Write under this tree instead of / (etc/systemd/system, etc/default).",
    ),
    click.option("--dry-run", is_flag=True, help="Show what would be written; change nothing."),
    click.option(
        "--systemctl/--no-systemctl",
        default=True,
        help="Run systemctl (daemon-reload, enable --now / disable --now) when systemd runs "
        "this host.",
    ),
    click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout."),
]


def _with_common(fn: Any) -> Any:
    for option in reversed(_common):
        fn = option(fn)
    return fn


@click.group("service")
def command() -> None:
    """Run the app's worker as a host service (systemd), started at boot and restarted like
    the cron daemon.

    \b
    Example:
      owlmigrate service install --app /srv/owlmigrate/web01
    """


@command.command("install")
@_with_common
@click.option(
    "--ledger-url",
    default=None,
    help="The ledger the worker uses (default: the configuration, as `owlmigrate run`).",
)
@click.option(
    "--stop-timeout",
    type=click.IntRange(min=1),
    default=None,
    metavar="SECONDS",
    help="TimeoutStopSec: how long a stop waits for running jobs (default 3600).",
)
@click.option(
    "--executable",
    default=None,
    help="The owlmigrate command the unit runs (default: this installation's).",
)
@reports_errors
def install_command(
    app_dir: Path,
    name: str | None,
    root: Path,
    dry_run: bool,
    systemctl: bool,
    as_json: bool,
    ledger_url: str | None,
    stop_timeout: int | None,
    executable: str | None,
) -> None:
    """Write the systemd unit (and its root-only environment file) for the app's worker."""
    from owlmigrate.service import DEFAULT_STOP_TIMEOUT, install

    result = install(
        app_dir,
        name=name,
        root=root,
        ledger_url=ledger_url,
        owlmigrate=executable,
        stop_timeout=stop_timeout or DEFAULT_STOP_TIMEOUT,
        dry_run=dry_run,
        systemctl=systemctl,
    )
    if as_json:
        echo_json(_payload(result, dry_run))
    elif dry_run:
        click.echo(f"# {result.unit_path}")
        click.echo(result.unit_text, nl=False)
        click.echo(f"# {result.env_path} (mode 0600)")
        click.echo(result.env_text, nl=False)
    else:
        for path in result.written:
            click.echo(f"wrote {path}")
        if result.ran:
            click.echo(f"{result.unit} enabled and started")
    echo_notes(result.notes)


@command.command("uninstall")
@_with_common
@reports_errors
def uninstall_command(
    app_dir: Path, name: str | None, root: Path, dry_run: bool, systemctl: bool, as_json: bool
) -> None:
    """Stop and disable the worker's unit and remove its files."""
    from owlmigrate.service import uninstall

    result = uninstall(app_dir, name=name, root=root, dry_run=dry_run, systemctl=systemctl)
    if as_json:
        echo_json(_payload(result, dry_run))
    else:
        verb = "would remove" if dry_run else "removed"
        for path in result.removed:
            click.echo(f"{verb} {path}")
    echo_notes(result.notes)
