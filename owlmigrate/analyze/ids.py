"""Job ids: derived from the command, unique within the plan, valid Python identifiers and
Hatchet names, and stable across rescans."""

from __future__ import annotations

import hashlib
import keyword
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from owlmigrate.analyze.scripts import interpreter_kind
from owlmigrate.analyze.shell import BUILTINS, TEST_COMMANDS, ShellAnalysis
from owlmigrate.plan import Job, Plan


class Draft(Protocol):
    """A job waiting for its id: the job, the words to name it by, and its scan order."""

    job: Job
    naming: list[str]
    order: tuple[int, int]


# Commands that rarely name the job: delays, logging, inline interpreter code.
_NAMING_NOISE = frozenset({"sleep", "logger", "echo", "printf", "true", "date", "cat", "tee"})


def naming_words(sh: ShellAnalysis, command: str) -> list[str]:
    for cmd in sh.main:
        words = cmd.words
        base = cmd.base
        if base in TEST_COMMANDS or base in BUILTINS or base == "run-parts":
            continue
        if base in _NAMING_NOISE or any(w in ("-e", "-c") for w in words[1:2]):
            continue
        out = []
        if interpreter_kind(base) and len(words) > 1:
            rest = [w for w in words[1:] if not w.startswith("-")]
            if "-m" in words:
                i = words.index("-m")
                rest = words[i + 1 : i + 2] + [w for w in words[i + 2 :] if not w.startswith("-")]
            words = rest or words
            base = posixpath.basename(words[0]) if words else base
        out.append(posixpath.splitext(base)[0] or base)
        for w in words[1:3]:
            if re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{1,30}", w):
                out.append(w)
                break
        return out
    words = command.split()
    return [posixpath.basename(words[0])] if words else ["job"]


def slug(parts: Sequence[str]) -> str:
    text = "_".join(parts).lower()
    text = re.sub(r"[^a-z0-9]+", "_", text).strip("_")[:48].strip("_") or "job"
    if text[0].isdigit():
        text = "job_" + text
    if keyword.iskeyword(text):
        text += "_job"
    return text


Identity = tuple[str, str, str, str | None, str]


def identity(job: Job) -> Identity:
    """What makes a job the same job across scans: its line may move, its file may be
    re-installed (another header), but source, schedule, command, user and kind stay."""
    return (job.source, job.schedule, job.command, job.user, job.kind)


@dataclass
class KnownIds:
    """Ids already given: by identity (a job with that identity gets its id back) and ids that
    no other job may ever get (trigger names the journal holds, marker names in the files)."""

    entries: list[tuple[int, int, Identity, str]] = field(default_factory=list)
    reserved: set[str] = field(default_factory=set)

    def add(self, ident: Identity, job_id: str, *, priority: int, line: int | None) -> None:
        """``priority``: lower wins when two sources give one identity different ids (the app's
        triggers before the previous plan's jobs before its retired ones)."""
        self.entries.append((priority, line or 0, ident, job_id))
        self.reserved.add(job_id)

    @classmethod
    def from_plan(cls, previous: Plan | None) -> KnownIds:
        known = cls()
        if previous is None:
            return known
        for job in previous.jobs:
            known.add(identity(job), job.id, priority=1, line=job.line)
        for old in previous.retired:
            if old.schedule is None or old.command is None or old.source is None:
                known.reserved.add(old.id)
                continue
            ident = (old.source, old.schedule, old.command, old.user, old.kind or "cron")
            known.add(ident, old.id, priority=2, line=old.line)
        return known


def _claim(drafts: Sequence[Draft], known: KnownIds, taken: set[str]) -> dict[int, str]:
    """Give each draft the id its identity had, the best source first. An id belongs to the
    identity its best source gave it, so a lesser source cannot hand it to another job."""
    owner: dict[str, tuple[int, Identity]] = {}
    for priority, _line, ident, job_id in known.entries:
        if job_id not in owner or priority < owner[job_id][0]:
            owner[job_id] = (priority, ident)
    by_identity: dict[Identity, list[tuple[int, int, str]]] = {}
    for priority, line, ident, job_id in sorted(known.entries, key=lambda e: (e[0], e[1])):
        if owner[job_id][1] == ident:
            by_identity.setdefault(ident, []).append((priority, line, job_id))
    final: dict[int, str] = {}
    for d in sorted(drafts, key=lambda x: x.order):
        if id(d) in final or getattr(d, "fixed", None):
            continue
        for _p, _l, job_id in by_identity.get(identity(d.job), []):
            if job_id not in taken:
                final[id(d)] = job_id
                taken.add(job_id)
                break
    return final


def assign_ids(
    drafts: Sequence[Draft], previous: Plan | None = None, *, known: KnownIds | None = None
) -> None:
    """Ids from the command; the source (then a hash of source, schedule and command) breaks
    ties, so ids are unique and stay the same when unrelated lines change.

    Stability across rescans: a draft with a ``fixed`` id (a line our verified cutover marker
    names) keeps it; a job whose identity an earlier scan (``previous``: its jobs and retired
    jobs) or the app (``known``) gave an id gets that id back, wherever its line is now. Every
    other job gets a new id that no known or ``reserved`` id equals, so an id is never given to
    a different job."""
    if known is None:
        known = KnownIds.from_plan(previous)
    elif previous is not None:
        extra = KnownIds.from_plan(previous)
        known = KnownIds(known.entries + extra.entries, known.reserved | extra.reserved)
    taken: set[str] = set()
    final: dict[int, str] = {}
    for d in drafts:
        fixed = getattr(d, "fixed", None)
        if fixed:
            final[id(d)] = fixed
            taken.add(fixed)
    final.update(_claim(drafts, known, taken))
    kept = set(final)
    blocked = taken | known.reserved
    by_base: dict[str, list[Draft]] = {}
    for d in drafts:
        if id(d) not in final:
            by_base.setdefault(slug(d.naming), []).append(d)
    for base, group in by_base.items():
        if len(group) == 1:
            final[id(group[0])] = base
            continue
        by_src: dict[str, list[Draft]] = {}
        for d in group:
            src = d.job.source
            tail = re.sub(r"^(var/spool/cron/crontabs|var/spool/cron|etc/crontabs|etc)/", "", src)
            by_src.setdefault(slug([base, tail]), []).append(d)
        for name, sub in by_src.items():
            if len(sub) == 1:
                final[id(sub[0])] = name
                continue
            for d in sub:
                digest = hashlib.sha1(
                    f"{d.job.source}\0{d.job.schedule}\0{d.job.command}".encode()
                ).hexdigest()[:6]
                final[id(d)] = f"{name[:41]}_{digest}"
    for d in sorted(drafts, key=lambda x: x.order):
        if id(d) in kept:
            d.job.id = final[id(d)]
            continue
        candidate = final[id(d)]
        n = 2
        unique = candidate
        while unique in blocked:
            unique = f"{candidate}_{n}"
            n += 1
        blocked.add(unique)
        d.job.id = unique
