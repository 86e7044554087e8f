"""The live host: Debian's real cron daemon, real crontab(1), real users, the real worker.

One session (``conftest.live``) runs every scenario concurrently on one daemon and a shared
minute timeline (about seven minutes), then these tests judge each scenario: its runs (exactly
one per job per minute, 0 is a run lost, 2 a run twice) and its workflow checks. A failure
message holds the scenario's minute table (cells: runs and runners, c cron, w worker), its
failed checks and every command it ran with its output.
"""

from __future__ import annotations

import pytest

from .counting import minute_label
from .scenarios import SCENARIOS, Harness

pytestmark = [pytest.mark.live, pytest.mark.timeout(900)]

NAMES = [cls.name for cls in SCENARIOS if cls is not Harness]


@pytest.mark.parametrize("name", NAMES)
def test_every_job_runs_exactly_once_a_minute(live, name: str) -> None:
    outcome = live[name]
    bad = {
        t.job: {
            "doubles": [minute_label(m) for m in t.doubles],
            "misses": [minute_label(m) for m in t.misses],
        }
        for t in outcome.tallies
        if not t.exact
    }
    assert outcome.tallies and all(t.minutes for t in outcome.tallies)
    assert not bad, f"runs not exactly once a minute: {bad}\n{outcome.report}"


@pytest.mark.parametrize("name", NAMES)
def test_workflow_behaves_as_documented(live, name: str) -> None:
    outcome = live[name]
    failed = [c.name for c in outcome.failed_checks]
    assert outcome.checks, "the scenario checked nothing"
    assert not failed, f"failed checks: {failed}\n{outcome.report}"


def test_rollback_of_everything_restores_every_crontab(live) -> None:
    """Scenario 8 over all apps: after ``rollback --all --to-legacy`` of every app each user
    crontab reads as installed (``crontab -l``) and each /etc/cron.d file is byte-identical with
    its mode and owner."""
    restored = [
        (o.name, c)
        for o in live.outcomes.values()
        for c in o.checks
        if c.name.startswith("restored:")
    ]
    assert len(restored) >= len(NAMES)
    failed = [f"{name}: {c.name}\n{c.detail}" for name, c in restored if not c.ok]
    assert not failed, "\n".join(failed)


def test_worker_runs_jobs_as_their_crontab_owner(live) -> None:
    """Every run, by cron or by the worker, has the crontab owner's user, HOME and LOGNAME."""
    worker_runs = sum(o.worker_runs for o in live.outcomes.values())
    problems = [p for o in live.outcomes.values() for p in o.identity_problems]
    assert worker_runs > 0, "no cut-over job was run by a worker: nothing to check"
    assert not problems, "\n".join(problems)


def test_harness_counts_a_doubled_line_as_double_and_a_removed_line_as_miss(live) -> None:
    outcome = live["harness"]
    by_job = {t.job: t for t in outcome.tallies}
    double, removed = by_job["h_double"], by_job["h_removed"]
    assert double.doubles == double.minutes, outcome.report
    assert all(len(double.per_minute[m]) == 2 for m in double.minutes), outcome.report
    removed_from = outcome.extra["removed_from"]
    assert removed_from is not None and double.first < removed_from <= removed.last
    assert removed.misses == list(range(removed_from, removed.last + 1)), outcome.report
    assert not removed.doubles, outcome.report


def test_the_harness_stopped_and_cleaned_up_everything(live) -> None:
    assert not live.problems, "\n".join(live.problems)
