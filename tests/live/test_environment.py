"""The same job, run by the real Debian cron daemon and by the worker's ``LegacyCommand`` (a
twin line of the same crontab cut over to ``owlmigrate run``), records the process it was given:
every environment variable, cwd, uid/gid/groups, umask, stdin bytes, open descriptors, session
and process group, controlling terminal, resource limits, signal dispositions, nice value (and
capabilities, loginuid, oom_score_adj). Apart from the differences docs/runtime.md lists with
their reasons ("The job's process against the real daemon"), the two must be equal, and the
observed differences must be exactly that list."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .side_by_side import PROBE_USER, SideBySide, differences, side_by_side

pytestmark = [pytest.mark.live, pytest.mark.timeout(900)]

DOC = Path(__file__).resolve().parents[2] / "docs" / "runtime.md"
SECTION = "## The job's process against the real daemon"


@pytest.fixture(scope="module")
def run() -> SideBySide:
    result = side_by_side()
    if result.skipped:
        pytest.skip(result.skipped)
    return result


def documented_differences() -> dict[str, str]:
    """fact -> reason, from the table of docs/runtime.md's section (first column in backticks)."""
    text = DOC.read_text()
    body = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in body.splitlines():
        m = re.match(r"\|\s*`([^`]+)`\s*\|(.*)\|\s*$", line)
        if m:
            cells = [c.strip() for c in m.group(2).split("|")]
            rows[m.group(1)] = cells[-1]
    return rows


def test_the_probe_ran_under_both(run: SideBySide) -> None:
    assert run.cron_facts and run.worker_facts, run.report()
    for facts in (run.cron_facts, run.worker_facts):
        assert facts["env:LOGNAME"] == PROBE_USER
        assert facts["env:OWLM_ASSIGNED"] == "set in the crontab"
        assert facts["cwd"] == run.homes[PROBE_USER] == facts["env:HOME"]
        assert facts["stdin"].startswith("b'first line\\n  second line")
        assert facts["uid"].split()[0] != "0"  # the crontab's user, not root


def test_the_process_matches_the_daemons_but_for_the_documented_differences(
    run: SideBySide,
) -> None:
    assert run.cron_facts and run.worker_facts, run.report()
    observed = differences(run.cron_facts, run.worker_facts)
    documented = documented_differences()
    shown = "\n".join(f"  {k}: cron {a!r}, ours {b!r}" for k, (a, b) in observed.items())
    assert set(observed) == set(documented), (
        f"observed differences:\n{shown}\ndocumented: {sorted(documented)}"
    )
    assert all(documented.values()), "every documented difference needs its reason"


def test_the_documented_list_is_read_from_the_docs() -> None:
    """The parser the comparison relies on finds the table (a renamed section fails here)."""
    rows = documented_differences()
    assert rows and all(re.fullmatch(r"[\w:. -]+", k) for k in rows), rows
