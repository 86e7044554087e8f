"""Atomic file replacement with backups, content hashes and named crash points.

Every file owlmigrate replaces (crontabs, generated modules, ``owlmigrate.json``) goes through
:func:`atomic_write`: the new bytes are written to a temporary file in the same directory,
flushed and fsync'ed, given the old file's mode (Debian cron refuses a spool file that is not
0600, cronie a cron.d file that is group-writable, so the mode must survive), then renamed over
the old name. A reader (the cron daemon reloading its database once a minute) therefore sees
either the old bytes or the new bytes, never a half-written crontab.

Crash tests kill the process at named points: ``OWLMIGRATE_CRASH_AT=<point>`` makes
:func:`crash_point` call ``os._exit`` there, as a ``kill -9`` would.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

CRASH_ENV = "OWLMIGRATE_CRASH_AT"
CRASH_EXIT_CODE = 137


def crash_point(name: str) -> None:
    """Exit immediately (no cleanup, no flush) when ``OWLMIGRATE_CRASH_AT`` names this point."""
    wanted = os.environ.get(CRASH_ENV)
    if wanted and wanted == name:
        os._exit(CRASH_EXIT_CODE)


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return sha256_bytes(Path(path).read_bytes())


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(
    path: str | Path, data: bytes, *, mode: int | None = None, point: str = "atomic"
) -> None:
    """Replace ``path`` with ``data`` atomically (temporary file in the same directory + rename).

    The old file's permission bits (and owner, when we may set it) are kept; ``mode`` applies to a
    new file (default 0644). Crash point ``<point>.before_rename`` (default ``atomic``) lies
    between the complete temporary file and the rename, so crash tests can prove the target is
    never half written.
    """
    target = Path(path)
    if target.is_symlink():
        # Replace the file the link points to, not the link (a root-owned symlink in
        # /etc/cron.d must stay a symlink: Debian's cron checks what it is).
        target = target.resolve()
    directory = target.parent
    directory.mkdir(parents=True, exist_ok=True)
    old = None
    with contextlib.suppress(FileNotFoundError):
        old = target.stat()
    # The temporary name starts with a dot: Debian's cron ignores cron.d names with dots and
    # cronie skips names starting with one, so no daemon ever loads a half-made file.
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".owlmigrate-tmp", dir=directory
    )
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if old is not None:
            os.chmod(tmp, old.st_mode & 0o7777)
            if (old.st_uid, old.st_gid) != (os.getuid(), os.getgid()):
                # Only root may give a file away; a non-root run keeps its own ownership.
                with contextlib.suppress(PermissionError):
                    os.chown(tmp, old.st_uid, old.st_gid)
        else:
            os.chmod(tmp, 0o644 if mode is None else mode)
        crash_point(f"{point}.before_rename")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(directory)


PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def private_dir(directory: str | Path) -> Path:
    """Create ``directory`` (and missing parents) 0700 whatever the umask, and take group and
    other permissions away from it when it already exists: what it holds (backups of crontabs
    and generated modules) carries the jobs' real lines, secrets included."""
    target = Path(directory)
    missing = []
    probe = target
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    target.mkdir(parents=True, exist_ok=True)
    for made in missing:  # mkdir's mode is filtered by the umask
        os.chmod(made, PRIVATE_DIR_MODE)
    if not missing:
        mode = target.stat().st_mode & 0o7777
        if mode & 0o077:
            with contextlib.suppress(PermissionError):
                os.chmod(target, mode & ~0o077)
    return target


def backup_file(path: str | Path, backup_dir: str | Path, *, label: str | None = None) -> Path:
    """Copy ``path`` into ``backup_dir`` under a content-addressed name and return the copy.

    The name holds the file's hash, so backing up the same bytes twice (a rerun) writes nothing
    new and a backup is never overwritten with different content. Backups are private (0600 in
    a 0700 directory, whatever the umask; older, more open ones are tightened here): a crontab
    or a generated module holds the jobs' real lines.
    """
    source = Path(path)
    data = source.read_bytes()
    digest = sha256_bytes(data)
    stem = label or source.name
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem).lstrip(".") or "file"
    directory = private_dir(backup_dir)
    target = directory / f"{safe}.{digest[:16]}.bak"
    if not target.exists():
        atomic_write(target, data, mode=PRIVATE_FILE_MODE)
    for kept in directory.glob("*.bak"):
        with contextlib.suppress(OSError):
            if kept.stat().st_mode & 0o077:
                os.chmod(kept, PRIVATE_FILE_MODE)
    return target


def find_backup(backup_dir: str | Path, digest: str) -> Path | None:
    """The backup whose bytes hash to ``digest``, if one is kept in ``backup_dir``."""
    directory = Path(backup_dir)
    if not directory.is_dir():
        return None
    for candidate in sorted(directory.glob(f"*.{digest[:16]}.bak")):
        if sha256_file(candidate) == digest:
            return candidate
    return None
