"""Reading and writing the crontab files a migration switches: one lock per file for every
rewrite, ``crontab(1)`` for live user spools, and the owner and mode each daemon requires.

Every owlmigrate command that rewrites a crontab holds :func:`locked` on that file from the
moment it reads the file to the moment the new bytes are in place. The lock is keyed by the
file's real path, not by app or ledger, so two app directories cutting over different jobs of
one crontab at the same time take turns: the second one reads the first one's markers and keeps
them, instead of writing its own edit over an old copy of the file.
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import os
import pwd
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from owlmigrate.atomic import atomic_write
from owlmigrate.crontab.header import split_header
from owlmigrate.errors import FindingError

CRONTAB_CMD_ENV = "OWLMIGRATE_CRONTAB_CMD"
LOCK_DIR_ENV = "OWLMIGRATE_LOCK_DIR"
LOCK_TIMEOUT_ENV = "OWLMIGRATE_LOCK_TIMEOUT"
# Long enough for another command to wait for its mid-minute switch window and write.
DEFAULT_LOCK_TIMEOUT = 150.0


@dataclass(frozen=True)
class CrontabText:
    """A crontab as read: ``crontab(1)``'s install header (or ``b""``) and the content after it.
    Hashes and byte spans of jobs are taken over ``content``."""

    path: Path
    header: bytes
    content: bytes

    @property
    def data(self) -> bytes:
        return self.header + self.content


def read_crontab(path: Path) -> CrontabText:
    """The file split into header and content; :class:`FindingError` when it is gone."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FindingError("the crontab file is gone", path=path) from None
    header, content = split_header(data)
    return CrontabText(path, header, content)


def lock_dir() -> Path:
    """Where the per-file locks live: ``$OWLMIGRATE_LOCK_DIR``, else ``/run/lock/owlmigrate``
    (shared by every app directory on the host), else a directory in the temporary dir."""
    configured = os.environ.get(LOCK_DIR_ENV)
    if configured:
        return Path(configured)
    run_lock = Path("/run/lock")
    if run_lock.is_dir() and os.access(run_lock, os.W_OK):
        return run_lock / "owlmigrate"
    return Path(tempfile.gettempdir()) / f"owlmigrate-locks-{os.getuid()}"


def lock_path(path: Path) -> Path:
    """The lock file of crontab ``path`` (by its real path, so links and relative names agree)."""
    real = os.path.realpath(path)
    digest = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return lock_dir() / f"{digest}.lock"


@contextlib.contextmanager
def locked(paths: Iterable[Path], *, timeout: float | None = None) -> Iterator[None]:
    """Hold the lock of every crontab in ``paths`` (taken in one fixed order, so two commands
    locking overlapping sets cannot deadlock). Raises :class:`FindingError` naming the file
    when another command keeps it locked for longer than ``timeout`` seconds."""
    if timeout is None:
        timeout = float(os.environ.get(LOCK_TIMEOUT_ENV) or DEFAULT_LOCK_TIMEOUT)
    ordered = sorted({os.path.realpath(p): Path(p) for p in paths}.items())
    with contextlib.ExitStack() as stack:
        for _real, path in ordered:
            target = lock_path(path)
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            lock = FileLock(str(target), timeout=timeout, mode=0o600)
            try:
                stack.enter_context(lock)
            except Timeout:
                raise FindingError(
                    f"another owlmigrate command has been rewriting this crontab for over "
                    f"{timeout:.0f}s (lock {target}); try again",
                    path=path,
                ) from None
        yield


# ---------------------------------------------------------------------------------------------
# Writing


def _spool_owner(path: Path, root: Path) -> tuple[int, int] | None:
    """``(uid, gid)`` a recreated spool file needs: its user, and the ``crontab`` group where
    the host has one (Debian's cron refuses a spool file that its user does not own)."""
    user = path.name
    try:
        uid = pwd.getpwnam(user).pw_uid if root == Path("/") else None
    except KeyError:
        uid = None
    if uid is None:
        return None
    try:
        gid = grp.getgrnam("crontab").gr_gid
    except KeyError:
        gid = pwd.getpwnam(user).pw_gid
    return uid, gid


def write_file(path: Path, data: bytes, *, spool: bool, root: Path | None) -> None:
    """Replace a crontab atomically, keeping its mode and owner. A spool file that has to be
    recreated gets 0600 and, on the live host, its user as owner (cron refuses anything else)."""
    existed = path.exists()
    atomic_write(path, data, mode=0o600 if spool else 0o644, point="crontab")
    if spool and not existed and root is not None:
        owner = _spool_owner(path, root)
        if owner is not None:
            with contextlib.suppress(PermissionError):
                os.chown(path, *owner)


def install_with_crontab(user: str, content: bytes, *, purpose: str) -> None:
    """Install ``content`` as ``user``'s crontab with ``crontab -u USER FILE``, so the daemon is
    told (Debian's cron rereads a spool only when crontab(1) touches the spool directory).

    crontab(1) writes its own header naming the file it was given; the file is called
    ``owlmigrate-<purpose>`` (e.g. ``owlmigrate-cutover``) so the header says what installed it
    rather than showing a random temporary name. Raises :class:`FindingError` when crontab(1)
    refuses (the user is in ``cron.deny``, the file is rejected): nothing was installed then.
    """
    with tempfile.TemporaryDirectory(prefix="owlmigrate-") as tmp:
        name = f"owlmigrate-{purpose}"
        Path(tmp, name).write_bytes(content)
        command = [os.environ.get(CRONTAB_CMD_ENV, "crontab"), "-u", user, name]
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp)
    if done.returncode != 0:
        raise FindingError(
            f"crontab(1) refused to install {user}'s crontab: "
            f"{done.stderr.strip() or f'exit {done.returncode}'}",
            path=f"crontab -u {user}",
        )
