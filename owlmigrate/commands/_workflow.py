"""Shared bits of the migration-workflow commands (generate, cutover, step, rollback, history):
typed errors rendered as ``owlmigrate: <where>: <message>`` with their exit code, and the
``--app`` option."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

import click
from owlclaw_runtime.errors import OwlClawError

from owlmigrate.errors import OwlMigrateError

F = TypeVar("F", bound=Callable[..., Any])

app_option = click.option(
    "--app",
    "app_dir",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="The generated app directory (holds owlmigrate.json).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")


def reports_errors(fn: F, usage_errors: tuple[type[Exception], ...] = ()) -> F:
    """Turn typed errors into one line on stderr and the error's exit code (1 finding, 2 usage);
    ``usage_errors`` are always usage errors (exit 2)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except usage_errors as exc:
            click.echo(f"owlmigrate: {exc}", err=True)
            raise click.exceptions.Exit(2) from None
        except OwlClawError as exc:
            click.echo(f"owlmigrate: {exc}", err=True)
            code = exc.exit_code if isinstance(exc, OwlMigrateError) else 1
            raise click.exceptions.Exit(code) from None

    return wrapper  # type: ignore[return-value]


def echo_json(data: Any) -> None:
    """Machine output: one JSON document on stdout."""
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def echo_notes(notes: list[str]) -> None:
    """Recovery notes (interrupted commands completed or undone) go to stderr."""
    for note in notes:
        click.echo(f"owlmigrate: {note}", err=True)
