"""Focus: which skills an agent run sees, and the prompt that states it.

OwlClaw's ``FocusManager`` read ``skill.focus`` while its runtime read ``owlclaw.focus`` with a
``metadata.tags`` fallback (reference/owlclaw.md section 3.9, gap 16). Both places are honoured
here by one parser (:func:`owlclaw_runtime.agent.openai.parse_skill`), shared with the
OpenAI-compatible adapter so the two never disagree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from owlclaw_runtime.agent.openai import Skill, load_skills, parse_skill
from owlclaw_runtime.agent.skills import focus_list

__all__ = ["FocusManager", "Skill", "build_agent_prompt", "focus_list", "parse_skill"]


class FocusManager:
    """Loads the ``SKILL.md`` files of a skills directory and filters them by focus.

    A skill declares its focus in YAML front matter (``focus: x`` or ``focus: [x, y]``, also
    ``owlclaw.focus``, ``metadata.focus`` or ``metadata.tags``). With no focus, every skill is
    returned; with one (or several), the skills declaring any of them (case-insensitive)."""

    def __init__(self, skills_dir: str | Path | None) -> None:
        self.skills_dir = Path(skills_dir) if skills_dir is not None else None

    def all_skills(self) -> list[Skill]:
        """Every skill under the directory, sorted by path."""
        return load_skills(self.skills_dir, None)

    def load_skills_for_focus(self, focus: str | Sequence[str] | None) -> list[Skill]:
        """The skills belonging to ``focus`` (all of them when ``focus`` is None or empty)."""
        return load_skills(self.skills_dir, focus_list(focus) or None)


def build_agent_prompt(
    focus: str | Sequence[str] | None,
    skills: Sequence[Skill],
    context: Mapping[str, Any] | None = None,
) -> str:
    """The prompt for one run: the focus (OwlClaw's "Current focus: X / You should prioritize
    actions related to X"), the skills offered, and the trigger context as JSON."""
    parts: list[str] = []
    wanted = focus_list(focus)
    if wanted:
        joined = ", ".join(wanted)
        parts.append(f"Current focus: {joined}")
        parts.append(f"You should prioritize actions related to {joined}.")
    if skills:
        parts.append("Available skills:")
        for skill in skills:
            line = f"- {skill.name}"
            if skill.description:
                line += f": {skill.description}"
            parts.append(line)
    if context:
        parts.append("Context: " + json.dumps(dict(context), sort_keys=True, default=str))
    return "\n".join(parts)
