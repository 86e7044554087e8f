"""``open_store``: where the ledger lives by default, and clear errors for unusable URLs."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from owlclaw_runtime.errors import ConfigurationError
from owlclaw_runtime.ledger import (
    LedgerError,
    SqlLedgerStore,
    default_url,
    open_store,
)
from owlclaw_runtime.triggers.models import CronExecution, ExecutionStatus


@pytest.fixture(autouse=True)
def _no_env_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OWLCLAW_LEDGER_URL", raising=False)


def test_default_is_a_sqlite_file_in_the_app_dir(tmp_path: Path) -> None:
    store = open_store(app_dir=tmp_path)
    try:
        assert isinstance(store, SqlLedgerStore)
        assert store.db_path == (tmp_path / "owlclaw-ledger.db").resolve()
        store.record_execution(CronExecution("job", ExecutionStatus.SUCCESS, "a"))
    finally:
        store.close()
    assert (tmp_path / "owlclaw-ledger.db").is_file()


def test_default_without_app_dir_is_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert default_url() == f"sqlite:///{tmp_path.resolve() / 'owlclaw-ledger.db'}"
    open_store().close()
    assert (tmp_path / "owlclaw-ledger.db").is_file()


def test_the_environment_variable_wins_over_the_app_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "elsewhere.db"
    monkeypatch.setenv("OWLCLAW_LEDGER_URL", f"sqlite:///{target}")
    (tmp_path / "app").mkdir()
    open_store(app_dir=tmp_path / "app").close()
    assert target.is_file()
    assert not (tmp_path / "app" / "owlclaw-ledger.db").exists()


def test_an_explicit_url_wins_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OWLCLAW_LEDGER_URL", f"sqlite:///{tmp_path / 'env.db'}")
    open_store(f"sqlite:///{tmp_path / 'explicit.db'}").close()
    assert (tmp_path / "explicit.db").is_file()
    assert not (tmp_path / "env.db").exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "invalid ledger URL 'not a url'"),
        ("mysql://u:secret@h/db", "unsupported ledger URL mysql://u:***@h/db"),
        ("sqlite:////no/such/dir/ledger.db", "directory /no/such/dir does not exist"),
        ("sqlite:///{tmp}/l.db?synchronous=sometimes", "synchronous must be one of OFF, NORMAL"),
    ],
)
def test_unusable_urls_are_configuration_errors(tmp_path: Path, url: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        open_store(url.format(tmp=tmp_path))
    assert message in str(info.value)
    assert info.value.field == "OWLCLAW_LEDGER_URL"


def test_a_file_that_is_not_a_database_is_refused_by_name(tmp_path: Path) -> None:
    bogus = tmp_path / "ledger.db"
    bogus.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ConfigurationError, match=f"cannot open the ledger at sqlite:///{bogus}"):
        open_store(f"sqlite:///{bogus}")


@pytest.mark.parametrize(
    ("query", "level"),
    [
        pytest.param("", 1, id="default-normal"),
        pytest.param("?synchronous=full", 2, id="full"),
        pytest.param("?synchronous=off", 0, id="off"),
    ],
)
def test_synchronous_full_is_accepted(tmp_path: Path, query: str, level: int) -> None:
    """The ``synchronous`` URL option reaches SQLite (PRAGMA synchronous: 0 OFF, 1 NORMAL,
    2 FULL) instead of only being parsed and dropped."""
    store = open_store(f"sqlite:///{tmp_path / 'l.db'}{query}")
    try:
        store.record_execution(CronExecution("job", ExecutionStatus.SUCCESS, "f"))
        assert store.get_execution("f") is not None
        with store._engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == level
    finally:
        store.close()


def test_an_in_memory_ledger_works_across_threads() -> None:
    store = open_store("sqlite://")
    try:
        errors: list[BaseException] = []

        def write(n: int) -> None:
            try:
                for i in range(20):
                    store.record_execution(
                        CronExecution("job", ExecutionStatus.SUCCESS, f"{n}-{i}")
                    )
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        pool = [threading.Thread(target=write, args=(n,)) for n in range(4)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        assert errors == []
        assert store.stats("job").overall.executions == 80
        with store.leader_lock("x") as first, store.leader_lock("x") as second:
            assert (first, second) == (True, False)
        with pytest.raises(LedgerError, match="only a SQLite ledger file has lock files"):
            store.lock_path("x")  # type: ignore[attr-defined]
    finally:
        store.close()


def test_the_sqlite_lock_file_sits_beside_the_database(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'l.db'}")
    try:
        assert isinstance(store, SqlLedgerStore)
        assert store.lock_path("local scheduler/1") == tmp_path / "l.db.local_scheduler_1.lock"
        with store.leader_lock("local scheduler/1") as held:
            assert held and store.lock_path("local scheduler/1").exists()
    finally:
        store.close()
    assert "l.db" in repr(store)
