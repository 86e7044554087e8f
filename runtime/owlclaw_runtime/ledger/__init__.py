"""The durable ledger: store protocol and SQLAlchemy implementation."""

from __future__ import annotations

import os
from pathlib import Path

from owlclaw_runtime.ledger.base import (
    BreakerState,
    GovernanceFigures,
    JournalEntry,
    LeaderLock,
    LedgerError,
    LedgerStore,
    LedgerWriteError,
    ManagementEvent,
    SideStats,
    TriggerState,
    TriggerStats,
    WorkerHeartbeat,
)
from owlclaw_runtime.ledger.migrations import SCHEMA_VERSION
from owlclaw_runtime.ledger.schema import DEFAULT_APP
from owlclaw_runtime.ledger.sql import SqlLedgerStore

DEFAULT_LEDGER_FILE = "owlclaw-ledger.db"
LEDGER_URL_ENV = "OWLCLAW_LEDGER_URL"


def default_url(app_dir: Path | None = None) -> str:
    """``OWLCLAW_LEDGER_URL`` when set, else the SQLite file ``owlclaw-ledger.db`` in
    ``app_dir`` (default: the current directory)."""
    url = os.environ.get(LEDGER_URL_ENV, "").strip()
    if url:
        return url
    base = Path(app_dir) if app_dir is not None else Path.cwd()
    return f"sqlite:///{(base / DEFAULT_LEDGER_FILE).resolve()}"


def open_store(
    url: str | None = None, *, app_dir: Path | None = None, app_name: str = DEFAULT_APP
) -> LedgerStore:
    """Open (creating or migrating) the ledger at ``url``, or at ``default_url(app_dir)``, bound
    to the app ``app_name`` (its rows only; ``OwlClawApp`` binds its store to its name).

    Raises ``ConfigurationError`` for an unusable URL, an empty app name or a schema newer than
    this runtime.
    """
    return SqlLedgerStore(url if url else default_url(app_dir), app_name=app_name)


__all__ = [
    "DEFAULT_APP",
    "DEFAULT_LEDGER_FILE",
    "LEDGER_URL_ENV",
    "SCHEMA_VERSION",
    "BreakerState",
    "GovernanceFigures",
    "JournalEntry",
    "LeaderLock",
    "LedgerError",
    "LedgerStore",
    "LedgerWriteError",
    "ManagementEvent",
    "SideStats",
    "SqlLedgerStore",
    "TriggerState",
    "TriggerStats",
    "WorkerHeartbeat",
    "default_url",
    "open_store",
]
