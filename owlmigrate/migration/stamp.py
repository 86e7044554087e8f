"""``stamp``: tell the journal where a job stands without touching any file (Alembic's
``stamp``), e.g. after the crontab and module were changed by hand or restored from elsewhere.
The row is recorded ``done`` with its reason; later verbs start from the stamped state."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from owlmigrate.errors import UsageError
from owlmigrate.journal import normalise_weight, replay, state_of
from owlmigrate.migration._base import _entry, _select, _session


def stamp(
    app_dir: str | Path,
    jobs: Iterable[str] = (),
    *,
    all_jobs: bool = False,
    cut_over: bool | None = None,
    weight: float | None = None,
    reason: str | None = None,
    ledger_url: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Append a ``stamp`` row per job recording ``cut_over`` and/or ``weight``; returns per job
    the stage and weight before and after."""
    if cut_over is None and weight is None:
        raise UsageError("stamp needs --cut-over/--not-cut-over or --weight W")
    if weight is not None and not 0.0 <= weight <= 1.0:
        raise UsageError(f"--weight must be in [0, 1], got {weight:g}")
    with _session(app_dir, ledger_url) as (app, store, _notes):
        names = _select(app, jobs, all_jobs)
        states = replay(store.journal())
        out: dict[str, dict[str, Any]] = {}
        for name in names:
            before = state_of(states, name)
            to: dict[str, Any] = {}
            if cut_over is not None:
                to["cut_over"] = cut_over
            if weight is not None:
                to["migration_weight"] = normalise_weight(weight)
            store.journal_append(
                _entry(
                    name,
                    "stamp",
                    {"cut_over": before.cut_over, "migration_weight": before.weight},
                    to,
                    reason=reason,
                    status="done",
                )
            )
            after = state_of(replay(store.journal(name)), name)
            out[name] = {
                "from": {"stage": before.stage, "migration_weight": before.weight},
                "to": {"stage": after.stage, "migration_weight": after.weight},
            }
        return out
