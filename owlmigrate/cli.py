"""The ``owlmigrate`` command line: a thin click adapter over the library verbs.

Each command lives in its own module under ``owlmigrate.commands`` and is imported only when it
is invoked, so ``owlmigrate explain`` does not pay for SQLAlchemy or hatchet-sdk imports.
Exit codes (DESIGN.md section 6): 0 success, 1 a finding, 2 a usage error.
"""

from __future__ import annotations

import importlib
import sys

import click

from owlmigrate.errors import OwlMigrateError

# name -> module under owlmigrate.commands; every module exposes a click command called ``command``.
COMMANDS: dict[str, str] = {
    "scan": "scan",
    "explain": "explain",
    "verify": "verify",
    "generate": "generate",
    "cutover": "cutover",
    "step": "step",
    "rollback": "rollback",
    "history": "history",
    "stamp": "stamp",
    "status": "status",
    "run": "run",
    "trigger": "trigger",
    "report": "report",
    "service": "service",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._load(name) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        module_name = COMMANDS.get(name)
        if module_name is None:
            return None
        try:
            module = importlib.import_module(f"owlmigrate.commands.{module_name}")
        except ModuleNotFoundError as exc:
            # A command whose module is not written yet is simply absent from the CLI.
            if exc.name == f"owlmigrate.commands.{module_name}":
                return None
            raise
        command = getattr(module, "command", None)
        return command if isinstance(command, click.Command) else None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="owlmigrate")
def cli() -> None:
    """Move legacy cron jobs onto OwlClaw @app.cron triggers, provably and reversibly.

    \b
    Example:
      owlmigrate scan --root examples/legacy_crontabs/debian-web -o plan.json
    """


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: turns typed errors into user text at one boundary."""
    try:
        # With standalone_mode=False click *returns* the code of a raised click Exit.
        rc = cli.main(args=argv, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        exc.show()
        sys.exit(2)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except OwlMigrateError as exc:
        click.echo(f"owlmigrate: {exc}", err=True)
        sys.exit(exc.exit_code)
    sys.exit(rc if isinstance(rc, int) else 0)
