"""Focus and skills: each trigger's agent sees only the skills of its focus.

Skills are ``SKILL.md`` files under ``examples/apps/skills`` whose front matter declares a
``focus``. The agent here is a deterministic, rule-following stand-in for an LLM agent (so the
example runs offline): it loads the skills for the run's focus with :class:`FocusManager`,
builds the prompt an LLM would get, and applies the rule of the skill it was given. Replace it
with ``OwlClawApp(..., agent="owlclaw_runtime.agent.openai:agent_from_env")`` to use a real
OpenAI-compatible model.

``migration_weight=1.0``: every run goes to the agent; the restock planner keeps its fallback
(the legacy rule) for when the agent fails, the log triage trigger is agent-only
(``fallback=None``).
"""

from __future__ import annotations

import csv
import json
import uuid
from pathlib import Path
from typing import Any

from owlclaw_runtime import AgentResult, FocusManager, OwlClawApp, build_agent_prompt

HERE = Path(__file__).resolve().parent
SKILLS = HERE / "skills"
STOCK_FILE = HERE / "fixtures" / "inventory.csv"


class SkillRulesAgent:
    """An :class:`AgentRuntime` that follows the rule of the skill its focus selects."""

    def __init__(self, skills_dir: Path) -> None:
        self.focus = FocusManager(skills_dir)
        self.prompts: list[str] = []

    async def trigger_event(
        self,
        event_name: str,
        *,
        focus: str | list[str] | None = None,
        payload: dict[str, Any] | None = None,
        tenant_id: str = "default",
    ) -> AgentResult:
        skills = self.focus.load_skills_for_focus(focus)
        self.prompts.append(build_agent_prompt(focus, skills, payload))
        names = sorted(s.name for s in skills)
        if "inventory-restock" in names:
            output: dict[str, Any] = {"orders": restock_orders()}
        elif "log-triage" in names:
            output = {"summary": "no log source configured for the example", "errors": 0}
        else:
            return AgentResult(
                run_id=uuid.uuid4().hex,
                status="failed",
                error=f"no skill for focus {focus!r}",
                details={"skills": names},
            )
        return AgentResult(
            run_id=uuid.uuid4().hex,
            status="completed",
            llm_calls=1,
            tokens_in=len(self.prompts[-1]) // 4,
            tokens_out=40,
            cost_usd=0.0,
            output=json.dumps(output),
            details={"skills": names},
        )


def restock_orders() -> list[dict[str, Any]]:
    """The inventory-restock skill's rule over the stock file."""
    with STOCK_FILE.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    orders = []
    for row in rows:
        on_hand, point = int(row["on_hand"]), int(row["reorder_point"])
        if on_hand <= point:
            orders.append(
                {"sku": row["sku"], "qty": int(row["reorder_qty"]) * (2 if on_hand == 0 else 1)}
            )
    return orders


agent = SkillRulesAgent(SKILLS)
app = OwlClawApp("focus-demo", agent=agent)


@app.cron(
    "0 6 * * 1-5",
    event_name="restock_planner",
    focus="inventory_monitor",
    migration_weight=1.0,
    fallback_strategy="on_failure",
)
def restock_planner(context: dict) -> dict:
    """Weekdays 06:00: plan restock orders (legacy rule as the fallback)."""
    return {"orders": restock_orders()}


@app.cron(
    "*/30 * * * *",
    event_name="log_triage",
    focus=["ops"],
    migration_weight=1.0,
    fallback=None,
)
def log_triage(context: dict) -> None:
    """Every 30 minutes: triage application errors (agent-only)."""
