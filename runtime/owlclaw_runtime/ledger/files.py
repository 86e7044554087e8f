"""Private ledger files: a SQLite ledger holds every job's output tail (``output_tail``), its
errors and contexts, for every user whose crontab was migrated. cron mailed a job's output to its
owner only, so the ledger must be no more readable than that mail: the database and everything
SQLite and the leader locks put beside it (``-wal``, ``-shm``, ``-journal``, ``.*.lock``) are
0600 and their directory not readable by others, whatever the umask.

New files are created 0600 before SQLite opens them (SQLite gives its ``-wal``, ``-shm`` and
``-journal`` files the database file's permission bits); files left more open by an older
runtime are tightened each time the ledger is opened.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("owlclaw_runtime.ledger")

FILE_MODE = 0o600
DIR_MODE = 0o700
SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 when it does not exist (an empty file is an empty
    SQLite database), so no umask ever makes it readable by others."""
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)  # os.open's mode is filtered by the umask
        finally:
            os.close(fd)


def tighten_file(path: Path) -> None:
    """Take group and other permissions away from ``path`` when it exists and is ours."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o077:
        return
    try:
        os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o077)
    except PermissionError:
        log.warning("the ledger file %s is readable by others and not ours to tighten", path)


def tighten_dir(directory: Path) -> None:
    """Make the ledger's directory 0700 when it is ours and not a shared place: a sticky
    directory (``/tmp``) or the home directory are left alone (their files are 0600)."""
    try:
        st = directory.stat()
    except FileNotFoundError:
        return
    if (
        not st.st_mode & 0o077
        or st.st_uid != os.getuid()
        or st.st_mode & stat.S_ISVTX
        or directory == Path.home()
    ):
        return
    with contextlib.suppress(PermissionError):
        os.chmod(directory, DIR_MODE)


def secure_sqlite_ledger(db_path: Path) -> None:
    """Before a SQLite ledger is opened: the database exists 0600 (created so when new), its
    sidecar and lock files lose any group/other permission, its directory is 0700."""
    tighten_dir(db_path.parent)
    create_private(db_path)
    for suffix in SQLITE_SUFFIXES:
        tighten_file(db_path.with_name(db_path.name + suffix))
    for lock in db_path.parent.glob(f"{glob.escape(db_path.name)}.*.lock"):
        tighten_file(lock)
