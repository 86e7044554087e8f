"""Leader/follower group commit for the SQL ledger's execution rows (see ``GroupCommit``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from owlclaw_runtime.ledger.base import LedgerError


def row_specific(error: BaseException) -> bool:
    """Whether a failed write was refused because of a value in it (not a database that is
    down or locked): then retrying the other rows on their own can succeed."""
    cause = error.__cause__ if isinstance(error, LedgerError) else error
    if isinstance(cause, (sa.exc.DataError, sa.exc.IntegrityError)):
        return True
    return isinstance(cause, (ValueError, TypeError, ArithmeticError)) or (
        isinstance(cause, sa.exc.StatementError) and not isinstance(cause, DBAPIError)
    )


class _Batch:
    """The rows of one ``record_executions`` call, waiting for a committer."""

    __slots__ = ("done", "error", "rows")

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.done = False
        self.error: BaseException | None = None


class GroupCommit:
    """Leader/follower group commit of execution rows.

    Every caller queues its rows. If no thread is committing, the caller becomes the leader: it
    takes everything queued so far and writes it in one transaction, then wakes the others. A
    caller whose rows were in that transaction returns (or raises the transaction's error: a
    failed batch fails every call in it, and nothing of it was committed); one whose rows came
    later becomes the next leader. When the error is caused by a row (``row_specific``), each
    call of the failed batch is written again on its own, so only the call holding the bad row
    fails. No call returns before its own rows are committed, and no
    row waits anywhere but in the stack of a caller blocked on it, so nothing can be dropped
    (the guarantee of ``LedgerStore``). While one transaction commits (a SQLite fsync, a
    PostgreSQL round trip), the next batch gathers: 1,000 concurrent writers need a few
    commits, not 1,000."""

    def __init__(
        self,
        write: Callable[[list[dict[str, Any]]], None],
        row_specific: Callable[[BaseException], bool],
    ) -> None:
        self._write = write
        self._row_specific = row_specific
        self._cond = threading.Condition()
        self._queue: list[_Batch] = []
        self._leading = False
        #: transactions and calls committed so far (tests, benchmarks)
        self.transactions = 0
        self.calls = 0

    def submit(self, entries: list[list[dict[str, Any]]]) -> list[BaseException | None]:
        """Commit each entry (a list of rows written together); returns once every entry is
        committed or failed, with each entry's error (``None``: committed)."""
        mine = [_Batch(rows) for rows in entries]
        with self._cond:
            self._queue.extend(mine)
            while self._leading and not all(b.done for b in mine):
                self._cond.wait()
            if all(b.done for b in mine):
                return [b.error for b in mine]
            self._leading = True
            batch, self._queue = self._queue, []  # holds all of mine: queued under this lock
        committed = 0
        try:
            self._write([row for b in batch for row in b.rows])
            committed = 1
        except BaseException as exc:  # nothing of the batch was committed
            for b in batch:
                b.error = exc
            if len(batch) > 1 and self._row_specific(exc):
                # One bad row (a value the database refuses) must not fail the other runs'
                # records: write each entry on its own so only the bad one fails. A database
                # that is down or locked fails them all at once (retrying each would wait
                # busy_timeout per entry).
                for b in batch:
                    try:
                        self._write(b.rows)
                        b.error = None
                        committed += 1
                    except BaseException as one:
                        b.error = one
        finally:
            with self._cond:
                for b in batch:
                    b.done = True
                self.transactions += committed
                self.calls += sum(1 for b in batch if b.error is None)
                self._leading = False
                self._cond.notify_all()
        return [b.error for b in mine]


def own_error(error: BaseException) -> BaseException:
    """A fresh exception for each caller of a failed batch (one object raised in many threads
    would collect all their tracebacks)."""
    if isinstance(error, LedgerError):
        fresh = LedgerError(str(error))
        fresh.__cause__ = error
        return fresh
    return error
