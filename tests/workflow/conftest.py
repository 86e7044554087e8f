"""Workflow fixtures: plans built from crontab bytes with the real parser, app directories."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from workflow_plans import plan_for


@pytest.fixture
def make_plan(tmp_path: Path) -> Callable[..., Path]:
    """Build a plan over a fresh host root in tmp_path and write it; returns the plan path."""

    def make(files: dict[str, bytes], **kwargs: object) -> Path:
        root = tmp_path / "host"
        plan = plan_for(root, files, **kwargs)  # type: ignore[arg-type]
        target = tmp_path / "plan.json"
        plan.dump(target)
        return target

    return make


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A journal/ledger URL: a SQLite file, or a fresh PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    base: str = request.getfixturevalue("pg_url")
    schema = f"wf_{uuid.uuid4().hex[:16]}"
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(autouse=True)
def _no_switch_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests do not wait for the cutover's mid-minute window (tested on its own)."""
    monkeypatch.setenv("OWLMIGRATE_SWITCH_WINDOW", "off")
