"""Error base of the runtime. Errors carry where they happened so one boundary can render them."""

from __future__ import annotations

from pathlib import Path


class OwlClawError(Exception):
    """Base error: a message plus optional location (path, line, column, field, token)."""

    exit_code: int = 1

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
        token: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.column = column
        self.field = field
        self.token = token

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        return f"{where}{self.message}"


class ConfigurationError(OwlClawError):
    """A configuration value is invalid; the message names the key and where it came from."""
