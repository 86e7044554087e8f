"""Typed errors of the toolkit. Each says where (path, line, column, field, token) and carries
the exit code the CLI maps it to: 1 for findings, 2 for usage errors."""

from __future__ import annotations

from owlclaw_runtime.errors import OwlClawError


class OwlMigrateError(OwlClawError):
    """Base of every error the toolkit raises on purpose; ``str()`` is the user text."""

    exit_code: int = 1


class UsageError(OwlMigrateError):
    """The command was called wrongly (bad option combination, missing file argument)."""

    exit_code = 2


class FindingError(OwlMigrateError):
    """The command ran and found something that makes it refuse (guardrail, non-equivalence)."""

    exit_code = 1
