"""A SQLite ledger holds every job's output: its files are 0600 and its directory 0700 under a
permissive umask, and an older, world-readable ledger is tightened when opened."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from owlclaw_runtime.ledger import open_store
from owlclaw_runtime.triggers.models import CronExecution, ExecutionStatus

from owlmigrate.atomic import backup_file, private_dir


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _write_output(url: str) -> None:
    store = open_store(url, app_name="web1")
    try:
        store.record_execution(
            CronExecution(
                event_name="backup",
                status=ExecutionStatus.SUCCESS,
                triggered_at=datetime(2026, 3, 1, tzinfo=UTC),
                output_tail="alice's dump\n",
            )
        )
        with store.leader_lock("owlclaw-scheduler:default:web1") as held:
            assert held
            files = sorted(p.name for p in Path(url.removeprefix("sqlite:///")).parent.iterdir())
            assert (
                "ledger.db-wal" in files
                and "ledger.db.owlclaw-scheduler_default_web1.lock" in files
            )
            for name in files:
                assert mode(Path(url.removeprefix("sqlite:///")).parent / name) == 0o600, name
    finally:
        store.close()


def test_a_new_ledger_is_private_whatever_the_umask(tmp_path: Path, permissive_umask: None) -> None:
    directory = tmp_path / "app"
    directory.mkdir()
    assert mode(directory) == 0o755
    _write_output(f"sqlite:///{directory / 'ledger.db'}")
    assert mode(directory) == 0o700
    assert mode(directory / "ledger.db") == 0o600


def test_an_older_world_readable_ledger_is_tightened_on_open(
    tmp_path: Path, permissive_umask: None
) -> None:
    directory = tmp_path / "app"
    directory.mkdir()
    url = f"sqlite:///{directory / 'ledger.db'}"
    _write_output(url)
    for path in [directory, *directory.iterdir()]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)  # what a umask of 022 made before
    _write_output(url)  # asserts every file is 0600 again
    assert mode(directory) == 0o700


def test_a_shared_directory_is_left_alone(tmp_path: Path, permissive_umask: None) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # like /tmp
    store = open_store(f"sqlite:///{shared / 'ledger.db'}")
    store.close()
    assert mode(shared) == 0o1777
    assert mode(shared / "ledger.db") == 0o600


def test_backups_are_private_whatever_the_umask(tmp_path: Path, permissive_umask: None) -> None:
    app = tmp_path / "app"
    app.mkdir()
    crontab = tmp_path / "crontab"
    crontab.write_text("0 1 * * * pg_dump --password=hunter2\n")
    os.chmod(crontab, 0o644)
    backups = app / ".owlmigrate" / "backups"
    copy = backup_file(crontab, backups)
    assert (mode(app / ".owlmigrate"), mode(backups), mode(copy)) == (0o700, 0o700, 0o600)
    os.chmod(backups, 0o755)
    os.chmod(copy, 0o644)  # made by an older owlmigrate
    crontab.write_text("changed\n")
    second = backup_file(crontab, backups)
    assert (mode(backups), mode(copy), mode(second)) == (0o700, 0o600, 0o600)


def test_private_dir_tightens_an_existing_directory(tmp_path: Path, permissive_umask: None) -> None:
    existing = tmp_path / "d"
    existing.mkdir(mode=0o775)
    assert mode(private_dir(existing)) == 0o700
    assert mode(private_dir(tmp_path / "new" / "deeper")) == 0o700
    assert mode(tmp_path / "new") == 0o700
