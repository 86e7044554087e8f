"""Write a rendering into an app directory: idempotent, hand edits detected, dry-run diffs.

``owlmigrate.json`` records the hash of every file generate wrote. A file whose bytes no longer
match that hash (and are not what generate would write now) was edited by hand: it is reported
and only overwritten with ``--force``, after a backup. Files are written one by one atomically
and the manifest last, so a run killed half way leaves the old manifest and is completed by
rerunning generate (the files already written then equal the new rendering).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from owlmigrate.atomic import atomic_write, backup_file, sha256_bytes
from owlmigrate.codegen.render import MANIFEST_NAME


@dataclass
class FilePlan:
    """What generate will do in an app directory."""

    create: list[str] = field(default_factory=list)
    update: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    hand_edited: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # generated before, no longer rendered

    @property
    def changes(self) -> list[str]:
        return sorted(self.create + self.update + self.hand_edited)


def read_manifest(directory: Path) -> dict[str, Any] | None:
    """The existing ``owlmigrate.json`` of ``directory``, or None."""
    path = directory / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def plan_files(directory: Path, files: dict[str, bytes]) -> FilePlan:
    """Compare the rendering with what is on disk and what the last manifest recorded."""
    old = read_manifest(directory) or {}
    recorded: dict[str, str] = dict(old.get("files", {}) or {})
    result = FilePlan()
    for name, data in sorted(files.items()):
        path = directory / name
        if not path.is_file():
            result.create.append(name)
            continue
        current = path.read_bytes()
        if current == data:
            result.unchanged.append(name)
        elif name == MANIFEST_NAME or sha256_bytes(current) == recorded.get(name):
            result.update.append(name)
        else:
            result.hand_edited.append(name)
    for name, digest in sorted(recorded.items()):
        path = directory / name
        if name not in files and path.is_file():
            if sha256_bytes(path.read_bytes()) == digest:
                result.stale.append(name)
            else:
                result.hand_edited.append(name)
    return result


def unified_diff(directory: Path, files: dict[str, bytes], names: list[str]) -> str:
    """A unified diff from the files on disk to the rendering, for ``--dry-run``."""
    chunks: list[str] = []
    for name in names:
        path = directory / name
        before = path.read_bytes().decode("utf-8", "replace") if path.is_file() else ""
        after = files[name].decode("utf-8", "replace") if name in files else ""
        chunks.extend(
            difflib.unified_diff(
                before.splitlines(keepends=True),
                after.splitlines(keepends=True),
                fromfile=f"a/{name}" if path.is_file() else "/dev/null",
                tofile=f"b/{name}" if name in files else "/dev/null",
            )
        )
    text = "".join(chunks)
    return text if not text or text.endswith("\n") else text + "\n"


def write_files(
    directory: Path, files: dict[str, bytes], plan: FilePlan, backups: Path
) -> list[str]:
    """Write created, updated and (forced) hand-edited files, the manifest last; remove stale
    ones. Hand-edited files are backed up first. Returns the backups made."""
    made: list[str] = []
    for name in plan.hand_edited:
        path = directory / name
        if path.is_file():
            made.append(str(backup_file(path, backups, label=name.replace("/", "__"))))
    for name in plan.changes:
        if name != MANIFEST_NAME and name in files:
            # The module holds the jobs' real (unredacted) lines: as private as a user crontab.
            mode = 0o600 if name.endswith(".py") else 0o644
            atomic_write(directory / name, files[name], mode=mode, point="generate")
    for name in plan.stale:
        (directory / name).unlink(missing_ok=True)
    if MANIFEST_NAME in plan.changes:
        atomic_write(directory / MANIFEST_NAME, files[MANIFEST_NAME], point="manifest")
    return made
