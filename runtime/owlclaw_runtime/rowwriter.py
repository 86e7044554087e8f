"""The pipeline's row writer: every ledger row of a run goes through one writer task per event
loop, which hands everything queued to ``LedgerStore.record_executions`` in one call (one ledger
thread however many runs wait) and resolves each row's future once it is committed.

Nothing is written behind anyone's back: a row waits in the queue only while a run awaits its
future (or, for the ``running`` row, until the run's final row waits for it), and rows are
committed in the order they were queued, so a run's final row never lands before its
``running`` row (docs/runtime.md, "Rows and crash evidence").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from owlclaw_runtime.ledger.base import LedgerError, LedgerWriteError
from owlclaw_runtime.triggers.models import CronExecution


class RowWriter:
    """Batches rows for one event loop; ``write`` commits a batch (``record_executions`` in a
    ledger thread)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        write: Callable[[list[CronExecution]], Awaitable[None]],
    ) -> None:
        self._loop = loop
        self._write = write
        self._pending: list[tuple[CronExecution, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    def submit(
        self, execution: CronExecution, done: asyncio.Future[None] | None = None
    ) -> asyncio.Future[None]:
        """Queue the row; the future (``done``, or a new one) is done once it is committed
        (or holds the error).

        The row is copied when the writer takes it, on the loop, so it holds the run's state
        at that moment (``running``, or already the outcome of a run that finished first)
        and never half of a later change; copying there keeps the copy off a run's start."""
        if done is None:
            done = self._loop.create_future()
        self._pending.append((execution, done))
        if self._task is None or self._task.done():
            self._task = self._loop.create_task(self._run())
        return done

    async def _run(self) -> None:
        while self._pending:
            taken, self._pending = self._pending, []
            batch = [(_snapshot(execution), done) for execution, done in taken]
            try:
                await self._write([row for row, _ in batch])
            except LedgerWriteError as exc:
                for row, done in batch:
                    if (row.tenant_id, row.execution_id) in exc.uncommitted:
                        _fail(done, LedgerError(str(exc)))
                    elif not done.done():
                        done.set_result(None)
            except Exception as exc:
                for _, done in batch:
                    _fail(done, exc if isinstance(exc, LedgerError) else LedgerError(str(exc)))
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)


def _snapshot(execution: CronExecution) -> CronExecution:
    """The row as it is now: the run goes on changing the execution while its row waits for
    the writer, and a ``running`` row must not carry half of the final state."""
    # a field-by-field copy without copy.copy's pickling protocol (a quarter of its cost)
    row: CronExecution = object.__new__(CronExecution)
    fields = row.__dict__
    fields.update(execution.__dict__)
    fields["governance_checks"] = dict(execution.governance_checks)
    fields["context"] = dict(execution.context)
    return row


def _fail(done: asyncio.Future[None], error: LedgerError) -> None:
    if done.done():
        return
    # a fresh exception per waiting run: one object raised in many tasks would collect all
    # their tracebacks
    fresh = LedgerError(str(error))
    fresh.__cause__ = error
    done.set_exception(fresh)
    done.add_done_callback(_retrieved)


def _retrieved(done: asyncio.Future[None]) -> None:
    """Mark the error seen: a run cancelled while waiting has already logged its own fate."""
    if not done.cancelled():
        done.exception()
