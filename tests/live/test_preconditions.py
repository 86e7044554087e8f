"""When the live suite refuses to run (another daemon, switched off), without starting cron."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from .host import running_cron_daemons, why_not_live


def test_switched_off_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OWLMIGRATE_LIVE_TESTS", "off")
    assert why_not_live() == "OWLMIGRATE_LIVE_TESTS is off"


def test_another_cron_daemon_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A process named ``cron`` that the suite did not start: the suite must not run beside it."""
    monkeypatch.delenv("OWLMIGRATE_LIVE_TESTS", raising=False)
    fake = tmp_path / "cron"
    shutil.copy("/bin/sleep", fake)
    proc = subprocess.Popen([str(fake), "30"])
    try:
        deadline = time.time() + 10
        while (proc.pid, "cron") not in running_cron_daemons() and time.time() < deadline:
            time.sleep(0.05)
        assert (proc.pid, "cron") in running_cron_daemons()
        reason = why_not_live()
        assert reason is not None
        tools = all(shutil.which(t) for t in ("cron", "crontab", "useradd", "userdel"))
        if os.geteuid() == 0 and tools:
            assert "another cron daemon is already running" in reason
            assert "pid " in reason
    finally:
        proc.kill()
        proc.wait()
    assert (proc.pid, "cron") not in running_cron_daemons()
