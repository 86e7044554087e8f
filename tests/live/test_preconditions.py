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


def test_a_daemon_starts_with_no_blocked_signals_whatever_thread_starts_it(tmp_path: Path) -> None:
    # A test thread may block every signal (threads made by C libraries do); cron's jobs inherit
    # the daemon's mask, and init starts the real daemon with none blocked.
    import signal
    import threading

    from .host import start_daemon

    log = tmp_path / "log"
    seen: list[str] = []

    def start() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, set(signal.Signals) - {signal.SIGKILL})
        # grep itself reads its status: no shell in between (dash clears the mask itself)
        start_daemon(["grep", "SigBlk", "/proc/self/status"], log).wait(timeout=30)
        seen.append(log.read_text().split()[1])

    thread = threading.Thread(target=start)
    thread.start()
    thread.join(timeout=60)
    assert seen == ["0000000000000000"]
