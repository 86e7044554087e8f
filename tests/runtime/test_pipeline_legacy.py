"""The pipeline running real legacy commands (LegacyCommand): exit code, output tail and
failures reach the ledger exactly as cron saw them."""

from __future__ import annotations

from datetime import UTC, datetime

from owlclaw_runtime.ledger import LedgerStore
from owlclaw_runtime.legacy import LegacyCommand
from owlclaw_runtime.triggers.models import ExecutionStatus
from runtime_helpers import new_app

AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


async def test_a_failing_legacy_job_keeps_its_exit_code_and_output(
    ledger_store: LedgerStore,
) -> None:
    app, _, sleep = new_app(ledger_store)
    legacy = LegacyCommand("echo starting; echo 'disk full' >&2; exit 3")

    @app.cron("0 2 * * *", migration_weight=0.0, max_retries=1, retry_delay_seconds=5)
    async def backup() -> None:
        await legacy.arun()

    (execution,) = await app.dispatch("backup", scheduled_at=AT)
    stored = ledger_store.get_execution(execution.execution_id)
    assert stored is not None
    assert stored.status == ExecutionStatus.FAILED
    assert stored.exit_code == 3
    assert "starting" in (stored.output_tail or "") and "disk full" in (stored.output_tail or "")
    assert stored.error_message == "LegacyJobFailed: legacy job exited with status 3: disk full"
    assert stored.retry_count == 1 and sleep.delays == [5]  # a failed job is retried


async def test_a_successful_legacy_job_output_is_redacted(ledger_store: LedgerStore) -> None:
    app, _, _ = new_app(ledger_store)
    legacy = LegacyCommand("echo PGPASSWORD=hunter2; echo done")

    @app.cron("0 2 * * *", migration_weight=0.0)
    async def backup() -> object:
        return await legacy.arun()

    (execution,) = await app.dispatch("backup", scheduled_at=AT)
    assert execution.status == ExecutionStatus.FALLBACK and execution.exit_code == 0
    assert execution.output_tail is not None
    assert "hunter2" not in execution.output_tail and "done" in execution.output_tail


async def test_a_sync_legacy_job_killed_by_its_timeout(ledger_store: LedgerStore) -> None:
    app, _, _ = new_app(ledger_store)
    legacy = LegacyCommand("sleep 5", timeout=0.3)

    @app.cron("0 2 * * *", migration_weight=0.0, retry_on_failure=False)
    def slow() -> None:
        legacy.run()

    (execution,) = await app.dispatch("slow", scheduled_at=AT)
    assert execution.status == ExecutionStatus.FAILED
    assert "timed out" in (execution.error_message or "")
    assert execution.exit_code is not None and execution.exit_code != 0


async def test_a_misconfigured_legacy_job_is_not_retried(ledger_store: LedgerStore) -> None:
    app, _, sleep = new_app(ledger_store)
    legacy = LegacyCommand("true", user="no-such-user-owlmigrate")

    @app.cron("0 2 * * *", migration_weight=0.0, max_retries=3)
    async def job() -> None:
        await legacy.arun()

    (execution,) = await app.dispatch("job", scheduled_at=AT)
    assert execution.status == ExecutionStatus.FAILED
    assert execution.error_message.startswith("ConfigurationError")
    assert sleep.delays == [] and execution.retry_count == 0
