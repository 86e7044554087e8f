"""Our cutover markers, told apart from comments that only look like them.

``owlmigrate cutover`` disables a job by prefixing its line with ``#owlmigrate:ID: `` (see
:mod:`owlmigrate.rewrite.crontab_edit`). Anyone can write a comment of that shape, so a marker is
taken as OURS only when the app vouches for it: ``ID`` is a trigger of the app, the marker sits in
that trigger's source file, and the app's journal holds a ``cutover`` row of ``ID`` whose
``to_state.line_sha256`` is the SHA-256 of the marked line(s) minus the marker prefix (the bytes
the cutover disabled). Everything else stays a plain comment: it never becomes a job or an
environment assignment (a forged ``#owlmigrate:x: PATH=/evil`` must not reach a job's
environment).

The functions here are pure (bytes and journal rows in, data out); scan and generate do the I/O.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from owlmigrate.rewrite.crontab_edit import MARKER_LEAD, marker, strip_markers

if TYPE_CHECKING:
    from owlclaw_runtime.ledger.base import JournalEntry

_SHAPE = re.compile(rb"#owlmigrate:([^:\s]*): ")


@dataclass(frozen=True, slots=True)
class FoundMarker:
    """One marked line (or run of physical lines carrying the same prefix) of a crontab."""

    name: str
    prefix: bytes
    number: int
    end_number: int
    start: int
    end: int
    freed: bytes

    @property
    def canonical(self) -> bool:
        """Whether the prefix is exactly what cutover writes for ``name``."""
        return self.prefix == marker(self.name)

    @property
    def freed_sha256(self) -> str:
        return hashlib.sha256(self.freed).hexdigest()


def _prefix(line: bytes) -> tuple[bytes, str]:
    match = _SHAPE.match(line)
    if match is None:
        # "#owlmigrate:" without the rest of the shape: still reported, never ours
        rest = line[len(MARKER_LEAD) :].split(None, 1)[0] if line[len(MARKER_LEAD) :] else b""
        return MARKER_LEAD, rest.decode("utf-8", "backslashreplace")
    raw = match.group(1).decode("utf-8", "backslashreplace")
    return match.group(0), unquote(raw)


def find_markers(data: bytes) -> list[FoundMarker]:
    """Every line of ``data`` that starts with ``#owlmigrate:``, in file order. Consecutive lines
    with the same prefix are one entry (cutover marks each physical line of a busybox line
    continued with ``\\``)."""
    if MARKER_LEAD not in data:
        return []
    found: list[FoundMarker] = []
    pos, number = 0, 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        end = len(data) if nl == -1 else nl + 1
        number += 1
        if data.startswith(MARKER_LEAD, pos):
            prefix, name = _prefix(data[pos:end])
            freed = data[pos + len(prefix) : end]
            last = found[-1] if found else None
            if last is not None and last.prefix == prefix and last.end == pos:
                found[-1] = FoundMarker(
                    name, prefix, last.number, number, last.start, end, last.freed + freed
                )
            else:
                found.append(FoundMarker(name, prefix, number, number, pos, end, freed))
        pos = end
    return found


@dataclass(frozen=True)
class AppRecord:
    """What an app knows about its triggers: the source each trigger's line lives in (as the
    manifest names it), the line hashes its journal's cutover rows recorded, every name the
    journal or the manifest holds (never to be given to another job), and the journal's states."""

    directory: str | None
    triggers: Mapping[str, str | None]
    cutover_hashes: Mapping[str, frozenset[str]]
    names: frozenset[str]
    cut_over: frozenset[str]
    identities: Mapping[str, tuple[str, str, str, str | None, str]] = field(default_factory=dict)
    lines: Mapping[str, int | None] = field(default_factory=dict)
    backups: Mapping[str, str | None] = field(default_factory=dict)


def _identity(raw: Mapping[str, Any]) -> tuple[str, str, str, str | None, str] | None:
    if not raw.get("source") or raw.get("schedule") is None or raw.get("command") is None:
        return None
    user = raw.get("user")
    return (
        str(raw["source"]),
        str(raw["schedule"]),
        str(raw["command"]),
        None if user is None else str(user),
        str(raw.get("kind") or "cron"),
    )


def app_record(
    manifest: Mapping[str, Any], entries: Iterable[JournalEntry], directory: str | None = None
) -> AppRecord:
    """Build the :class:`AppRecord` of an app from its manifest and its journal rows."""
    from owlmigrate.journal import replay  # the ledger package is heavy: only when asked

    rows = list(entries)
    triggers: dict[str, str | None] = {}
    identities: dict[str, tuple[str, str, str, str | None, str]] = {}
    lines: dict[str, int | None] = {}
    for name, entry in (manifest.get("jobs") or {}).items():
        if not isinstance(entry, Mapping):
            continue
        triggers[str(name)] = entry.get("source")
        lines[str(name)] = entry.get("line")
        ident = _identity(entry.get("plan_job") or {})
        if ident is not None:
            identities[str(name)] = ident
    names = set(triggers)
    for item in manifest.get("not_migrated") or []:
        if not isinstance(item, Mapping) or not item.get("job_id"):
            continue
        job_id = str(item["job_id"])
        names.add(job_id)
        ident = _identity({"source": item.get("source"), **(item.get("identity") or {})})
        if ident is not None:
            identities.setdefault(job_id, ident)
    hashes: dict[str, set[str]] = {}
    backups: dict[str, str | None] = {}
    for row in rows:
        names.add(row.job)
        # a pending cutover whose marker reached the file is completed by the next command
        if row.action == "cutover" and row.status in ("done", "pending"):
            digest = row.to_state.get("line_sha256")
            if digest:
                hashes.setdefault(row.job, set()).add(str(digest))
            backups[row.job] = row.to_state.get("backup")
    states = replay(rows)
    return AppRecord(
        directory=directory,
        triggers=triggers,
        cutover_hashes={k: frozenset(v) for k, v in hashes.items()},
        names=frozenset(names),
        cut_over=frozenset(n for n, s in states.items() if s.cut_over),
        identities=identities,
        lines=lines,
        backups=backups,
    )


def verdict(found: FoundMarker, source: str, app: AppRecord | None, *, groups: int = 1) -> str:
    """``cut_over`` (ours), ``unverified`` (no app to ask), ``no_trigger`` or ``not_ours``.

    ``groups`` is how many separate runs of lines in the file carry this marker: cutover writes
    one, and rollback frees all of them at once, so two are never ours."""
    if app is None:
        return "unverified"
    if found.name not in app.triggers:
        return "no_trigger"
    if (
        not found.canonical
        or groups != 1
        or app.triggers[found.name] != source
        or found.freed_sha256 not in app.cutover_hashes.get(found.name, frozenset())
    ):
        return "not_ours"
    return "cut_over"


def ours(data: bytes, source: str, app: AppRecord | None) -> list[FoundMarker]:
    """The markers of ``data`` (the file ``source``) that ``app`` vouches for."""
    found = find_markers(data)
    counts: dict[bytes, int] = {}
    for f in found:
        counts[f.prefix] = counts.get(f.prefix, 0) + 1
    return [f for f in found if verdict(f, source, app, groups=counts[f.prefix]) == "cut_over"]


def without(data: bytes, names: Iterable[str]) -> bytes:
    """``data`` with the markers of ``names`` removed: the file as it was before their cutover
    (markers are line prefixes, so line numbers are the same in both)."""
    return strip_markers(data, sorted(set(names)))


def _bre(text: str) -> str:
    return re.sub(r"([\\.*\[\]^$/])", r"\\\1", text)


def restore_command(
    found_prefix: bytes,
    *,
    trigger: str,
    source: str,
    kind: str | None,
    user: str | None,
    host_path: str,
    app_dir: str | None = None,
) -> str:
    """The command that gives a marked line back to cron.

    With an app that has the trigger: ``owlmigrate rollback ID --to-legacy --app DIR`` (which
    also pauses the trigger first). Otherwise a shell one-liner that removes exactly this prefix:
    through ``crontab -u USER`` for a user spool (the daemon is told), ``sed -i`` in place for a
    system file."""
    if app_dir is not None:
        return (
            f"owlmigrate rollback {shlex.quote(trigger)} --to-legacy --app {shlex.quote(app_dir)}"
        )
    script = "s/^" + _bre(found_prefix.decode("utf-8", "backslashreplace")) + "//"
    if kind == "user" and user:
        u = shlex.quote(user)
        return f"crontab -u {u} -l | sed {shlex.quote(script)} | crontab -u {u} -"
    return f"sed -i {shlex.quote(script)} {shlex.quote(host_path)}"


__all__ = [
    "AppRecord",
    "FoundMarker",
    "app_record",
    "find_markers",
    "ours",
    "restore_command",
    "verdict",
    "without",
]
