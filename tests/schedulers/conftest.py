"""Fixtures for the scheduler tests (helpers live in sched_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sched_helpers import Calls


@pytest.fixture
def ledger_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'owlclaw-ledger.db'}"


@pytest.fixture
def calls() -> Calls:
    return Calls()
