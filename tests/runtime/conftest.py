"""Runtime fixtures: a real ledger on SQLite and on PostgreSQL.

``ledger_store`` (and ``ledger_url``) are parametrized over both backends; the PostgreSQL case is
marked ``postgres`` and gets a fresh schema of its own (``search_path`` set through the URL), so
tests never see each other's rows. Use them in any runtime test that needs a ledger::

    def test_something(ledger_store: LedgerStore) -> None: ...
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from owlclaw_runtime.ledger import LedgerStore, open_store
from sqlalchemy.engine import make_url


def pg_schema_url(base_url: str, schema: str) -> str:
    """``base_url`` with every connection's ``search_path`` set to ``schema``."""
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture
def pg_schema(pg_url: str) -> Iterator[str]:
    """A URL on a fresh, empty PostgreSQL schema, dropped after the test."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield pg_schema_url(pg_url, schema)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty ledger: a SQLite file in tmp_path, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    url: str = request.getfixturevalue("pg_schema")
    return url


@pytest.fixture
def ledger_store(ledger_url: str) -> Iterator[LedgerStore]:
    """An open, empty ledger (SQLite file or PostgreSQL), closed after the test."""
    store = open_store(ledger_url)
    try:
        yield store
    finally:
        store.close()
