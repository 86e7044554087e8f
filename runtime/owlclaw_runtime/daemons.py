"""The cron daemons whose behaviour around a run a legacy command reproduces: every dialect
name the runtime accepts and the daemon family (environment, mail, log lines) it belongs to."""

from __future__ import annotations

FAMILIES: dict[str, str] = {
    "debian": "debian",
    "cronie": "cronie",
    "cronie-1.5": "cronie",
    "cronie-1.7": "cronie",
    "cronie-head": "cronie",
    "busybox": "busybox",
}


def daemon_family(dialect: str) -> str:
    """``debian``, ``cronie`` or ``busybox`` for ``dialect``; ``ValueError`` naming the
    accepted dialects otherwise."""
    try:
        return FAMILIES[dialect]
    except KeyError:
        raise ValueError(
            f"unknown cron dialect {dialect!r}; expected one of {', '.join(sorted(FAMILIES))}"
        ) from None
