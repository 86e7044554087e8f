"""The Hatchet backend's pieces that need no engine: task names, task options, and the gate
that turns one engine tick into 0, 1 or k pipeline runs (real app, real SQLite ledger)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from owlclaw_runtime import OwlClawApp
from owlclaw_runtime.errors import ConfigurationError
from owlclaw_runtime.ledger import open_store
from owlclaw_runtime.pipeline import PipelineRunFailed
from owlclaw_runtime.schedulers.hatchet import (
    NAME_RE,
    SCHEDULED_AT_KEY,
    HatchetBackend,
    make_client,
    max_multiplicity,
    task_names,
    task_options,
)


@given(st.lists(st.text(min_size=1, max_size=120), min_size=1, max_size=30, unique=True))
def test_task_names_are_valid_and_unique_regardless_of_case(events: list[str]) -> None:
    names = task_names(events)
    assert set(names) == set(events)
    assert all(NAME_RE.match(n) and len(n) <= 100 for n in names.values())
    assert len({n.lower() for n in names.values()}) == len(events)
    assert task_names(events) == names  # deterministic: a restarted worker re-uses them


def test_task_names_keep_plain_event_names_readable() -> None:
    assert task_names(["backup_db", "Backup_DB", "rotate.logs", "a b"]) == {
        "backup_db": "cron_backup_db",
        "Backup_DB": "cron_Backup_DB-" + __import__("hashlib").sha1(b"Backup_DB").hexdigest()[:8],
        "rotate.logs": "cron_rotate.logs",
        "a b": "cron_a_b-" + __import__("hashlib").sha1(b"a b").hexdigest()[:8],
    }


def _app(tmp_path: Path) -> OwlClawApp:
    return OwlClawApp("gate", ledger=open_store(f"sqlite:///{tmp_path / 'ledger.db'}"))


def test_task_options_follow_the_trigger_config(tmp_path: Path) -> None:
    from hatchet_sdk import ConcurrencyLimitStrategy

    app = _app(tmp_path)
    app.cron(
        "0,30 2 * * *",
        event_name="guarded",
        timezone="America/New_York",
        max_duration=90,
        max_retries=4,
        retry_backoff_factor=3.0,
        retry_max_delay_seconds=120,
        overlap_policy="skip",
    )(lambda: None)
    app.cron("*/5 * * * *", event_name="plain", retry_on_failure=False, catch_up=True)(lambda: None)
    guarded = task_options(
        app.cron_registry.require("guarded"), app.cron_registry.schedule("guarded")
    )
    assert guarded["on_crons"] == ["0,30 6,7 * * *"]
    assert (guarded["retries"], guarded["backoff_factor"], guarded["backoff_max_seconds"]) == (
        4,
        3.0,
        120,
    )
    # two runs can share one tick (spring forward), each up to 90 s, plus a margin
    assert guarded["execution_timeout"] == timedelta(seconds=2 * 90 + 60)
    assert guarded["schedule_timeout"] == timedelta(minutes=15)
    concurrency = guarded["concurrency"]
    assert (concurrency.max_runs, concurrency.limit_strategy) == (
        1,
        ConcurrencyLimitStrategy.CANCEL_NEWEST,
    )
    plain = task_options(app.cron_registry.require("plain"), app.cron_registry.schedule("plain"))
    assert plain["retries"] == 0
    assert plain["concurrency"] is None
    assert plain["schedule_timeout"] == timedelta(hours=24)  # catch_up: wait out an outage
    assert plain["execution_timeout"] == timedelta(hours=24, seconds=60)
    assert max_multiplicity(app.cron_registry.schedule("plain")) == 1
    app.close()


def test_make_client_without_a_token_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HATCHET_CLIENT_TOKEN", raising=False)
    with pytest.raises(ConfigurationError, match=r"^HATCHET_CLIENT_TOKEN is not set"):
        make_client()


def _tick(instant: str, retry_count: int = 0) -> dict[str, Any]:
    return {"input": {}, "metadata": {SCHEDULED_AT_KEY: instant}, "retry_count": retry_count}


class Flaky:
    """Fails on the calls whose 1-based numbers are listed."""

    def __init__(self, fail_on: set[int]) -> None:
        self.fail_on = fail_on
        self.calls: list[dict[str, Any]] = []

    def __call__(self, context: dict[str, Any]) -> None:
        self.calls.append(context)
        if len(self.calls) in self.fail_on:
            raise RuntimeError(f"call {len(self.calls)} fails on purpose")


@pytest.fixture
def gate_app(tmp_path: Path):
    app = _app(tmp_path)
    yield app
    app.close()


async def test_a_superset_tick_that_is_not_an_instant_runs_nothing(gate_app: OwlClawApp) -> None:
    job = Flaky(set())
    gate_app.cron(
        "30 2 * * *",
        event_name="nightly",
        timezone="America/New_York",
        migration_weight=0.0,
        fallback=job,
    )(lambda: None)
    backend = HatchetBackend(gate_app)
    # 07:30Z is 02:30 EST: a tick of "30 6,7 * * *", but the job ran at 06:30Z (EDT) that day
    summary = await backend.handle("nightly", _tick("2026-06-01T07:30:00Z"))
    assert (summary["runs"], summary["executions"], job.calls) == (0, [], [])
    summary = await backend.handle("nightly", _tick("2026-06-01T06:30:00Z"))
    assert summary["runs"] == 1 and len(job.calls) == 1
    assert job.calls[0]["scheduled_at"] == "2026-06-01T06:30:00Z"


async def test_a_spring_forward_tick_runs_twice_and_a_redelivery_runs_nothing(
    gate_app: OwlClawApp,
) -> None:
    job = Flaky(set())
    gate_app.cron(
        "0,30 2 * * *",
        event_name="twice",
        timezone="America/New_York",
        migration_weight=0.0,
        fallback=job,
    )(lambda: None)
    backend = HatchetBackend(gate_app)
    first = await backend.handle("twice", _tick("2026-03-08T07:00:00Z"))
    assert first["runs"] == 2 and first["statuses"] == ["fallback", "fallback"]
    again = await backend.handle("twice", _tick("2026-03-08T07:00:00Z"))
    assert (again["runs"], again["already_done"]) == (0, 2)
    assert [c["run_index"] for c in job.calls] == [0, 1]


async def test_a_retry_only_reruns_what_failed(gate_app: OwlClawApp) -> None:
    job = Flaky({2})  # the second of the two runs fails
    gate_app.cron(
        "0,30 2 * * *",
        event_name="twice",
        timezone="America/New_York",
        migration_weight=0.0,
        fallback=job,
    )(lambda: None)
    backend = HatchetBackend(gate_app)
    with pytest.raises(PipelineRunFailed, match="1 of 2 run"):
        await backend.handle("twice", _tick("2026-03-08T07:00:00Z"))
    retry = await backend.handle("twice", _tick("2026-03-08T07:00:00Z", retry_count=1))
    assert (retry["runs"], retry["already_done"], retry["statuses"]) == (1, 1, ["fallback"])
    assert len(job.calls) == 3
    rows = gate_app.ledger.history("twice", limit=10)
    assert sorted((e.status.value, e.retry_count) for e in rows) == [
        ("failed", 0),
        ("fallback", 0),
        ("fallback", 1),
    ]


async def test_a_manual_run_keeps_its_id_and_context(gate_app: OwlClawApp) -> None:
    job = Flaky({1})
    gate_app.cron("0 3 * * *", event_name="nightly", migration_weight=0.0, fallback=job)(
        lambda: None
    )
    backend = HatchetBackend(gate_app)
    payload = {
        "input": {
            "manual": True,
            "execution_id": "abc123",
            "scheduled_at": "2026-05-01T10:00:00Z",
            "context": {"reason": "hotfix"},
        },
        "metadata": {},
        "retry_count": 0,
        "run_id": "run-1",
    }
    with pytest.raises(PipelineRunFailed):
        await backend.handle("nightly", payload)
    retried = await backend.handle("nightly", {**payload, "retry_count": 1})
    assert retried["manual"] and retried["statuses"] == ["fallback"]
    failed = gate_app.ledger.get_execution("abc123")
    assert failed.status.value == "failed" and failed.trigger_type == "manual"
    assert [c["reason"] for c in job.calls] == ["hotfix", "hotfix"]
    assert job.calls[0]["hatchet_run_id"] == "run-1"
    assert retried["executions"][0] != "abc123"  # a retry is a new ledger row


def test_names_of_generated_tasks_match_the_engine_rule() -> None:
    assert NAME_RE.pattern == r"^[a-zA-Z0-9.\-_]+$"
    assert not re.match(NAME_RE, "cron_a b")
