"""Disable and restore migrated crontab lines on raw bytes.

A migrated job's line is disabled by putting a marker comment in front of it:

    30 2 * * * root /usr/local/bin/backup\\n
    #owlmigrate:backup_db: 30 2 * * * root /usr/local/bin/backup\\n

Every daemon takes a line whose first non-blank character is ``#`` as a comment (cronie and
Debian ``skip_comments``; busybox's ``PARSE_EOL_COMMENTS`` cuts at any ``#``), so the marker
disables the job and nothing else. Restoring removes exactly the marker bytes, so the line comes
back byte for byte; every other byte of the file is never touched. A job spanning several
physical lines (busybox joins lines ending in ``\\``) gets the marker on each of them.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import re
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import quote

from owlmigrate.errors import FindingError

MARKER_LEAD = b"#owlmigrate:"


def marker(name: str) -> bytes:
    """The comment prefix naming trigger ``name`` (percent-quoted: no blanks or newlines)."""
    return MARKER_LEAD + quote(name, safe="").encode("ascii") + b": "


@dataclass(frozen=True)
class LineEdit:
    """Disable the job of trigger ``name`` whose original bytes are ``data[start:end]``."""

    name: str
    start: int
    end: int
    original: bytes


class CrontabEditError(FindingError):
    """The crontab does not hold what the plan or the journal says it should."""


def _line_starts(data: bytes, start: int, end: int) -> list[int]:
    starts = [start]
    index = data.find(b"\n", start, end)
    while index != -1 and index + 1 < end:
        starts.append(index + 1)
        index = data.find(b"\n", index + 1, end)
    return starts


def disable_lines(data: bytes, edits: list[LineEdit], *, path: str = "<crontab>") -> bytes:
    """Return ``data`` with each edit's line(s) commented out by its marker.

    Raises :class:`CrontabEditError` when a span does not hold its original bytes or does not
    start a line, or when two spans overlap.
    """
    ordered = sorted(edits, key=lambda e: e.start)
    for before, after in itertools.pairwise(ordered):
        if after.start < before.end:
            raise CrontabEditError(f"jobs {before.name!r} and {after.name!r} overlap", path=path)
    insertions: list[tuple[int, bytes]] = []
    for edit in ordered:
        line = data.count(b"\n", 0, edit.start) + 1
        if data[edit.start : edit.end] != edit.original:
            raise CrontabEditError(
                f"the line of {edit.name!r} is not what scan found (file changed?)",
                path=path,
                line=line,
            )
        if edit.start > 0 and data[edit.start - 1 : edit.start] != b"\n":
            raise CrontabEditError(f"the span of {edit.name!r} does not start a line", path=path)
        tag = marker(edit.name)
        insertions.extend((pos, tag) for pos in _line_starts(data, edit.start, edit.end))
    out = bytearray()
    cursor = 0
    for pos, tag in insertions:
        out += data[cursor:pos]
        out += tag
        cursor = pos
    out += data[cursor:]
    return bytes(out)


def _line_index(starts: list[int], offset: int) -> int:
    return bisect.bisect_right(starts, offset) - 1


def _starts(data: bytes) -> list[int]:
    """Offsets of the physical lines of ``data``."""
    return [0, *(m.end() for m in re.finditer(b"\n", data) if m.end() < len(data))]


def span_line_indices(data: bytes, start: int, end: int) -> list[int]:
    """Indices (from 0) of the physical lines of ``data`` that ``data[start:end]`` covers."""
    starts = _starts(data)
    return list(range(_line_index(starts, start), _line_index(starts, max(start, end - 1)) + 1))


def marked_line_indices(data: bytes, name: str) -> list[int]:
    """Indices (from 0) of the lines of ``data`` that carry ``name``'s marker."""
    tag = marker(name)
    return [k for k, line in enumerate(data.splitlines(keepends=True)) if line.startswith(tag)]


def add_markers(
    data: bytes,
    original: bytes,
    edits: list[LineEdit],
    *,
    path: str = "<crontab>",
    ours: Collection[str] = (),
) -> bytes:
    """Disable ``edits`` in ``data``, the file as it is now, keeping every marker already in it.

    ``original`` is ``data`` without any owlmigrate marker (markers are line prefixes, so both
    have the same lines); the edits' spans are offsets into it. Each line of an edit gets its
    marker in ``data``. A line that already carries a marker is refused (one line has one
    owner: another app directory may have cut it over), unless it is the edit's own marker and
    its name is in ``ours``, the triggers whose markers this app's journal says it wrote.
    """
    disable_lines(original, edits, path=path)  # checks spans, original bytes and overlaps
    lines = data.splitlines(keepends=True)
    o_starts = _starts(original)
    if len(lines) != len(o_starts) and original:
        raise CrontabEditError("the file and its marker-free text do not line up", path=path)
    for edit in edits:
        tag = marker(edit.name)
        covered = range(_line_index(o_starts, edit.start), _line_index(o_starts, edit.end - 1) + 1)
        for k in covered:
            if lines[k].startswith(tag) and edit.name in ours:
                continue  # written by this app before (then stamped back by hand): idempotent
            if lines[k].startswith(MARKER_LEAD):
                raise CrontabEditError(
                    f"the line of {edit.name!r} is already disabled by an owlmigrate marker "
                    "that this app did not write (another app directory cut it over?)",
                    path=path,
                    line=k + 1,
                )
            lines[k] = tag + lines[k]
    return b"".join(lines)


def disabled_spans(data: bytes, name: str) -> list[tuple[int, int]]:
    """Byte spans (newline included) of the lines that carry ``name``'s marker, in file order."""
    tag = marker(name)
    spans = []
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        end = len(data) if nl == -1 else nl + 1
        if data.startswith(tag, pos):
            spans.append((pos, end))
        pos = end
    return spans


def is_disabled(data: bytes, name: str) -> bool:
    """Whether any line of ``data`` carries the marker of ``name``."""
    return bool(disabled_spans(data, name))


def restore_lines(
    data: bytes,
    name: str,
    original: bytes | None = None,
    *,
    original_sha256: str | None = None,
    path: str = "<crontab>",
) -> bytes:
    """Remove ``name``'s markers; with ``original`` (or its SHA-256), check the freed lines
    equal it byte for byte.

    Idempotent: a file without the marker is returned unchanged.
    """
    tag = marker(name)
    spans = disabled_spans(data, name)
    if not spans:
        return data
    freed = b"".join(data[s + len(tag) : e] for s, e in spans)
    if (original is not None and freed != original) or (
        original_sha256 is not None and hashlib.sha256(freed).hexdigest() != original_sha256
    ):
        raise CrontabEditError(
            f"the disabled line of {name!r} was edited since cutover; refusing to restore it",
            path=path,
            line=data.count(b"\n", 0, spans[0][0]) + 1,
        )
    out = bytearray()
    cursor = 0
    for start, _end in spans:
        out += data[cursor:start]
        cursor = start + len(tag)
    out += data[cursor:]
    return bytes(out)


_ANY_MARKER = re.compile(rb"^#owlmigrate:[^:\s]*: ", re.MULTILINE)


def strip_all_markers(data: bytes) -> bytes:
    """``data`` without any owlmigrate cutover marker: the crontab as scan found it (markers are
    line prefixes, so line numbers are the same in both)."""
    return _ANY_MARKER.sub(b"", data)


def strip_markers(data: bytes, names: list[str]) -> bytes:
    """``data`` with the markers of all ``names`` removed: what the file was before any cutover."""
    for name in names:
        data = restore_lines(data, name)
    return data
