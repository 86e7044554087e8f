"""The migration verbs: ``generate``, ``cutover``, ``step``, ``rollback``, ``history``, stages.

Plain functions over an app directory and its ledger; they return data and never print (the
click commands in ``owlmigrate.commands`` render it). Every change is journaled Alembic-style:
a ``pending`` row is appended before any file changes and marked ``done`` after the last one, and
:func:`recover` (run first by every verb) inspects the files for each pending row left by a
killed process and completes or undoes it:

=================  ==========================================  ================================
row                complete when                                otherwise undo
=================  ==========================================  ================================
cutover            the crontab line carries the trigger marker  trigger back to shadow
step / soft back   the module holds the new weight              ledger weight back to the old
rollback legacy    the crontab line no longer carries a marker  ledger state back (re-run it)
generate           the manifest records the new module          (re-run generate)
=================  ==========================================  ================================

Order inside cutover is crontab, then ledger override, then module; inside rollback
``--to-legacy`` crontab, then pause, then module. A kill in between leaves a pending row that the
running worker (before the next instant) or the next command settles, so each instant has one
owner (docs/workflow.md, "One owner at every instant").
"""

from __future__ import annotations

from owlmigrate.migration._base import (
    WINDOW_ENV,
    AppDir,
    current_user,
    open_ledger,
    switch_window,
)
from owlmigrate.migration.crontabs import CRONTAB_CMD_ENV
from owlmigrate.migration.cutover import CutoverResult, cutover
from owlmigrate.migration.generate import GenerateResult, generate
from owlmigrate.migration.recovery import recover
from owlmigrate.migration.rollback import rollback
from owlmigrate.migration.stamp import stamp
from owlmigrate.migration.views import history, stages, stages_from
from owlmigrate.migration.weights import WeightResult, evidence_for, soft_rollback, step

__all__ = [
    "CRONTAB_CMD_ENV",
    "WINDOW_ENV",
    "AppDir",
    "CutoverResult",
    "GenerateResult",
    "WeightResult",
    "current_user",
    "cutover",
    "evidence_for",
    "generate",
    "history",
    "open_ledger",
    "recover",
    "rollback",
    "soft_rollback",
    "stages",
    "stages_from",
    "stamp",
    "step",
    "switch_window",
]
