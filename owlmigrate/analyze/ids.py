"""Job ids: derived from the command, unique within the plan, valid Python identifiers and
Hatchet names, and stable across rescans."""

from __future__ import annotations

import hashlib
import keyword
import posixpath
import re
from collections.abc import Sequence
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


def _identity(job: Job) -> tuple[str, str, str, str | None, str]:
    """What makes a job the same job across scans (its line may move)."""
    return (job.source, job.schedule, job.command, job.user, job.kind)


def assign_ids(drafts: Sequence[Draft], previous: Plan | None = None) -> None:
    """Ids from the command; the source (then a hash of source, schedule and command) breaks
    ties, so ids are unique and stay the same when unrelated lines change. With ``previous``
    (the plan of an earlier scan), a job that is still there keeps its earlier id even if a new
    job now shares its name."""
    taken: set[str] = set()
    final: dict[int, str] = {}
    if previous is not None:
        old: dict[tuple[str, str, str, str | None, str], list[str]] = {}
        for job in previous.jobs:
            old.setdefault(_identity(job), []).append(job.id)
        for d in sorted(drafts, key=lambda x: x.order):
            ids = old.get(_identity(d.job))
            if ids:
                final[id(d)] = ids.pop(0)
                taken.add(final[id(d)])
    by_base: dict[str, list[Draft]] = {}
    for d in drafts:
        if id(d) not in final:
            by_base.setdefault(slug(d.naming), []).append(d)
    kept = set(final)
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
        while unique in taken:
            unique = f"{candidate}_{n}"
            n += 1
        taken.add(unique)
        d.job.id = unique
