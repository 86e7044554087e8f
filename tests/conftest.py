"""Shared fixtures: hypothesis profiles, the shared/ corpus, the PostgreSQL URL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "dev", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "deep", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

REPO = Path(__file__).resolve().parent.parent

# Generated apps mail job output and log to syslog as cron does; the tests of other features run
# such jobs as root, so by default nothing reaches the host's mailboxes or syslog. The tests of
# the mail and syslog themselves set both explicitly (tests/runtime/test_cron_mail.py).
os.environ.setdefault("OWLCLAW_CRON_MAIL", "off")
os.environ.setdefault("OWLCLAW_SYSLOG_SOCKET", "/nonexistent/owlmigrate-tests/dev-log")
# Copied host trees have no worker: cutover's worker handshake is off unless a test turns it on
# (tests/workflow/test_handshake.py, tests/live, whose commands run without OWLMIGRATE_*).
os.environ.setdefault("OWLMIGRATE_WORKER_CHECK", "off")
EXAMPLES = REPO / "examples" / "legacy_crontabs"


def _shared_dir() -> Path | None:
    for candidate in (REPO.parent / "shared", REPO.parent.parent / "shared"):
        if (candidate / "corpus").is_dir():
            return candidate
    return None


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` (design, references, corpus); tests using it skip cleanly when absent."""
    found = _shared_dir()
    if found is None:
        pytest.skip("../shared is not present beside the repository")
    return found


@pytest.fixture(scope="session")
def corpus_files(shared_dir: Path) -> list[Path]:
    files = sorted(p for p in (shared_dir / "corpus" / "github").iterdir() if p.is_file())
    if not files:
        pytest.skip("the shared corpus is empty")
    return files


@pytest.fixture(scope="session")
def pg_url() -> str:
    """A real PostgreSQL started by `make services`; tests marked postgres skip without it."""
    url = os.environ.get("OWLMIGRATE_TEST_PG_URL")
    if not url:
        pytest.skip("OWLMIGRATE_TEST_PG_URL is not set (run `make test`, which starts PostgreSQL)")
    return url
