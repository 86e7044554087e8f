"""Skills: the ``SKILL.md`` files an agent run is offered, filtered by focus (FR-5).

A skill is a ``SKILL.md`` with YAML front matter (``name``, ``description``, ``focus``) and a
Markdown body. ``owlmigrate generate`` writes one per job under the app's ``skills/``
directory; any others there are offered too. With a focus, only the skills declaring it are
loaded; with none, all of them (OwlClaw ``FocusManager.load_skills_for_focus``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from owlclaw_runtime.errors import ConfigurationError

__all__ = ["Skill", "focus_list", "load_skills", "parse_skill"]


@dataclass(frozen=True)
class Skill:
    """One ``SKILL.md``: YAML front matter (``name``, ``description``, ``focus``) and a body."""

    name: str
    description: str
    focus: tuple[str, ...]
    body: str
    path: Path

    def matches(self, focus: str | Sequence[str] | None) -> bool:
        """Whether the skill belongs to that focus (case-insensitive); every skill matches no
        focus (OwlClaw ``FocusManager``)."""
        wanted = focus_list(focus)
        if not wanted:
            return True
        mine = {f.lower() for f in self.focus}
        return any(w.lower() in mine for w in wanted)


def focus_list(focus: str | Sequence[str] | None) -> list[str]:
    """A focus given as a string, a list or None, as a clean list (blank entries dropped)."""
    if focus is None:
        return []
    if isinstance(focus, str):
        return [focus.strip()] if focus.strip() else []
    return [str(f).strip() for f in focus if str(f).strip()]


def parse_skill(path: Path) -> Skill:
    """Read one ``SKILL.md``. The focus is read from ``focus``, then ``owlclaw.focus``, then
    ``metadata.focus``, then ``metadata.tags`` (where OwlClaw's runtime looks). Raises
    ``ConfigurationError`` with the path and line when the front matter is not valid YAML."""
    text = path.read_text(encoding="utf-8")
    meta: dict[str, Any] = {}
    body = text
    lines = text.splitlines(keepends=True)
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
        if end is None:
            raise ConfigurationError("front matter is not closed by '---'", path=path, line=1)
        try:
            loaded = yaml.safe_load("".join(lines[1:end])) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 2 if mark is not None else 1
            raise ConfigurationError(f"invalid front matter: {exc}", path=path, line=line) from exc
        if not isinstance(loaded, dict):
            raise ConfigurationError("front matter must be a mapping", path=path, line=2)
        meta = loaded
        body = "".join(lines[end + 1 :])
    focus_raw: Any = meta.get("focus")
    for section in ("owlclaw", "metadata"):
        sub = meta.get(section)
        if focus_raw is None and isinstance(sub, dict):
            focus_raw = sub.get("focus")
    metadata = meta.get("metadata")
    if focus_raw is None and isinstance(metadata, dict):
        focus_raw = metadata.get("tags")
    focus: tuple[str, ...]
    if isinstance(focus_raw, str):
        focus = (focus_raw,)
    elif isinstance(focus_raw, list):
        focus = tuple(str(f) for f in focus_raw)
    else:
        focus = ()
    return Skill(
        name=str(meta.get("name") or path.parent.name),
        description=str(meta.get("description") or "").strip(),
        focus=focus,
        body=body.strip(),
        path=path,
    )


def load_skills(skills_dir: Path | None, focus: str | Sequence[str] | None) -> list[Skill]:
    """Every ``SKILL.md`` under ``skills_dir`` (recursively, sorted by path) that belongs to the
    focus. A missing directory has no skills."""
    if skills_dir is None or not skills_dir.is_dir():
        return []
    skills = [parse_skill(p) for p in sorted(skills_dir.rglob("SKILL.md"))]
    return [s for s in skills if s.matches(focus)]
