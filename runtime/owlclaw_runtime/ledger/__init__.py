"""The durable ledger: store protocol and SQLAlchemy implementation."""

from owlclaw_runtime.ledger.base import (
    BreakerState,
    JournalEntry,
    LedgerStore,
    ManagementEvent,
    SideStats,
    TriggerState,
    TriggerStats,
)

__all__ = [
    "BreakerState",
    "JournalEntry",
    "LedgerStore",
    "ManagementEvent",
    "SideStats",
    "TriggerState",
    "TriggerStats",
]
