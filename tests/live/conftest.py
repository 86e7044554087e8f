"""The live-host session: one run of every scenario on the real daemon, judged once, shared by
the tests. Skips (with the reason) when not root, without Debian's cron, or when another cron
daemon is running. Everything it sets up is undone before the tests read the results."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .host import daemon_turn, why_not_live
from .scenarios import SCENARIOS
from .world import Outcome, World

SUMMARY_ENV = "OWLMIGRATE_LIVE_SUMMARY"
KEEP_ENV = "OWLMIGRATE_LIVE_KEEP"
DEFAULT_SUMMARY = Path(tempfile.gettempdir()) / "owlmigrate-live-summary.json"

_SESSION: dict[str, Any] = {}


@dataclass
class LiveRun:
    """Every scenario's outcome, and what went wrong stopping or cleaning up."""

    outcomes: dict[str, Outcome]
    problems: list[str]

    def __repr__(self) -> str:  # pytest shows fixtures in tracebacks: keep it one line
        return f"LiveRun({len(self.outcomes)} scenarios, {len(self.problems)} problems)"

    def __getitem__(self, name: str) -> Outcome:
        return self.outcomes[name]


def summary_path() -> Path:
    return Path(os.environ.get(SUMMARY_ENV) or DEFAULT_SUMMARY)


@pytest.fixture(scope="session")
def live() -> Iterator[LiveRun]:
    """Run every scenario on one daemon and one minute timeline, then undo everything."""
    # One run of the real daemon at a time on this machine (another checkout's suite, a
    # benchmark): wait for its turn rather than skip.
    with daemon_turn() as turn:
        if not turn:
            pytest.skip("another live run has held the cron daemon lock for too long")
        reason = why_not_live()
        if reason:
            pytest.skip(reason)
        base = Path(tempfile.mkdtemp(prefix="owlmigrate-live-", dir="/var/tmp"))
        world = World(base)
        scenarios = [cls(world) for cls in SCENARIOS]
        outcomes: dict[str, Outcome] = {}
        problems: list[str] = []
        try:
            for scenario in scenarios:
                scenario.build()  # users, scripts, crontabs: all in place before the daemon starts
            world.daemon.start()
            world.run_timeline(scenarios)
            daemon_survived = world.daemon.alive()
            problems += world.stop_processes(scenarios)
            if not daemon_survived:
                problems.append(f"the cron daemon died during the run (see {world.daemon.log})")
            outcomes = {s.name: s.evaluate() for s in scenarios}
        finally:
            problems += world.teardown(scenarios)
            keep = os.environ.get(KEEP_ENV, "").lower() in ("1", "yes", "on", "true")
            if not keep:
                shutil.rmtree(base, ignore_errors=True)
        write_summary(world, outcomes, problems, kept=base if keep else None)
    yield LiveRun(outcomes, problems)


def write_summary(
    world: World, outcomes: dict[str, Outcome], problems: list[str], *, kept: Path | None
) -> None:
    data = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(world.started)),
        "window": [
            time.strftime("%H:%M", time.gmtime(world.m0 * 60)),
            time.strftime("%H:%M", time.gmtime(world.last * 60)),
        ],
        "wall_seconds": round(time.time() - world.started, 1),
        "problems": problems,
        "kept": str(kept) if kept else None,
        "scenarios": {name: o.summary() for name, o in outcomes.items()},
        "reports": {name: o.report for name, o in outcomes.items()},
    }
    path = summary_path()
    path.write_text(json.dumps(data, indent=2) + "\n")
    _SESSION.update(data=data, path=path)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    data = _SESSION.get("data")
    if not data:
        return
    tr = terminalreporter
    tr.section("owlmigrate live host: runs per job per minute")
    tr.write_line(
        f"window {data['window'][0]}-{data['window'][1]} UTC, {data['wall_seconds']}s wall; "
        f"summary in {_SESSION['path']}"
    )
    for name, s in data["scenarios"].items():
        failed = ", ".join(s["checks_failed"]) or "none"
        tr.write_line(
            f"{name:8} minutes {s['minutes_observed']:3}  runs {s['runs_counted']:3}  "
            f"doubles {s['doubles']:2}  misses {s['misses']:2}  failed checks: {failed}"
        )
    for problem in data["problems"]:
        tr.write_line(f"problem: {problem}")
